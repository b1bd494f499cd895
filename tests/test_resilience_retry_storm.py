"""A retry storm: every event and every interactive payload delivered three times, the
first two at once and the third a moment later, once without and once with Slack's
`X-Slack-Retry-Num` header. Each delivery must leave exactly one effect: one reply under
an alert, one approval and one session per approving reaction, one App Home publish, one
execution per Run again, one end, one cancel, one denial, one request per form
submission, one request (or one opened form) per alert-button click; and the duplicates
stay silent (no "you already did that" to the person).

`jitbot serve` as a real process over HTTP, the fake Slack, moto server and SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import yaml

from bot.core.audit import AuditTrail
from bot.db.engine import Database
from bot.demo.fake_slack import (
    ALERTS_CHANNEL,
    ALICE,
    BOB,
    CAROL,
    ERIN,
    OPS_CHANNEL,
    Call,
    FakeSlack,
)
from tests.e2e_surfaces import (
    audit_verifies,
    buttons,
    card_request_id,
    command,
    new_ts,
    request_card,
    runbooks_copy,
    serve,
    text_of,
    thread_posts,
    view_state,
    wait_thread,
)
from tests.slack_signing import (
    Reply,
    block_actions_payload,
    message_event,
    reaction_added_event,
    view_submission_payload,
)
from tests.support.slack import ServeProcess

QUICK_LOOK = "orders-quick-look"
Send = Callable[[dict[str, str]], Reply]
Storm = list[dict[str, str]]
STORMS = {
    "without-retry-header": [{}, {}, {}],
    "with-retry-header": [{}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
                          {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_timeout"}],
}


def quick_look(data: dict[str, Any]) -> None:
    """orders-lookup, renamed, with an optional reason: one click on its alert button is
    the request itself."""
    data.update(name=QUICK_LOOK, reason="optional")


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    folder = runbooks_copy(tmp_path_factory.mktemp("runbooks"))
    shipped = yaml.safe_load((folder / "orders-lookup.yaml").read_text())
    quick_look(shipped)
    (folder / f"{QUICK_LOOK}.yaml").write_text(yaml.safe_dump(shipped, sort_keys=False))
    yield from serve(fake_slack_server, tmp_path_factory, folder)


@pytest.fixture
def slack(bot: ServeProcess, fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


@pytest.fixture(scope="module")
def trail(bot: ServeProcess) -> Iterator[AuditTrail]:
    """The bot's audit trail, read straight from its database (no CLI process per look)."""
    database = Database(bot.env["JITBOT_DATABASE_URL"])
    yield AuditTrail(database)
    database.dispose()


def audit_events(trail: AuditTrail, request_id: str) -> list[str]:
    return [record.event for record in trail.records(request_id=request_id)]


@pytest.fixture(params=list(STORMS))
def storm(request: pytest.FixtureRequest) -> list[dict[str, str]]:
    return STORMS[request.param]


def three_times(send: Send, storm: Storm) -> None:
    """The same delivery three times: two at once, then the retry."""
    first, second, third = storm
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(send, [first, second]))
    replies.append(send(third))
    assert [r.status for r in replies] == [200, 200, 200], [r.body for r in replies]


def settle() -> None:
    time.sleep(0.5)  # long enough for a duplicate's effect to reach the fake Slack


def event_sender(bot: ServeProcess, event: dict[str, Any], event_id: str) -> Send:
    return lambda headers: bot.slack.event(event, event_id=event_id, headers=headers)


def payload_sender(bot: ServeProcess, payload: dict[str, Any]) -> Send:
    return lambda headers: bot.slack.interactive(payload, headers=headers)


def click(slack: FakeSlack, action_id: str, card_ts: str, request_id: str,
          user: str) -> dict[str, Any]:
    """One click on a card button: the payload Slack sends, built once."""
    return block_actions_payload(action_id, request_id, user_id=user, channel_id=OPS_CHANNEL,
                                 message_ts=card_ts, message=slack.message(OPS_CHANNEL, card_ts))


def results_in(slack: FakeSlack, ts: str) -> list[str]:
    return [text_of(c) for c in thread_posts(slack, OPS_CHANNEL, ts) if "*Results*" in text_of(c)]


