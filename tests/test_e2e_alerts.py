"""Alerts end to end: `jitbot serve` as a real process gets Slack-signed `message` events
for an alert channel and answers in the fake Slack; clicks lead to a card, approval and
results in the alert's thread.

The runbooks are the shipped ones, except that `customer-orders` takes an optional
reason (to show the one-click request) and an extra `order-notes` runbook whose trigger
captures values too long for a button.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.demo.fake_slack import (
    ALERTS_CHANNEL,
    ALICE,
    BOB,
    BOT_ID,
    BOT_USER_ID,
    CAROL,
    ERIN,
    OPS_CHANNEL,
    FakeSlack,
)
from bot.slack.alert_buttons import VALUE_LIMIT
from tests.e2e_surfaces import (
    audit_rows,
    audit_verifies,
    buttons,
    card_in_thread,
    card_request_id,
    click_alert_button,
    click_card,
    new_ts,
    runbooks_copy,
    serve,
    submit_view,
    text_of,
    thread_posts,
    wait_thread,
)
from tests.slack_signing import message_event
from tests.support.slack import ServeProcess

ORDER_NOTES = {
    "name": "order-notes",
    "description": "Notes on one order, found by two long reference words.",
    "table": "orders",
    "role_arn": "arn:aws:iam::123456789012:role/jit-orders-read",
    "action": "get_item",
    "key": {"pk": "NOTE#{first}", "sk": "{second}"},
    "projection": ["pk", "sk", "status"],
    "limit": 1,
    "params": {"first": {"type": "string", "pattern": "^[a-z]{1,1100}$", "example": "abc"},
               "second": {"type": "string", "pattern": "^[a-z]{1,1100}$", "example": "def"}},
    "reason": "required",
    "approval": {"approvers": ["@oncall-leads"]},
    "session": {"duration": "15m"},
    "triggers": [{"channel": "#alerts-orders",
                  "pattern": "note (?P<first>[a-z]+) (?P<second>[a-z]+)"}],
}


def _optional_reason(data: dict[str, Any]) -> None:
    data["reason"] = "optional"


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    runbooks = runbooks_copy(tmp_path_factory.mktemp("runbooks"),
                             {"customer-orders": _optional_reason},
                             {"order-notes": ORDER_NOTES})
    yield from serve(fake_slack_server, tmp_path_factory, runbooks)


@pytest.fixture
def slack(bot: ServeProcess, fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def _alert(bot: ServeProcess, event: dict[str, Any]) -> None:
    assert bot.slack.event(event).status == 200


def _reply(slack: FakeSlack, ts: str, channel: str = ALERTS_CHANNEL) -> Any:
    return wait_thread(slack, channel, ts, "Runbooks for this alert")


def _settle() -> None:
    time.sleep(0.5)  # long enough for a second, wrong reply to show up


def by_a_person(ts: str) -> dict[str, Any]:
    text = "Heads up: order 1001 is stuck in PACKING since 09:00"
    return message_event(text, user=ERIN, channel=ALERTS_CHANNEL, ts=ts,
                         client_msg_id="968c94da-1111", blocks=[{
                             "type": "rich_text", "block_id": "bN8", "elements": [{
                                 "type": "rich_text_section",
                                 "elements": [{"type": "text", "text": text}]}]}])


def by_an_app(ts: str) -> dict[str, Any]:
    return message_event("order 1002 is stuck: payment captured, nothing shipped",
                         user="U0PAGERAPP", channel=ALERTS_CHANNEL, ts=ts, bot_id="B0PAGER",
                         bot_profile={"id": "B0PAGER", "deleted": False, "name": "pager",
                                      "app_id": "A0PAGER", "team_id": "T0JIT"})


def by_an_integration(ts: str) -> dict[str, Any]:
    return message_event("", user=None, channel=ALERTS_CHANNEL, ts=ts, subtype="bot_message",
                         bot_id="B0NAGIOS", username="Nagios", attachments=[{
                             "fallback": "Fulfilment alert", "title": "Fulfilment alert",
                             "color": "FF0000", "id": 1,
                             "fields": [{"title": "Summary", "value": "order 1003 is stuck",
                                         "short": False}]}])


@pytest.mark.parametrize(("make", "order_id"), [
    (by_a_person, "1001"), (by_an_app, "1002"), (by_an_integration, "1003")])
def test_an_alert_gets_one_reply_and_a_click_leads_to_results_in_its_thread(
        bot: ServeProcess, slack: FakeSlack, make: Any, order_id: str) -> None:
    ts = new_ts()
    _alert(bot, make(ts))
    reply = _reply(slack, ts)
    (button,) = buttons(reply)
    assert button["text"]["text"] == f"Run orders-lookup (order_id={order_id})"
    assert json.loads(button["value"]) == {"r": "orders-lookup", "v": {"order_id": order_id},
                                           "t": ts}

    # a click by a person: orders-lookup needs a reason, so the form opens, values filled in
    assert click_alert_button(bot, slack, reply, ERIN).status == 200
    opened = slack.wait_for("views.open")
    view = opened.args["view"]
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["jit_param_order_id"]["element"]["initial_value"] == order_id
    assert inputs["jit_reason"].get("optional") is not True
    assert json.loads(view["private_metadata"]) == {
        "runbook": "orders-lookup", "channel": ALERTS_CHANNEL, "thread_ts": ts,
        "source": "alert"}
    submitted = submit_view(bot, opened.response["view"], {"jit_reason": "INC-77 stuck order"},
                            ERIN)
    assert (submitted.status, submitted.body) == (200, "")

    card = card_in_thread(slack, ALERTS_CHANNEL, ts)
    shown = text_of(card)
    assert f"ORDER#{order_id}" in shown and "INC-77 stuck order" in shown
    assert f"<@{ERIN}>" in shown
    assert click_card(bot, slack, "jit_approve", card, CAROL).status == 200
    wait_thread(slack, ALERTS_CHANNEL, ts, "approved")
    results = wait_thread(slack, ALERTS_CHANNEL, ts, "Results")
    assert "orders-lookup" in text_of(results)

    request_id = card_request_id(card)
    rows = [r for r in audit_rows(bot) if r.get("request_id") == request_id]
    (created,) = [r for r in rows if r["event"] == "request.created"]
    assert (created["actor"], created["details"]["source"]) == (ERIN, "alert")
    assert created["details"]["thread_ts"] == ts
    assert [r["event"] for r in rows].count("query.executed") == 1
    # one reply under the alert; everything else in the thread is the request's
    replies = [c for c in thread_posts(slack, ALERTS_CHANNEL, ts)
               if "Runbooks for this alert" in text_of(c)]
    assert len(replies) == 1
    assert slack.calls("chat.postMessage")[0].args.get("channel") == ALERTS_CHANNEL


def test_an_optional_reason_runbook_is_requested_in_one_click_citing_the_alert(
        bot: ServeProcess, slack: FakeSlack) -> None:
    # the alert exists in the fake Slack so that its permalink can be looked up
    poster = WebClient(token="xoxp-pager", base_url=slack.url)
    text = "customer 42 says their orders missing for 2026-11"
    ts = str(poster.chat_postMessage(channel=ALERTS_CHANNEL, text=text)["ts"])
    _alert(bot, message_event(text, user=ERIN, channel=ALERTS_CHANNEL, ts=ts))
    reply = _reply(slack, ts)
    (button,) = buttons(reply)
    assert button["text"]["text"] == "Run customer-orders (customer_id=42, month=2026-11)"

    assert click_alert_button(bot, slack, reply, ALICE).status == 200
    card = card_in_thread(slack, ALERTS_CHANNEL, ts)
    permalink = f"https://jit-test.slack.com/archives/{ALERTS_CHANNEL}/p{ts.replace('.', '')}"
    assert f"alert {permalink}" in text_of(card)
    assert slack.calls("views.open") == []
    click_card(bot, slack, "jit_approve", card, BOB)
    results = wait_thread(slack, ALERTS_CHANNEL, ts, "Results")
    assert "customer-orders" in text_of(results)
    audit_verifies(bot)


def test_a_double_click_on_a_one_click_button_makes_one_request(
        bot: ServeProcess, slack: FakeSlack) -> None:
    text = "customer 77 says their orders missing for 2026-10"
    ts = new_ts()
    _alert(bot, message_event(text, user=ERIN, channel=ALERTS_CHANNEL, ts=ts))
    reply = _reply(slack, ts)
    # two clicks: each its own delivery (its own action_ts), so no delivery check stops it
    assert click_alert_button(bot, slack, reply, ALICE).status == 200
    assert click_alert_button(bot, slack, reply, ALICE).status == 200
    card = card_in_thread(slack, ALERTS_CHANNEL, ts)
    told = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == ALICE)
    assert told.args["thread_ts"] == ts
    assert f"request {card_request_id(card)} is waiting for approval" in told.args["text"]
    cards = [c for c in thread_posts(slack, ALERTS_CHANNEL, ts) if "JIT request" in text_of(c)]
    assert len(cards) == 1


def test_an_alert_matching_two_runbooks_gets_one_reply_with_two_buttons(
        bot: ServeProcess, slack: FakeSlack) -> None:
    ts = new_ts()
    _alert(bot, message_event("order 1004 is stuck, and customer 42 reports orders missing "
                              "for 2026-10", user=ERIN, channel=ALERTS_CHANNEL, ts=ts))
    reply = _reply(slack, ts)
    labels = sorted(b["text"]["text"] for b in buttons(reply))
    assert labels == ["Run customer-orders (customer_id=42, month=2026-10)",
                      "Run orders-lookup (order_id=1004)"]
    assert len({b["action_id"] for b in buttons(reply)}) == 2
    _settle()
    assert len(thread_posts(slack, ALERTS_CHANNEL, ts)) == 1


def test_values_too_long_for_a_button_are_stored_and_still_reach_the_form(
        bot: ServeProcess, slack: FakeSlack) -> None:
    first, second = "a" * 1000, "b" * 1000  # each within the 1024-character limit
    ts = new_ts()
    _alert(bot, message_event(f"note {first} {second}", user=ERIN, channel=ALERTS_CHANNEL,
                              ts=ts))
    reply = _reply(slack, ts)
    (button,) = buttons(reply)
    assert len(button["value"]) < VALUE_LIMIT
    assert set(json.loads(button["value"])) == {"o"}
    assert len(button["text"]["text"]) <= 75 and button["text"]["text"].endswith("…")

    click_alert_button(bot, slack, reply, ERIN)
    view = slack.wait_for("views.open").args["view"]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["jit_param_first"]["initial_value"] == first
    assert inputs["jit_param_second"]["initial_value"] == second
    assert json.loads(view["private_metadata"])["thread_ts"] == ts


def test_edits_thread_replies_own_posts_and_other_channels_get_no_reply(
        bot: ServeProcess, slack: FakeSlack) -> None:
    alert_ts, later = new_ts(), new_ts()
    ignored = [
        # a reply in some thread that mentions a stuck order
        message_event("order 1005 is stuck too", user=ERIN, channel=ALERTS_CHANNEL, ts=later,
                      thread_ts=alert_ts),
        # the same text broadcast from a thread
        message_event("order 1005 is stuck too", user=ERIN, channel=ALERTS_CHANNEL,
                      ts=new_ts(), thread_ts=alert_ts, subtype="thread_broadcast"),
        # an edit of an alert
        {"type": "message", "subtype": "message_changed", "hidden": True,
         "channel": ALERTS_CHANNEL, "ts": new_ts(), "event_ts": new_ts(),
         "message": {"type": "message", "user": ERIN, "text": "order 1006 is stuck",
                     "ts": alert_ts, "edited": {"user": ERIN, "ts": new_ts()}},
         "previous_message": {"type": "message", "user": ERIN, "text": "order 1006",
                              "ts": alert_ts}},
        # a deletion
        {"type": "message", "subtype": "message_deleted", "hidden": True,
         "channel": ALERTS_CHANNEL, "ts": new_ts(), "deleted_ts": alert_ts,
         "previous_message": {"type": "message", "user": ERIN,
                              "text": "order 1006 is stuck", "ts": alert_ts}},
        # jitbot's own post, as a modern app message and as a bot_message
        message_event("order 1007 is stuck", user=BOT_USER_ID, channel=ALERTS_CHANNEL,
                      ts=new_ts(), bot_id=BOT_ID),
        message_event("order 1007 is stuck", user=None, channel=ALERTS_CHANNEL, ts=new_ts(),
                      subtype="bot_message", bot_id=BOT_ID),
        # a topic change that quotes an alert
        message_event(f"<@{ERIN}> set the channel topic: order 1010 is stuck", user=ERIN,
                      channel=ALERTS_CHANNEL, ts=new_ts(), subtype="channel_topic",
                      topic="order 1010 is stuck"),
        # someone joining, and a matching text in a channel no trigger watches
        message_event(f"<@{ERIN}> has joined the channel", user=ERIN, channel=ALERTS_CHANNEL,
                      ts=new_ts(), subtype="channel_join"),
        message_event("order 1008 is stuck", user=ERIN, channel=OPS_CHANNEL, ts=new_ts()),
    ]
    for event in ignored:
        _alert(bot, event)
    sentinel = new_ts()
    _alert(bot, message_event("order 1009 is stuck", user=ERIN, channel=ALERTS_CHANNEL,
                              ts=sentinel))
    _reply(slack, sentinel)
    _settle()
    posted = [c for c in slack.calls("chat.postMessage") if c.ok]
    assert [c.args.get("thread_ts") for c in posted] == [sentinel]
    assert slack.calls("views.open") == []
