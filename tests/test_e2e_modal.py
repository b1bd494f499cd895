"""The request modal end to end: `/jit <runbook>` with parameters missing opens a form
(checked at the fake Slack's views.open), a bad value is refused next to its field in the
HTTP response to the view submission, and a valid submission posts the card.

Besides the shipped runbooks, `orders-by-day` has an integer and a date parameter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.fake_slack import ALICE, DAVE, OPS_CHANNEL, Call, FakeSlack
from tests.e2e_surfaces import (
    audit_rows,
    card_request_id,
    command,
    runbooks_copy,
    serve,
    submit_view,
    text_of,
)
from tests.support.slack import ServeProcess, command_answer

ORDERS_BY_DAY = {
    "name": "orders-by-day",
    "description": "A customer's orders created on one day.",
    "table": "orders",
    "role_arn": "arn:aws:iam::123456789012:role/jit-orders-read",
    "action": "query",
    "query": {"index": "by-customer", "partition": {"customer_id": "CUST#{customer_id}"},
              "sort": {"created_at": {"begins_with": "{day}"}}},
    "projection": ["customer_id", "created_at", "pk", "status"],
    "limit": 20,
    "params": {
        "customer_id": {"type": "integer", "min": 1, "max": 999999,
                        "description": "Numeric customer id", "example": "42"},
        "day": {"type": "date", "description": "Day the orders were created"},
    },
    "reason": "optional",
    "approval": {"approvers": ["@oncall-leads"]},
    "session": {"duration": "15m"},
}


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    runbooks = runbooks_copy(tmp_path_factory.mktemp("runbooks"),
                             extra={"orders-by-day": ORDERS_BY_DAY})
    yield from serve(fake_slack_server, tmp_path_factory, runbooks)


@pytest.fixture
def slack(bot: ServeProcess, fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def _open(bot: ServeProcess, slack: FakeSlack, text: str, user: str = ALICE) -> Call:
    trigger = f"{len(slack.calls())}.{abs(hash(text)) % 10_000}.trigger"
    reply = bot.slack.command(text, user_id=user, trigger_id=trigger,
                              response_url=slack.response_url("modal"))
    assert (reply.status, reply.body) == (200, "")  # no ephemeral: the form says it all
    opened = slack.wait_for("views.open", lambda c: c.args.get("trigger_id") == trigger)
    assert opened.ok
    return opened


def _inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def _card(slack: FakeSlack) -> Call:
    return slack.wait_for("chat.postMessage",
                          lambda c: c.ok and c.args.get("channel") == OPS_CHANNEL
                          and "JIT request" in text_of(c))


def test_missing_parameters_open_a_form_with_what_was_typed(
        bot: ServeProcess, slack: FakeSlack) -> None:
    view = _open(bot, slack, "customer-orders customer_id=42").args["view"]
    assert (view["type"], view["callback_id"]) == ("modal", "jit_request_modal")
    assert json.loads(view["private_metadata"]) == {
        "runbook": "customer-orders", "channel": OPS_CHANNEL, "thread_ts": None,
        "source": "modal"}
    inputs = _inputs(view)
    assert list(inputs) == ["jit_param_customer_id", "jit_param_month", "jit_reason"]
    customer = inputs["jit_param_customer_id"]
    assert customer["label"]["text"] == "customer_id"
    assert customer["element"]["type"] == "plain_text_input"
    assert customer["element"]["initial_value"] == "42"
    assert customer["element"]["placeholder"]["text"] == "e.g. 42"
    assert "Numeric customer id" in customer["hint"]["text"]
    month = inputs["jit_param_month"]["element"]
    assert "initial_value" not in month and month["placeholder"]["text"] == "e.g. 2026-11"
    assert inputs["jit_reason"].get("optional") is not True  # customer-orders needs one
    assert "customer-orders" in text_of(view)
    assert slack.calls("chat.postMessage") == [] and slack.calls("response") == []


def test_each_parameter_type_gets_its_input(bot: ServeProcess, slack: FakeSlack) -> None:
    scan = _inputs(_open(bot, slack, "stuck-orders-scan").args["view"])
    status = scan["jit_param_status"]["element"]
    assert status["type"] == "static_select"
    assert [o["value"] for o in status["options"]] == ["PENDING", "PAYMENT_FAILED", "STUCK"]
    assert "initial_option" not in status

    by_day = _inputs(_open(bot, slack, "orders-by-day day=2026-11-03").args["view"])
    assert by_day["jit_param_customer_id"]["element"]["type"] == "plain_text_input"
    assert "whole number" in by_day["jit_param_customer_id"]["hint"]["text"]
    day = by_day["jit_param_day"]["element"]
    assert (day["type"], day["initial_date"]) == ("datepicker", "2026-11-03")
    assert by_day["jit_reason"]["optional"] is True


def test_a_bad_value_is_refused_next_to_its_field(bot: ServeProcess, slack: FakeSlack) -> None:
    opened = _open(bot, slack, "customer-orders customer_id=42")
    reply = submit_view(bot, opened.response["view"],
                        {"jit_param_customer_id": "4x2", "jit_param_month": "2026-13",
                         "jit_reason": "ticket 9"}, ALICE)
    assert reply.status == 200
    body = reply.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"jit_param_customer_id", "jit_param_month"}
    assert "'4x2' does not match ^[0-9]{1,10}$" in body["errors"]["jit_param_customer_id"]
    assert "'2026-13' does not match" in body["errors"]["jit_param_month"]

    no_reason = submit_view(bot, opened.response["view"], {"jit_param_month": "2026-11"}, ALICE)
    assert no_reason.json() == {"response_action": "errors",
                                "errors": {"jit_reason": "Say why you need this, e.g. ticket "
                                                         "4411."}}
    picked = _open(bot, slack, "stuck-orders-scan")
    nothing = submit_view(bot, picked.response["view"], {"jit_reason": "x"}, ALICE).json()
    assert list(nothing["errors"]) == ["jit_param_status"]
    assert slack.calls("chat.postMessage") == []


def test_a_valid_submission_posts_the_card(bot: ServeProcess, slack: FakeSlack) -> None:
    opened = _open(bot, slack, "orders-by-day")
    reply = submit_view(bot, opened.response["view"],
                        {"jit_param_customer_id": "42", "jit_param_day": "2026-11-03",
                         "jit_reason": "refund check INC-12"}, ALICE)
    assert (reply.status, reply.body) == (200, "")  # an empty ack closes the modal
    card = _card(slack)
    assert "thread_ts" not in card.args or card.args["thread_ts"] is None
    shown = text_of(card)
    for fact in ["orders-by-day", "CUST#42", "2026-11-03", "refund check INC-12",
                 f"<@{ALICE}>", "Approve"]:
        assert fact in shown, fact
    request_id = card_request_id(card)
    (created,) = [r for r in audit_rows(bot)
                  if r.get("request_id") == request_id and r["event"] == "request.created"]
    assert created["details"]["source"] == "modal"
    assert created["details"]["params"] == {"customer_id": "42", "day": "2026-11-03"}


def test_a_requester_the_runbook_does_not_allow_is_told_privately(
        bot: ServeProcess, slack: FakeSlack) -> None:
    opened = _open(bot, slack, "orders-lookup", user=DAVE)  # not in @oncall
    reply = submit_view(bot, opened.response["view"],
                        {"jit_param_order_id": "1001", "jit_reason": "curious"}, DAVE)
    assert (reply.status, reply.body) == (200, "")
    told = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == DAVE)
    assert told.args["channel"] == OPS_CHANNEL and "you may not request" in text_of(told)
    assert slack.calls("chat.postMessage") == []


def test_when_the_form_cannot_open_the_problems_come_privately(
        bot: ServeProcess, slack: FakeSlack) -> None:
    slack.fail_next("views.open", status=200, error="expired_trigger_id")
    command(bot, slack, "customer-orders customer_id=42", ALICE)
    answer = slack.wait_for("response")
    assert answer.args["response_type"] == "ephemeral"
    lines = answer.args["text"].splitlines()
    assert lines[0].startswith("missing parameter month")
    assert any(line.startswith("Give every parameter on the command line") for line in lines)


def test_a_wrong_value_beside_missing_ones_is_answered_at_once(
        bot: ServeProcess, slack: FakeSlack) -> None:
    body = command_answer(bot.slack, slack, "customer-orders customer_id=abc", user_id=ALICE)
    assert "'abc' does not match" in body["text"] and "missing parameter month" in body["text"]
    assert slack.calls("views.open") == []