def active_session(bot: ServeProcess, slack: FakeSlack, order: str) -> tuple[str, str]:
    """A request for `order`, approved once; (card ts, request id) once results are in."""
    card = request_card(bot, slack, f'orders-lookup order_id={order} reason="storm"', ALICE)
    ts, request_id = str(card.response["ts"]), card_request_id(card)
    event = reaction_added_event("white_check_mark", user=BOB, channel=OPS_CHANNEL, ts=ts)
    assert bot.slack.event(event).status == 200
    wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    return ts, request_id


# ---------------------------------------------------------------- events


def test_an_alert_is_answered_once(bot: ServeProcess, slack: FakeSlack,
                                   storm: Storm) -> None:
    ts = new_ts()
    alert = message_event("order 1002 is stuck in PACKING", user=ERIN, channel=ALERTS_CHANNEL,
                          ts=ts)
    three_times(event_sender(bot, alert, f"EvStormAlert{ts.replace('.', '')}"), storm)
    wait_thread(slack, ALERTS_CHANNEL, ts, "orders-lookup")
    settle()
    assert len(thread_posts(slack, ALERTS_CHANNEL, ts)) == 1


def test_an_approving_reaction_starts_one_session(bot: ServeProcess, slack: FakeSlack,
                                                  trail: AuditTrail, storm: Storm) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1003 reason="storm"', ALICE)
    ts, request_id = str(card.response["ts"]), card_request_id(card)
    event = reaction_added_event("white_check_mark", user=BOB, channel=OPS_CHANNEL, ts=ts)
    three_times(event_sender(bot, event, f"EvStormReact{request_id}"), storm)
    wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    settle()
    assert len(results_in(slack, ts)) == 1
    events = audit_events(trail, request_id)
    assert events.count("approval.granted") == 1
    assert events.count("credentials.issued") == 1
    assert events.count("query.executed") == 1
    assert "approval.refused" not in events
    assert slack.calls("chat.postEphemeral") == []


def test_a_denying_reaction_denies_once(bot: ServeProcess, slack: FakeSlack,
                                        trail: AuditTrail, storm: Storm) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1004 reason="storm"', ALICE)
    ts, request_id = str(card.response["ts"]), card_request_id(card)
    event = reaction_added_event("x", user=CAROL, channel=OPS_CHANNEL, ts=ts)
    three_times(event_sender(bot, event, f"EvStormDeny{request_id}"), storm)
    wait_thread(slack, OPS_CHANNEL, ts, "denied")
    settle()
    assert sum("denied" in text_of(c) for c in thread_posts(slack, OPS_CHANNEL, ts)) == 1
    events = audit_events(trail, request_id)
    assert events.count("approval.denied") == 1 and "approval.refused" not in events
    assert slack.calls("chat.postEphemeral") == []


def test_app_home_is_published_once(bot: ServeProcess, slack: FakeSlack,
                                     storm: Storm) -> None:
    opened = {"type": "app_home_opened", "user": CAROL, "channel": f"D{CAROL}", "tab": "home",
              "event_ts": f"{time.time():.6f}"}
    three_times(event_sender(bot, opened, f"EvStormHome{time.time_ns()}"), storm)
    slack.wait_for("views.publish")
    settle()
    assert len(slack.calls("views.publish")) == 1


# ---------------------------------------------------------------- interactive payloads


def test_an_approve_button_delivered_three_times_approves_once(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail, storm: Storm) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1005 reason="storm"', ALICE)
    ts, request_id = str(card.response["ts"]), card_request_id(card)
    three_times(payload_sender(bot, click(slack, "jit_approve", ts, request_id, CAROL)), storm)
    wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    settle()
    assert len(results_in(slack, ts)) == 1
    events = audit_events(trail, request_id)
    assert events.count("approval.granted") == 1 and events.count("credentials.issued") == 1
    assert slack.calls("chat.postEphemeral") == []


def test_run_again_delivered_three_times_runs_once(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail, storm: Storm) -> None:
    ts, request_id = active_session(bot, slack, "2001")
    three_times(payload_sender(bot, click(slack, "jit_run_again", ts, request_id, ALICE)),
                storm)
    wait_thread(slack, OPS_CHANNEL, ts, "(run 2)")
    settle()
    assert len(results_in(slack, ts)) == 2
    assert audit_events(trail, request_id).count("query.executed") == 2
    assert slack.calls("chat.postEphemeral") == []


