"""Slack answering 429 or 5xx for a while: results are delivered once Slack recovers, and
never twice.

`jitbot serve` runs as a real process; its Slack Web API traffic goes through a fault
proxy (tests/faults.py) to the fake Slack, so a test can make Slack refuse exactly the
results post (or every post) for a while, the way Slack does: 429 with Retry-After when
rate limited, 503 when it is unwell. A refused post never reached Slack, so a retry
cannot duplicate it. Slack can also post and then fail to say so (a 5xx or a dropped
connection after the effect, made by the fake Slack's `fail_next(after_effect=True)`): the
bot must then find the results in the thread and not post them again. AWS is moto server,
the database SQLite.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.core.audit import AuditTrail
from bot.db.engine import Database
from bot.demo.fake_slack import ALICE, CAROL, DAVE, OPS_CHANNEL, Call, FakeSlack
from tests.e2e_surfaces import (
    approve_card,
    audit_verifies,
    card_request_id,
    request_card,
    runbooks_copy,
    text_of,
    thread_posts,
    wait_thread,
)
from tests.faults import FaultProxy, Seen
from tests.support.slack import ServeProcess, serve_env

RATE_LIMITED = {"ok": False, "error": "ratelimited"}
UNWELL = {"ok": False, "error": "service_unavailable"}


def results_post(seen: Seen) -> bool:
    return seen.path.endswith("/chat.postMessage") and b"*Results*" in seen.body


def any_post(seen: Seen) -> bool:
    return seen.path.endswith("/chat.postMessage")


def results_args(args: dict[str, Any]) -> bool:
    """A chat.postMessage of results, as the fake Slack sees its arguments."""
    return "*Results*" in text_of(args)


@pytest.fixture(scope="module")
def proxy(fake_slack_server: FakeSlack) -> Iterator[FaultProxy]:
    proxy = FaultProxy(fake_slack_server.root)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, proxy: FaultProxy, moto_server: object, orders_table: str,
        jit_role: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    home = tmp_path_factory.mktemp("serve")
    env = serve_env(fake_slack_server, home, SLACK_API_URL=f"{proxy.url}/api/",
                    JITBOT_RUNBOOKS_DIR=str(runbooks_copy(tmp_path_factory.mktemp("rb"))))
    process = ServeProcess(env, home / "serve.log")
    process.start()
    yield process
    assert process.stop() == 0, process.logs()
    assert "Traceback" not in process.logs(), process.logs()


@pytest.fixture(scope="module")
def trail(bot: ServeProcess) -> Iterator[AuditTrail]:
    database = Database(bot.env["JITBOT_DATABASE_URL"])
    yield AuditTrail(database)
    database.dispose()


@pytest.fixture
def slack(bot: ServeProcess, proxy: FaultProxy, fake_slack: FakeSlack) -> Iterator[FakeSlack]:
    proxy.clear()
    yield fake_slack
    proxy.clear()


def approve(bot: Any, slack: FakeSlack, card: Call) -> str:
    return approve_card(bot, slack, card, CAROL)


def delivered(slack: FakeSlack, ts: str) -> list[str]:
    """The results messages Slack holds in the card's thread."""
    return [text_of(c) for c in thread_posts(slack, OPS_CHANNEL, ts) if "*Results*" in text_of(c)]


def held(slack: FakeSlack, ts: str) -> list[dict[str, Any]]:
    """The results messages the thread holds, however Slack answered the posts."""
    return [m for m in slack.replies(OPS_CHANNEL, ts) if "*Results*" in text_of(m)]


def events(trail: AuditTrail, request_id: str) -> list[str]:
    return [record.event for record in trail.records(request_id=request_id)]


