"""Retry-proof events: Slack may deliver an event twice, redeliver it with
`X-Slack-Retry-Num`, and every replica may receive it. Claims in the database make the
first delivery the only one that acts: one reply under an alert, one execution per
approval, one App Home publish.

Two `jitbot serve` processes share one database here, as two replicas would.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.demo.fake_slack import ALERTS_CHANNEL, BOB, CAROL, ERIN, FakeSlack
from tests.e2e_surfaces import (
    audit_events,
    card_in_thread,
    card_request_id,
    click_alert_button,
    new_ts,
    runbooks_copy,
    serve,
    submit_view,
    text_of,
    thread_posts,
    wait_thread,
)
from tests.slack_signing import message_event, reaction_added_event
from tests.support.slack import ServeProcess, free_port

RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    yield from serve(fake_slack_server, tmp_path_factory,
                     runbooks_copy(tmp_path_factory.mktemp("runbooks")))


@pytest.fixture(scope="module")
def replica(bot: ServeProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    """A second process on the same database, as a second replica would run."""
    env = dict(bot.env, JITBOT_PORT=str(free_port()))
    process = ServeProcess(env, tmp_path_factory.mktemp("replica") / "serve.log")
    process.start()
    yield process
    assert process.stop() == 0, process.logs()


@pytest.fixture
def slack(bot: ServeProcess, replica: ServeProcess, fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def _all_at_once(*sends: Callable[[], Any]) -> None:
    with ThreadPoolExecutor(len(sends)) as pool:
        replies = list(pool.map(lambda send: send(), sends))
    assert [r.status for r in replies] == [200] * len(sends)


def _settle() -> None:
    time.sleep(0.5)  # long enough for a duplicate's reply or execution to show up


def test_an_alert_delivered_twice_retried_and_seen_by_two_replicas_is_answered_once(
        bot: ServeProcess, replica: ServeProcess, slack: FakeSlack) -> None:
    ts = new_ts()
    alert = message_event("order 1001 is stuck in PACKING", user=ERIN, channel=ALERTS_CHANNEL,
                          ts=ts)
    event_id = f"EvALERT{ts.replace('.', '')}"
    _all_at_once(
        lambda: bot.slack.event(alert, event_id=event_id),
        lambda: bot.slack.event(alert, event_id=event_id),
        lambda: replica.slack.event(alert, event_id=event_id),
    )
    bot.slack.event(alert, event_id=event_id, headers=RETRY)
    replica.slack.event(alert, event_id=f"{event_id}NEW")  # same alert, another event id
    wait_thread(slack, ALERTS_CHANNEL, ts, "Runbooks for this alert")
    _settle()
    assert len(thread_posts(slack, ALERTS_CHANNEL, ts)) == 1

    # the request made from it is approved by a reaction Slack also delivers three times
    reply = thread_posts(slack, ALERTS_CHANNEL, ts)[0]
    click_alert_button(bot, slack, reply, ERIN)
    opened = slack.wait_for("views.open")
    submit_view(bot, opened.response["view"], {"jit_reason": "INC-5"}, ERIN)
    card = card_in_thread(slack, ALERTS_CHANNEL, ts)
    reaction = reaction_added_event("white_check_mark", user=CAROL, channel=ALERTS_CHANNEL,
                                    ts=str(card.response["ts"]))
    reaction_id = f"EvREACT{ts.replace('.', '')}"
    _all_at_once(
        lambda: bot.slack.event(reaction, event_id=reaction_id),
        lambda: bot.slack.event(reaction, event_id=reaction_id),
        lambda: replica.slack.event(reaction, event_id=reaction_id),
    )
    bot.slack.event(reaction, event_id=reaction_id, headers=RETRY)
    wait_thread(slack, ALERTS_CHANNEL, ts, "Results")
    _settle()
    posted = [text_of(c) for c in thread_posts(slack, ALERTS_CHANNEL, ts)]
    assert sum("Results" in p for p in posted) == 1
    assert sum("approved (1 of 1)" in p for p in posted) == 1
    events = audit_events(bot, card_request_id(card))
    assert events.count("approval.granted") == 1
    assert events.count("credentials.issued") == 1
    assert events.count("query.executed") == 1
    assert slack.calls("chat.postEphemeral") == []  # duplicates are silent, not refused


def test_app_home_opened_delivered_twice_publishes_once(
        bot: ServeProcess, replica: ServeProcess, slack: FakeSlack) -> None:
    opened = {"type": "app_home_opened", "user": BOB, "channel": f"D{BOB}", "tab": "home",
              "event_ts": f"{time.time():.6f}"}
    event_id = f"EvHOME{int(time.time() * 1e6)}"
    _all_at_once(lambda: bot.slack.event(opened, event_id=event_id),
                 lambda: replica.slack.event(opened, event_id=event_id))
    bot.slack.event(opened, event_id=event_id, headers=RETRY)
    slack.wait_for("views.publish")
    _settle()
    assert len(slack.calls("views.publish")) == 1
    # a later opening is a new event: it publishes again
    bot.slack.event(opened, event_id=f"{event_id}B")
    slack.wait_calls("views.publish", 2)
    assert json.dumps(slack.calls("views.publish")[1].args["view"]).count("jitbot") >= 1
