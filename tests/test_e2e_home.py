"""App Home end to end: `app_home_opened` publishes the viewer's approvals to give, active
sessions and history (checked at the fake Slack's views.publish); Approve from Home
decides and re-publishes; a refusal from Home shows there and in the request's thread."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.fake_slack import ALICE, BOB, CAROL, DAVE, OPS_CHANNEL, Call, FakeSlack
from tests.e2e_surfaces import (
    card_request_id,
    click_card,
    home_click,
    request_card,
    runbooks_copy,
    serve,
    text_of,
    wait_thread,
)
from tests.support.slack import ServeProcess


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    yield from serve(fake_slack_server, tmp_path_factory,
                     runbooks_copy(tmp_path_factory.mktemp("runbooks")))


@pytest.fixture
def slack(bot: ServeProcess, fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def home_opened(user: str, tab: str = "home") -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": f"D{user}", "tab": tab,
            "event_ts": f"{time.time():.6f}"}


def _published(slack: FakeSlack, user: str, count: int = 1) -> Call:
    calls = slack.wait_calls("views.publish", count, lambda c: c.args.get("user_id") == user)
    assert calls[-1].ok
    return calls[-1]


def _sections(view: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The Home's blocks under each bold heading."""
    parts: dict[str, list[dict[str, Any]]] = {}
    current = "top"
    for block in view["blocks"]:
        text = (block.get("text") or {}).get("text", "")
        if block["type"] == "section" and text.startswith("*") and text.endswith("*"):
            current = text.strip("*")
            continue
        parts.setdefault(current, []).append(block)
    return parts


def _ids_in(blocks: list[dict[str, Any]], request_id: str) -> bool:
    return request_id in json.dumps(blocks)


def test_home_shows_approvals_sessions_and_history_and_approves_from_there(
        bot: ServeProcess, slack: FakeSlack) -> None:
    pending = request_card(bot, slack, 'orders-lookup order_id=1001 reason="home pending"',
                           ALICE)
    active = request_card(bot, slack, 'customer-orders customer_id=42 month=2026-11 '
                                      'reason="home active"', BOB)
    click_card(bot, slack, "jit_approve", active, CAROL)
    wait_thread(slack, OPS_CHANNEL, str(active.response["ts"]), "Results")
    done = request_card(bot, slack, 'orders-lookup order_id=1002 reason="home history"', BOB)
    click_card(bot, slack, "jit_cancel", done, BOB)
    wait_thread(slack, OPS_CHANNEL, str(done.response["ts"]), "cancelled")
    pending_id, active_id, done_id = map(card_request_id, (pending, active, done))

    assert bot.slack.event(home_opened(BOB)).status == 200
    published = _published(slack, BOB)
    view = published.args["view"]
    assert view["type"] == "home"
    parts = _sections(view)
    approvals = parts["Waiting for your approval"]
    assert _ids_in(approvals, pending_id) and f"<@{ALICE}>" in json.dumps(approvals)
    assert "home pending" in json.dumps(approvals)
    buttons = {(e["action_id"], e["value"]) for b in approvals if b["type"] == "actions"
               for e in b["elements"]}
    assert {("jit_approve", pending_id), ("jit_deny", pending_id)} <= buttons
    sessions = parts["Your active sessions"]
    assert _ids_in(sessions, active_id) and " left" in json.dumps(sessions)
    history = parts["Your recent requests"]
    assert _ids_in(history, done_id) and "Cancelled" in json.dumps(history)
    assert not _ids_in(approvals, active_id) and not _ids_in(history, pending_id)

    # Approve from Home: the request's thread gets the decision and results, Home refreshes
    assert bot.slack.interactive(home_click("jit_approve", pending_id, user=BOB)).status == 200
    pending_ts = str(pending.response["ts"])
    wait_thread(slack, OPS_CHANNEL, pending_ts, "approved")
    results = wait_thread(slack, OPS_CHANNEL, pending_ts, "Results")
    assert "orders-lookup" in text_of(results) and "(run 1)" in text_of(results)
    again = _published(slack, BOB, count=2).args["view"]
    assert not _ids_in(_sections(again)["Waiting for your approval"], pending_id)
    assert slack.calls("chat.postEphemeral") == []


def test_a_refusal_from_home_shows_on_home_and_in_the_thread(
        bot: ServeProcess, slack: FakeSlack) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1003 reason="refusal"', ALICE)
    request_id = card_request_id(card)
    # DAVE is not in @oncall-leads: a stale or forged Home button must not count
    assert bot.slack.interactive(home_click("jit_approve", request_id, user=DAVE)).status == 200
    told = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == DAVE)
    assert told.args["channel"] == OPS_CHANNEL
    assert told.args["thread_ts"] == card.response["ts"]
    assert "@oncall-leads" in text_of(told)
    home = _published(slack, DAVE).args["view"]
    assert ":warning:" in json.dumps(home["blocks"][1]) and "@oncall-leads" in json.dumps(home)
    assert slack.calls("chat.update") == []  # nothing about the request changed


def test_other_tabs_publish_nothing(bot: ServeProcess, slack: FakeSlack) -> None:
    assert bot.slack.event(home_opened(CAROL, tab="messages")).status == 200
    assert bot.slack.event(home_opened(ALICE)).status == 200
    _published(slack, ALICE)
    time.sleep(0.3)
    assert [c.args["user_id"] for c in slack.calls("views.publish")] == [ALICE]
