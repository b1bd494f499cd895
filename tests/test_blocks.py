"""The request card, help and error messages: content, buttons per state, escaping, limits."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.catalog import load_catalog
from bot.core.params import bind
from bot.core.queries import render
from bot.core.runbooks import Param, ParamType
from bot.slack import blocks, mrkdwn
from bot.slack.blocks import CardModel, CardState
from bot.slack.help_pages import HelpPages
from tests.fakeslack import ALICE, BOB, CAROL
from tests.support.slack import RUNBOOKS

CATALOG = load_catalog(RUNBOOKS)
VALUES = {
    "orders-lookup": {"order_id": "1001"},
    "customer-orders": {"customer_id": "42", "month": "2026-11"},
    "stuck-orders-scan": {"status": "STUCK"},
}
FORGED = "<!channel> <@U1> <http://x|y> <!subteam^S1> & co"
# the only control sequences jitbot itself writes: user mentions and Slack dates
OWN_SEQUENCE = re.compile(r"<@[UW][A-Z0-9_]+>|<!date\^\d+\^[^|<>]+\|[^<>]*>")


def card_for(name: str, state: CardState = CardState.pending, *, reason: str = "ticket 4411",
             values: dict[str, str] | None = None, **changes: Any) -> CardModel:
    runbook = CATALOG.get(name)
    assert runbook is not None
    bound = bind(runbook, values or VALUES[name], reason)
    rendered = render(bound, "us-east-1")
    fields: dict[str, Any] = {
        "request_id": "r-7f3a",
        "requester_id": ALICE,
        "runbook": runbook.name,
        "description": runbook.description,
        "params": bound.as_text(),
        "reason": bound.reason,
        "call": rendered.call,
        "scope": rendered.scope,
        "role_arn": runbook.role_arn,
        "session_length": runbook.session.duration,
        "approvals_required": runbook.approval.required,
        "approvers": runbook.approval.approvers,
        "state": state,
    }
    fields.update(changes)
    return CardModel(**fields)


def payload(message: blocks.Message) -> dict[str, Any]:
    return message.as_kwargs()


def all_text(message: blocks.Message) -> str:
    return json.dumps(payload(message), ensure_ascii=False)


def mrkdwn_texts(message: blocks.Message) -> list[str]:
    found: list[str] = [message.text]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload(message)["blocks"])
    return found


def action_ids(message: blocks.Message) -> list[str]:
    ids = []
    for block in payload(message)["blocks"]:
        if block["type"] == "actions":
            ids += [element["action_id"] for element in block["elements"]]
    return ids


def test_get_item_card_shows_everything_design_lists() -> None:
    message = blocks.request_card(card_for("orders-lookup"))
    text = "\n".join(mrkdwn_texts(message))
    assert f"<@{ALICE}>" in text  # requester
    assert "`orders-lookup`" in text and "Look up one order by its id" in text
    assert "`order_id` = `1001`" in text
    assert "ticket 4411" in text
    assert "GetItem table=orders region=us-east-1" in text
    assert 'Key: pk = "ORDER#1001", sk = "ORDER"' in text
    assert "Projection: pk, sk, status, total" in text
    assert "Limit: 1" in text
    assert "arn:aws:iam::123456789012:role/jit-orders-read" in text
    assert "arn:aws:dynamodb:us-east-1:123456789012:table/orders" in text
    assert "Partition key: `ORDER#1001`" in text
    assert "`card_number`" in text  # attributes
    assert "Session: 15m" in text
    assert "1 approval from @oncall-leads (never the requester)" in text
    assert "Waiting for approval" in text and "0 of 1" in text
    assert "r-7f3a" in text


def test_query_card_resolves_the_key_condition_and_order() -> None:
    text = "\n".join(mrkdwn_texts(blocks.request_card(card_for("customer-orders"))))
    assert "Query table=orders index=by-customer" in text
    assert ('Key condition: customer_id = "CUST#42" AND begins_with(created_at, "2026-11")'
            in text)
    assert "Order: newest first" in text
    assert "Limit: 50" in text
    assert "table/orders/index/by-customer" in text


def test_scan_card_shows_the_filter_and_two_approvers() -> None:
    text = "\n".join(mrkdwn_texts(blocks.request_card(card_for("stuck-orders-scan"))))
    assert 'Filter: status = "STUCK"' in text
    assert "Partition key: any (scan)" in text
    assert "2 distinct approvals from @oncall-leads or @dba" in text


def test_user_id_approvers_are_mentions_and_group_handles_are_not() -> None:
    card = card_for("orders-lookup", approvers=["@oncall-leads", BOB])
    line = blocks.approval_line(card)
    assert line.endswith(f"from @oncall-leads or <@{BOB}> (never the requester)")
    assert "subteam" not in line


@pytest.mark.parametrize(("state", "expected"), [
    (CardState.pending, [blocks.APPROVE, blocks.DENY, blocks.CANCEL]),
    (CardState.active, [blocks.RUN_AGAIN, blocks.END_SESSION]),
    (CardState.approved, []),
    (CardState.denied, []),
    (CardState.cancelled, []),
    (CardState.expired, []),
    (CardState.ended, []),
    (CardState.failed, []),
])
def test_buttons_appear_only_while_they_apply(state: CardState, expected: list[str]) -> None:
    message = blocks.request_card(card_for("orders-lookup", state))
    assert action_ids(message) == expected
    for block in payload(message)["blocks"]:
        if block["type"] == "actions":
            assert block["block_id"] == blocks.ACTIONS_BLOCK_ID
            assert {e["value"] for e in block["elements"]} == {"r-7f3a"}


def test_state_lines_name_who_decided_and_when() -> None:
    ends = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
    active = blocks.state_line(card_for("orders-lookup", CardState.active,
                                        approved_by=[BOB], session_ends_at=ends))
    assert f"until <!date^{int(ends.timestamp())}^" in active
    assert "2026-11-26 14:05 UTC" in active and f"approved by <@{BOB}>" in active
    assert "Denied* by <@U0CAROL>" in blocks.state_line(
        card_for("orders-lookup", CardState.denied, decided_by=CAROL))
    assert "Session ended* at its deadline" in blocks.state_line(
        card_for("orders-lookup", CardState.ended))
    assert f"Session ended* by <@{ALICE}>" in blocks.state_line(
        card_for("orders-lookup", CardState.ended, decided_by=ALICE))
    pending = blocks.state_line(card_for("stuck-orders-scan", approved_by=[BOB],
                                         expires_at=ends - timedelta(minutes=30)))
    assert "1 of 2" in pending and f"approved by <@{BOB}>" in pending and "expires" in pending


def test_forged_mentions_links_and_pings_are_inert_everywhere() -> None:
    card = card_for(
        "orders-lookup",
        reason=FORGED,
        values={"order_id": "1001"},
        note=FORGED,
        extra={"Detail": FORGED},
        params={"order_id": FORGED},
        description=FORGED,
    )
    message = blocks.request_card(card)
    for text in mrkdwn_texts(message):
        leftover = OWN_SEQUENCE.sub("", text)
        assert "<" not in leftover and ">" not in leftover, text
    dumped = all_text(message)
    for forged in ("<!channel>", "<@U1>", "<http://x|y>", "<!subteam^S1>"):
        assert forged not in dumped
    assert "&lt;!channel&gt; &lt;@U1&gt; &lt;http://x|y&gt;" in dumped
    assert "&amp; co" in dumped


def test_values_inside_the_operation_are_escaped_too() -> None:
    runbook = CATALOG.get("customer-orders")
    assert runbook is not None
    loose = runbook.model_copy(update={"params": {
        name: param.model_copy(update={"pattern": None})
        for name, param in runbook.params.items()}})
    bound = bind(loose, {"customer_id": "<!here>", "month": "<@U9>"}, "x")
    described = blocks.describe_call(render(bound, "us-east-1").call)
    assert '"CUST#<!here>"' in described  # resolved exactly...
    message = blocks.request_card(card_for("customer-orders",
                                           call=render(bound, "us-east-1").call,
                                           scope=render(bound, "us-east-1").scope))
    dumped = all_text(message)
    assert "<!here>" not in dumped and "<@U9>" not in dumped  # ...and shown inert
    assert "&lt;!here&gt;" in dumped


@given(st.text(alphabet=st.sampled_from("<>&@!|#^`*_~ abcU1:/."), max_size=300))
def test_escaped_text_never_contains_a_control_sequence(text: str) -> None:
    escaped = mrkdwn.escape(text)
    assert "<" not in escaped and ">" not in escaped
    assert escaped.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&") == text
    coded = mrkdwn.code(text)
    assert "<" not in coded and coded.count("`") == 2


def test_mentions_are_made_only_from_real_ids() -> None:
    assert mrkdwn.user(ALICE) == f"<@{ALICE}>"
    assert mrkdwn.user("U1> <!channel") == "U1&gt; &lt;!channel"
    assert mrkdwn.principal("@oncall") == "@oncall"
    assert mrkdwn.channel("C0OPS") == "<#C0OPS>"
    assert mrkdwn.channel("<!here>") == "&lt;!here&gt;"


def test_huge_values_still_fit_slack_limits() -> None:
    runbook = CATALOG.get("orders-lookup")
    assert runbook is not None
    wide = runbook.model_copy(update={
        "projection": [f"attribute_{i:03d}_{'x' * 200}" for i in range(100)],
        "params": {"order_id": runbook.params["order_id"].model_copy(update={"pattern": None})},
    })
    bound = bind(wide, {"order_id": "9" * 1024}, "r" * 500)
    rendered = render(bound, "us-east-1")
    card = card_for("orders-lookup", call=rendered.call, scope=rendered.scope,
                    params=bound.as_text(), reason=bound.reason)
    message = blocks.request_card(card)
    body = payload(message)  # slack_sdk validates every block's limits here
    assert len(body["blocks"]) <= blocks.MAX_BLOCKS
    assert all(len(t) <= blocks.SECTION_LIMIT for t in mrkdwn_texts(message)[1:])
    assert action_ids(message) == [blocks.APPROVE, blocks.DENY, blocks.CANCEL]


def test_runbook_list_and_help() -> None:
    listing = all_text(blocks.runbook_list(CATALOG))
    for name in CATALOG.names:
        assert f"`{name}`" in listing
    assert "/jit help &lt;runbook&gt;" in listing
    empty = blocks.runbook_list([])
    assert "no runbooks you can request" in empty.text


@pytest.mark.parametrize("name", sorted(VALUES))
def test_help_shows_every_parameter_of_every_shipped_runbook(name: str) -> None:
    runbook = CATALOG.get(name)
    assert runbook is not None
    text = "\n".join(mrkdwn_texts(blocks.runbook_help(runbook)))
    assert runbook.usage() in text.replace("&quot;", '"')
    for pname, param in runbook.params.items():
        assert f"`{pname}` ({param.type.value}" in text
        if param.example:
            assert f"`{pname}={param.example}`" in text
        if param.description:
            assert param.description in text
    assert "`reason` (required)" in text


def test_help_pages_are_built_once_each_and_match_fresh_ones() -> None:
    pages = HelpPages()
    runbooks = list(CATALOG)
    for runbook in runbooks:
        assert pages.runbook(runbook) == blocks.runbook_help(runbook).as_kwargs()
        assert pages.runbook(runbook) is pages.runbook(runbook)
    for shown in (runbooks, runbooks[1:], []):  # everyone's list, a narrower one, none
        assert pages.listing(shown) == blocks.runbook_list(shown).as_kwargs()
        assert pages.listing(shown) is pages.listing(list(shown))


def test_help_shows_patterns_enum_values_and_bounds() -> None:
    scan = CATALOG.get("stuck-orders-scan")
    lookup = CATALOG.get("orders-lookup")
    assert scan is not None and lookup is not None
    assert "one of `PENDING`, `PAYMENT_FAILED`, `STUCK`" in blocks.param_line(
        "status", scan.params["status"])
    assert "pattern `^[0-9]{3,12}$`" in blocks.param_line("order_id", lookup.params["order_id"])
    bounded = Param(type=ParamType.integer, min=1, max=99, description="How many")
    assert "(integer, min 1, max 99)" in blocks.param_line("n", bounded)


def test_problem_message_lists_problems_then_usage() -> None:
    message = blocks.problem(["order_id: 'abc' does not match ^[0-9]+$", "missing reason"],
                             '/jit orders-lookup order_id=1001 reason="..."')
    lines = message.text.splitlines()
    assert lines == ["order_id: 'abc' does not match ^[0-9]+$", "missing reason",
                     'Usage: /jit orders-lookup order_id=1001 reason="..."']
    assert "Usage: `/jit orders-lookup" in all_text(message)
