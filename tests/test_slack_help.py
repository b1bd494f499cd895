"""`/jit` over real HTTP, signed as Slack signs: help, runbook help, and request checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.core.runbooks import Runbook
from tests.fakeslack import BOB, OPS_CHANNEL, FakeSlack
from tests.support.slack import BotUnderTest, command_answer


def answer(bot: BotUnderTest, fake: FakeSlack, text: str, **fields: Any) -> dict[str, Any]:
    return command_answer(bot.slack, fake, text, **fields)


def shown(body: dict[str, Any]) -> str:
    """All text a person would read: fallback text plus every block's text."""
    sections = [b["text"]["text"] for b in body.get("blocks", []) if b["type"] == "section"]
    return "\n".join([body["text"], *sections])


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
def test_bare_jit_and_help_list_every_runbook(jitbot_http: BotUnderTest, fake_slack: FakeSlack,
                                             text: str) -> None:
    body = answer(jitbot_http, fake_slack, text)
    for name in ("customer-orders", "orders-lookup", "stuck-orders-scan"):
        assert f"`{name}`" in shown(body)
    assert "Look up one order by its id" in shown(body)
    assert [c.method for c in fake_slack.calls()] == ["response"]  # nothing else posted
    assert jitbot_http.submissions.items == []


def test_help_for_a_runbook_shows_its_parameters(jitbot_http: BotUnderTest,
                                                 fake_slack: FakeSlack) -> None:
    body = answer(jitbot_http, fake_slack, "help customer-orders")
    text = shown(body)
    assert body["text"].splitlines()[1] == (
        'Usage: /jit customer-orders customer_id=42 month=2026-11 reason="..."')
    assert "`customer_id` (string, pattern `^[0-9]{1,10}$`) — Numeric customer id" in text
    assert "Example: `month=2026-11`" in text
    assert "`reason` (required)" in text
    assert "1 from @oncall-leads" in text and "30m" in text


def test_help_for_an_enum_lists_its_values(jitbot_http: BotUnderTest,
                                           fake_slack: FakeSlack) -> None:
    text = shown(answer(jitbot_http, fake_slack, "help stuck-orders-scan"))
    assert "one of `PENDING`, `PAYMENT_FAILED`, `STUCK`" in text


def test_help_for_an_unknown_runbook_names_the_known_ones(jitbot_http: BotUnderTest,
                                                          fake_slack: FakeSlack) -> None:
    body = answer(jitbot_http, fake_slack, "help nope")
    assert body["text"].splitlines() == [
        "unknown runbook 'nope'; known runbooks: customer-orders, orders-lookup, "
        "stuck-orders-scan",
        "Usage: /jit help <runbook>",
    ]


def test_a_valid_request_is_acked_and_handed_to_the_workflow(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack
) -> None:
    response_url = fake_slack.response_url()
    reply = jitbot_http.slack.command('orders-lookup order_id=1001 reason="ticket 4411"',
                                      user_id=BOB, response_url=response_url)
    assert (reply.status, reply.body) == (200, "")
    (submission,) = jitbot_http.submissions.wait(1)
    assert submission.bound.runbook.name == "orders-lookup"
    assert submission.bound.values == {"order_id": "1001"}
    assert submission.bound.reason == "ticket 4411"
    assert (submission.requester_id, submission.channel_id) == (BOB, OPS_CHANNEL)
    assert submission.source == "command" and submission.thread_ts is None
    assert submission.response_url == response_url
    assert jitbot_http.rejections.items == []

    submission.respond(text="queued", response_type="ephemeral")  # reaches the requester
    assert fake_slack.wait_for("response").args["text"] == "queued"


@pytest.mark.parametrize(("text", "problem", "usage"), [
    ("nope order_id=1", "unknown runbook 'nope'; known runbooks: customer-orders, "
     "orders-lookup, stuck-orders-scan", '/jit <runbook> name=value ... reason="..."'),
    ('orders-lookup order_id=abc reason="x"', "order_id: 'abc' does not match ^[0-9]{3,12}$; "
     "give a value such as '1001'", '/jit orders-lookup order_id=1001 reason="..."'),
    ("orders-lookup order_id=1001", 'missing reason; say why you need this, e.g. '
     'reason="ticket 4411"', '/jit orders-lookup order_id=1001 reason="..."'),
    ('orders-lookup order_id=1001 color=red reason="x"', "unknown parameter 'color'; "
     "orders-lookup takes: order_id, reason", '/jit orders-lookup order_id=1001 reason="..."'),
    ('stuck-orders-scan status=LOST reason="x"', "status: 'LOST' is not one of: PENDING, "
     "PAYMENT_FAILED, STUCK", '/jit stuck-orders-scan status=STUCK reason="..."'),
    ('orders-lookup order_id=1001 reason="unclosed', "the command has unbalanced quotes",
     '/jit <runbook> name=value ... reason="..."'),
])
def test_bad_input_gets_an_ephemeral_error_with_usage_and_nothing_else(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack, text: str, problem: str, usage: str
) -> None:
    body = answer(jitbot_http, fake_slack, text)
    lines = body["text"].splitlines()
    assert lines[0].startswith(problem)
    assert f"Usage: {usage}" in lines
    assert f"Usage: `{usage}`".replace("<", "&lt;").replace(">", "&gt;") in shown(body)
    (rejection,) = jitbot_http.rejections.wait(1)
    assert rejection.problems[0].startswith(problem)
    assert jitbot_http.submissions.items == []
    assert [c.method for c in fake_slack.calls()] == ["response"]