def wait_event(trail: AuditTrail, request_id: str, event: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while event not in events(trail, request_id):
        assert time.monotonic() < deadline, (event, events(trail, request_id))
        time.sleep(0.1)


def assert_delivered_once(trail: AuditTrail, request_id: str) -> None:
    recorded = events(trail, request_id)
    assert recorded.count("results.posted") == 1 and "results.failed" not in recorded, recorded


def results_metadata(request_id: str, run: int) -> dict[str, Any]:
    return {"event_type": "jit_results", "event_payload": {"request": request_id, "run": run}}


def test_rate_limited_results_arrive_once_after_the_limit(
        bot: ServeProcess, slack: FakeSlack, proxy: FaultProxy, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1001 reason="429 drill"', ALICE)
    proxy.answer(results_post, 429, RATE_LIMITED, headers={"Retry-After": "1"}, times=3)
    ts = approve(bot, slack, card)
    wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    wait_event(trail, card_request_id(card), "results.posted")
    time.sleep(0.5)
    assert len(delivered(slack, ts)) == 1
    assert proxy.count(results_post) == 4  # three refused, then the one Slack took
    recorded = events(trail, card_request_id(card))
    assert recorded.count("results.posted") == 1 and "results.failed" not in recorded


def test_results_arrive_once_after_a_spell_of_server_errors(
        bot: ServeProcess, slack: FakeSlack, proxy: FaultProxy, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1002 reason="503 drill"', ALICE)
    proxy.answer(results_post, 503, UNWELL, times=2)
    ts = approve(bot, slack, card)
    wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    wait_event(trail, card_request_id(card), "results.posted")
    time.sleep(0.5)
    assert len(delivered(slack, ts)) == 1
    assert proxy.count(results_post) == 3
    assert "ORDER#1002" in delivered(slack, ts)[0]


def test_an_outage_longer_than_the_retries_is_recorded_and_run_again_delivers_once(
        bot: ServeProcess, slack: FakeSlack, proxy: FaultProxy, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1003 reason="outage drill"', ALICE)
    request_id = card_request_id(card)
    outage = proxy.answer(any_post, 503, UNWELL)  # every post refused until Slack recovers
    ts = approve(bot, slack, card)
    wait_event(trail, request_id, "results.failed")
    assert delivered(slack, ts) == []
    assert events(trail, request_id).count("query.executed") == 1

    outage.stop()
    # Slack is back: the card still offers Run again, and the requester uses it
    slack.wait_for("chat.update", lambda c: c.args.get("ts") == ts and "Run again" in text_of(c))
    reply = bot.slack.action("jit_run_again", request_id, user_id=ALICE, channel_id=OPS_CHANNEL,
                             message_ts=ts, message=slack.message(OPS_CHANNEL, ts))
    assert reply.status == 200
    wait_thread(slack, OPS_CHANNEL, ts, "(run 2)")
    time.sleep(0.5)
    [results] = delivered(slack, ts)
    assert "(run 2)" in results and "ORDER#1003" in results
    recorded = events(trail, request_id)
    assert recorded.count("results.failed") == 1 and recorded.count("results.posted") == 1
    audit_verifies(bot)


def test_a_rate_limited_card_update_still_shows_the_session(
        bot: ServeProcess, slack: FakeSlack, proxy: FaultProxy) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1004 reason="update drill"', ALICE)
    proxy.answer(lambda seen: seen.path.endswith("/chat.update"), 429, RATE_LIMITED,
                 headers={"Retry-After": "1"}, times=2)
    ts = approve(bot, slack, card)
    wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    shown = slack.wait_for("chat.update", lambda c: (c.args.get("ts") == ts
                                                     and "Session active" in text_of(c)))
    assert "jit_run_again" in text_of(shown)
    assert slack.message(OPS_CHANNEL, ts)["blocks"] == shown.args["blocks"]


def test_results_slack_posted_before_answering_500_are_not_posted_again(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1005 reason="500 after post"', ALICE)
    request_id = card_request_id(card)
    slack.fail_next("chat.postMessage", status=500, after_effect=True, where=results_args)
    ts = approve(bot, slack, card)
    wait_event(trail, request_id, "results.posted")
    time.sleep(0.5)
    [results] = held(slack, ts)
    assert "ORDER#1005" in text_of(results)
    assert results["metadata"] == results_metadata(request_id, 1)
    assert len([c for c in slack.calls("chat.postMessage") if results_args(c.args)]) == 1
    assert_delivered_once(trail, request_id)


def test_a_results_file_slack_shared_before_answering_500_is_not_shared_again(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'stuck-orders-scan status=PENDING reason="file drill"',
                        ALICE)
    request_id = card_request_id(card)
    slack.fail_next("files.completeUploadExternal", status=500, after_effect=True)
    ts = approve(bot, slack, card)
    wait_thread(slack, OPS_CHANNEL, ts, "approved (1 of 2)")
    approve_card(bot, slack, card, DAVE)
    wait_event(trail, request_id, "results.posted", timeout=30)
    time.sleep(0.5)
    [shared] = [m for m in slack.replies(OPS_CHANNEL, ts) if m.get("files")]
    assert [f["title"] for f in shared["files"]] == [f"stuck-orders-scan {request_id} run 1"]
    assert len(slack.calls("files.completeUploadExternal")) == 1
    assert_delivered_once(trail, request_id)


def test_a_results_post_refused_with_500_is_made_again_once_the_thread_shows_it_missing(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=2000 reason="plain 500"', ALICE)
    request_id = card_request_id(card)
    slack.fail_next("chat.postMessage", status=500, where=results_args)
    ts = approve(bot, slack, card)
    wait_event(trail, request_id, "results.posted")
    time.sleep(0.5)
    [results] = held(slack, ts)
    assert "ORDER#2000" in text_of(results)
    assert results["metadata"] == results_metadata(request_id, 1)
    steps = [c for c in slack.calls() if c.method == "conversations.replies"
             or (c.method == "chat.postMessage" and results_args(c.args))]
    assert [(c.method, c.status) for c in steps] == [
        ("chat.postMessage", 500), ("conversations.replies", 200), ("chat.postMessage", 200)]
    assert steps[1].args["ts"] == ts and steps[1].args["include_all_metadata"] in ("1", "true")
    assert_delivered_once(trail, request_id)


def test_results_posted_before_slack_dropped_the_connection_are_not_posted_again(
        bot: ServeProcess, slack: FakeSlack, trail: AuditTrail) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=2001 reason="dropped"', ALICE)
    request_id = card_request_id(card)
    slack.fail_next("chat.postMessage", status=0, after_effect=True, where=results_args)
    ts = approve(bot, slack, card)
    wait_event(trail, request_id, "results.posted")
    time.sleep(0.5)
    [results] = held(slack, ts)
    assert "ORDER#2001" in text_of(results)
    assert_delivered_once(trail, request_id)