def test_end_session_delivered_three_times_ends_once(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail, storm: Storm) -> None:
    ts, request_id = active_session(bot, slack, "2002")
    three_times(payload_sender(bot, click(slack, "jit_end_session", ts, request_id, ALICE)),
                storm)
    wait_thread(slack, OPS_CHANNEL, ts, "Session ended")
    settle()
    assert sum("Session ended" in text_of(c) for c in thread_posts(slack, OPS_CHANNEL, ts)) == 1
    events = audit_events(trail, request_id)
    assert events.count("session.ended") == 1 and "action.refused" not in events
    assert slack.calls("chat.postEphemeral") == []


def test_cancel_delivered_three_times_cancels_once(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail, storm: Storm) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=2003 reason="storm"', ALICE)
    ts, request_id = str(card.response["ts"]), card_request_id(card)
    three_times(payload_sender(bot, click(slack, "jit_cancel", ts, request_id, ALICE)), storm)
    wait_thread(slack, OPS_CHANNEL, ts, "cancelled")
    settle()
    events = audit_events(trail, request_id)
    assert events.count("request.cancelled") == 1 and "action.refused" not in events
    assert slack.calls("chat.postEphemeral") == []


def test_a_deny_button_delivered_three_times_denies_once(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail, storm: Storm) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=2004 reason="storm"', ALICE)
    ts, request_id = str(card.response["ts"]), card_request_id(card)
    three_times(payload_sender(bot, click(slack, "jit_deny", ts, request_id, BOB)), storm)
    wait_thread(slack, OPS_CHANNEL, ts, "denied")
    settle()
    events = audit_events(trail, request_id)
    assert events.count("approval.denied") == 1 and "approval.refused" not in events
    assert slack.calls("chat.postEphemeral") == []


def test_a_form_submitted_three_times_makes_one_request(
        bot: ServeProcess, slack: FakeSlack, storm: Storm) -> None:
    # an order of its own for each storm: the request of the storm before is still pending,
    # and the same request again would be refused as asked already
    order_id = str(2005 + list(STORMS.values()).index(storm))
    command(bot, slack, "orders-lookup", ALICE)  # parameters missing: the form opens
    view = slack.wait_for("views.open").response["view"]
    payload = view_submission_payload(
        view["callback_id"], view_state(view, {"jit_param_order_id": order_id,
                                               "jit_reason": "storm form"}),
        user_id=ALICE, private_metadata=view["private_metadata"], view_id=view["id"],
        blocks=view["blocks"])
    three_times(payload_sender(bot, payload), storm)
    slack.wait_for("chat.postMessage", lambda c: f"ORDER#{order_id}" in text_of(c))
    settle()
    cards = [c for c in slack.calls("chat.postMessage") if "JIT request" in text_of(c)]
    assert len(cards) == 1
    assert slack.calls("chat.postEphemeral") == []


def test_the_audit_chain_holds_after_the_storm(bot: ServeProcess) -> None:
    audit_verifies(bot)


def alert_button(slack: FakeSlack, reply: Call, runbook: str) -> dict[str, Any]:
    """A click on the button for `runbook` under an alert: the payload, built once."""
    channel, ts = str(reply.response["channel"]), str(reply.response["ts"])
    message = slack.message(channel, ts)
    [button] = [b for b in buttons(message) if runbook in json.dumps(b)]
    return block_actions_payload(button["action_id"], button["value"], user_id=ERIN,
                                 channel_id=channel, message_ts=ts, message=message,
                                 thread_ts=message.get("thread_ts"), block_id="jit_alert_0")


def test_alert_buttons_delivered_three_times_make_one_request_and_one_form(
        bot: ServeProcess, slack: FakeSlack, storm: Storm) -> None:
    ts = new_ts()
    alert = message_event("order 1001 is stuck", user=ERIN, channel=ALERTS_CHANNEL, ts=ts)
    assert bot.slack.event(alert).status == 200
    reply = wait_thread(slack, ALERTS_CHANNEL, ts, QUICK_LOOK)
    # a runbook whose reason is optional: the click is the request
    three_times(payload_sender(bot, alert_button(slack, reply, QUICK_LOOK)), storm)
    wait_thread(slack, ALERTS_CHANNEL, ts, "JIT request")
    # one whose reason is required: the click opens the form, once
    three_times(payload_sender(bot, alert_button(slack, reply, "orders-lookup")), storm)
    slack.wait_for("views.open")
    settle()
    cards = [c for c in thread_posts(slack, ALERTS_CHANNEL, ts) if "JIT request" in text_of(c)]
    assert len(cards) == 1 and QUICK_LOOK in text_of(cards[0])
    assert len(slack.calls("views.open")) == 1
    assert slack.calls("chat.postEphemeral") == []