def test_missing_parameters_open_the_form_or_say_how_to_give_them(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack
) -> None:
    reply = jitbot_http.slack.command('customer-orders reason="x"')
    assert (reply.status, reply.body) == (200, "")
    assert fake_slack.wait_for("views.open").args["view"]["callback_id"] == "jit_request_modal"

    # when the form cannot open, the person reads what is missing instead
    fake_slack.fail_next("views.open", status=200, error="expired_trigger_id")
    jitbot_http.slack.command('customer-orders reason="x"',
                              response_url=fake_slack.response_url())
    lines = fake_slack.wait_for("response").args["text"].splitlines()
    assert lines[0] == "missing parameter customer_id (Numeric customer id, e.g. 42)"
    assert lines[1] == "missing parameter month (Month of the orders, YYYY-MM, e.g. 2026-11)"
    assert lines[2] == 'Usage: /jit customer-orders customer_id=42 month=2026-11 reason="..."'
    assert lines[3].startswith("Give every parameter on the command line; /jit help "
                               "customer-orders lists them")


def test_typed_markup_in_values_is_shown_inert(jitbot_http: BotUnderTest,
                                               fake_slack: FakeSlack) -> None:
    body = answer(jitbot_http, fake_slack,
                  'orders-lookup order_id=<!channel> reason="<@U1> & <http://x|y>"')
    blocks_text = json.dumps(body["blocks"])
    assert "<!channel>" not in blocks_text
    assert "&lt;!channel&gt;" in blocks_text
    # Slack sent the text escaped; the bot judged what the person really typed
    assert body["text"].startswith("order_id: '<!channel>' does not match")


def test_help_can_be_limited_to_what_the_user_may_request(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack
) -> None:
    asked: list[str] = []

    def may_request(user_id: str, runbook: Runbook) -> bool:
        asked.append(user_id)
        return runbook.name == "customer-orders"

    jitbot_http.deps.may_request = may_request
    listing = answer(jitbot_http, fake_slack, "help", user_id=BOB)  # from a worker
    assert "customer-orders" in listing["text"] and "orders-lookup" not in listing["text"]
    assert set(asked) == {BOB}


def test_commands_are_counted_in_metrics(jitbot_http: BotUnderTest,
                                         fake_slack: FakeSlack) -> None:
    def count(verb: str) -> float:
        value = jitbot_http.deps.metrics.registry.get_sample_value(
            "jitbot_slack_commands_total", {"verb": verb})
        return value or 0.0

    before = count("help"), count("rejected")
    answer(jitbot_http, fake_slack, "help")
    answer(jitbot_http, fake_slack, "nope")
    assert (count("help"), count("rejected")) == (before[0] + 1, before[1] + 1)


def test_a_command_that_fails_unexpectedly_is_answered_with_a_reference(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    from bot.slack.listeners import commands

    def broken(text: str) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(commands, "split_request_text", broken)
    text = answer(jitbot_http, fake_slack, 'orders-lookup order_id=1001 reason="x"')["text"]
    assert text.startswith("jitbot hit an unexpected error and did nothing more (reference ")
    [failure] = [r for r in caplog.records if r.getMessage() == "action failed"]
    assert failure.task == "command" and f"(reference {failure.ref})" in text
    assert "parser bug" not in text and "Traceback" not in text
    assert jitbot_http.submissions.items == [] and jitbot_http.rejections.items == []


def test_an_answer_slack_refuses_is_logged_not_dropped_in_silence(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.fail_next("response", status=500, error="internal_error")
    reply = jitbot_http.slack.command("help orders-lookup", response_url=fake_slack.response_url())
    assert (reply.status, reply.body) == (200, "")
    assert jitbot_http.deps.urgent.wait_idle(5)
    [failed] = [r for r in caplog.records if r.getMessage() == "could not answer the command"]
    assert failed.status == 500
