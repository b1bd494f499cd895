"""The main flow end to end: `jitbot serve` as a real process over HTTP, signed requests
shaped like Slack's, the fake Slack Web API, moto in server mode and SQLite.

Each test asserts on what the fake Slack received and on the audit trail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.demo.fake_slack import ALICE, BOB, CAROL, DAVE, OPS_CHANNEL, Call, FakeSlack
from tests.support.slack import (
    REPO,
    ServeProcess,
    command_answer,
    jitbot_command,
    serve_env,
)

RAW_PII = ["ada.lovelace@example.org", "4111 1111 1111 1111", "+44 20 7946 0958"]


def _text(call: Call) -> str:
    return json.dumps(call.args, ensure_ascii=False)


@pytest.fixture(scope="module")
def runbooks_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped runbooks, with orders-lookup's session shortened to the 1m minimum."""
    folder = tmp_path_factory.mktemp("runbooks")
    for file in (REPO / "runbooks").glob("*.yaml"):
        shutil.copy(file, folder / file.name)
    lookup = folder / "orders-lookup.yaml"
    data = yaml.safe_load(lookup.read_text())
    data["session"]["duration"] = "1m"
    lookup.write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        runbooks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    home = tmp_path_factory.mktemp("serve")
    env = serve_env(fake_slack_server, home, JITBOT_RUNBOOKS_DIR=str(runbooks_dir))
    process = ServeProcess(env, home / "serve.log")
    process.start()
    yield process
    assert process.stop() == 0, process.logs()
    for secret in ("SecretAccessKey", "SessionToken"):
        assert secret not in process.logs()


@pytest.fixture
def slack(bot: ServeProcess, fake_slack: FakeSlack) -> FakeSlack:
    return fake_slack


def _request(bot: ServeProcess, slack: FakeSlack, text: str, user: str = ALICE) -> str:
    """Send `/jit <text>`; return the ts of the card the bot posted."""
    reply = bot.slack.command(text, user_id=user, response_url=slack.response_url("cmd"))
    assert reply.status == 200
    card = slack.wait_for("chat.postMessage", lambda c: "JIT request" in c.args.get("text", ""))
    assert card.args["channel"] == OPS_CHANNEL
    return str(card.response["ts"])


def _react(bot: ServeProcess, reaction: str, user: str, ts: str) -> None:
    from tests.slack_signing import reaction_added_event

    event = reaction_added_event(reaction, user=user, channel=OPS_CHANNEL, ts=ts)
    assert bot.slack.event(event).status == 200


def _click(bot: ServeProcess, slack: FakeSlack, action_id: str, request_id: str, user: str,
           ts: str) -> None:
    reply = bot.slack.action(action_id, request_id, user_id=user, channel_id=OPS_CHANNEL,
                             message_ts=ts, message=slack.message(OPS_CHANNEL, ts))
    assert reply.status == 200


def _request_id(slack: FakeSlack, ts: str) -> str:
    card = slack.message(OPS_CHANNEL, ts)
    actions = [b for b in card["blocks"] if b.get("type") == "actions"]
    return str(actions[0]["elements"][0]["value"])


def _thread(slack: FakeSlack, ts: str, needle: str, count: int = 1,
            timeout: float = 20.0) -> list[Call]:
    return slack.wait_calls("chat.postMessage",
                            count, lambda c: c.args.get("thread_ts") == ts and needle in _text(c),
                            timeout)


def _card_says(slack: FakeSlack, ts: str, needle: str, timeout: float = 20.0) -> Call:
    return slack.wait_for("chat.update",
                          lambda c: c.args.get("ts") == ts and needle in _text(c), timeout)


def _audit_verifies(bot: ServeProcess) -> str:
    result = subprocess.run([*jitbot_command(), "audit", "verify"], env=bot.env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _audit_events(bot: ServeProcess, request_id: str) -> list[str]:
    result = subprocess.run(
        [*jitbot_command(), "audit", "export", "--format", "jsonl"], env=bot.env, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return [r["event"] for r in rows if r.get("request_id") == request_id]


def test_happy_path_reaction_results_run_again_and_deadline(
        bot: ServeProcess, slack: FakeSlack) -> None:
    ts = _request(bot, slack, 'orders-lookup order_id=1001 reason="ticket 4411"')
    card = slack.message(OPS_CHANNEL, ts)
    shown = json.dumps(card)
    for fact in ["GetItem", "ORDER#1001", "jit-orders-read", "customer_email", "Session: 1m",
                 "ticket 4411", "Approve", "Deny", "Cancel"]:
        assert fact in shown, fact
    request_id = _request_id(slack, ts)

    _react(bot, "white_check_mark", ALICE, ts)  # the requester: refused
    refusal = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == ALICE)
    assert "your own request" in _text(refusal)
    _react(bot, "+1", DAVE, ts)  # not in @oncall-leads: refused
    refusal = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == DAVE)
    assert "@oncall-leads" in _text(refusal)
    assert not [c for c in slack.calls("chat.postMessage") if "Results" in _text(c)]

    _react(bot, "white_check_mark", BOB, ts)
    [results] = _thread(slack, ts, "Results")
    assert "STUCK" in _text(results) and "3 values redacted" in _text(results)
    posted = _text(results)  # one item: shown whole, one attribute per line
    assert "ORDER#1001" in posted and "129.99" in posted
    for raw in RAW_PII:
        assert raw not in posted
    assert "@example.org" in posted  # the email rule keeps the domain
    assert "1111" in posted  # last4 of the card
    # the approval's reply is posted in the background, yet the thread reads in order
    said = [_text(c) for c in slack.calls("chat.postMessage") if c.args.get("thread_ts") == ts]
    approved = [i for i, text in enumerate(said) if "approved (" in text]
    assert approved and approved[0] < next(i for i, text in enumerate(said) if "Results" in text)
    _card_says(slack, ts, "Session active")
    assert "Run again" in _text(_card_says(slack, ts, "Session active"))

    _click(bot, slack, "jit_run_again", request_id, ALICE, ts)
    _thread(slack, ts, "(run 2)")

    _card_says(slack, ts, "Session ended", timeout=90)
    ended = _card_says(slack, ts, "Session ended")
    assert "jit_run_again" not in _text(ended) and "jit_approve" not in _text(ended)
    _thread(slack, ts, "Session ended")
    events = _audit_events(bot, request_id)
    for event in ["request.created", "approval.refused", "approval.granted",
                  "credentials.issued", "query.executed", "results.posted", "session.ended"]:
        assert event in events, (event, events)
    assert events.count("credentials.issued") == 1
    assert events.count("query.executed") == 2
    _audit_verifies(bot)


def test_approval_by_button_with_a_429_from_slack(bot: ServeProcess, slack: FakeSlack) -> None:
    ts = _request(bot, slack, 'orders-lookup order_id=1002 reason="refund check"')
    request_id = _request_id(slack, ts)
    slack.fail_next("chat.postMessage", times=1, status=429, retry_after=1)
    _click(bot, slack, "jit_approve", request_id, CAROL, ts)
    [results] = _thread(slack, ts, "Results")
    assert "ORDER#1002" in _text(results)
    assert [c.status for c in slack.calls("chat.postMessage")].count(429) == 1
    time.sleep(0.5)
    assert len([c for c in slack.calls("chat.postMessage")
                if c.status == 200 and "Results" in _text(c)]) == 1
    _audit_verifies(bot)


def test_denial_ends_the_request_without_access(bot: ServeProcess, slack: FakeSlack) -> None:
    ts = _request(bot, slack, 'orders-lookup order_id=1003 reason="late parcel"')
    request_id = _request_id(slack, ts)
    _click(bot, slack, "jit_deny", request_id, BOB, ts)
    _thread(slack, ts, "denied")
    denied = _card_says(slack, ts, "Denied")
    assert "jit_approve" not in _text(denied)
    _click(bot, slack, "jit_approve", request_id, CAROL, ts)  # too late
    late = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == CAROL)
    assert "denied" in _text(late).lower()
    events = _audit_events(bot, request_id)
    assert "approval.denied" in events and "credentials.issued" not in events
    _audit_verifies(bot)


def test_cancel_is_the_requesters_alone(bot: ServeProcess, slack: FakeSlack) -> None:
    ts = _request(bot, slack, 'orders-lookup order_id=1004 reason="duplicate charge"')
    request_id = _request_id(slack, ts)
    _click(bot, slack, "jit_cancel", request_id, BOB, ts)
    refusal = slack.wait_for("chat.postEphemeral", lambda c: c.args.get("user") == BOB)
    assert "only the requester" in _text(refusal)
    _click(bot, slack, "jit_cancel", request_id, ALICE, ts)
    _card_says(slack, ts, "Cancelled")
    _thread(slack, ts, "cancelled")
    assert "credentials.issued" not in _audit_events(bot, request_id)
    _audit_verifies(bot)


@pytest.mark.parametrize(
    ("text", "needle"),
    [("nope order_id=1", "unknown runbook 'nope'"),
     ('orders-lookup order_id=12ab reason="x"', "does not match"),
     ("orders-lookup order_id=1001", "missing reason")],
)
def test_bad_input_gets_an_ephemeral_error_and_nothing_else(
        bot: ServeProcess, slack: FakeSlack, text: str, needle: str) -> None:
    body = command_answer(bot.slack, slack, text, user_id=ALICE)
    assert needle in body["text"] and "Usage:" in body["text"]
    time.sleep(0.5)
    assert slack.calls("chat.postMessage") == []
    rows = subprocess.run([*jitbot_command(), "audit", "export", "--format", "jsonl"],
                          env=bot.env, cwd=REPO, capture_output=True, text=True, check=True)
    assert "request.rejected" in rows.stdout


def test_the_same_command_sent_twice_makes_one_card(bot: ServeProcess, slack: FakeSlack) -> None:
    ts = _request(bot, slack, 'orders-lookup order_id=1099 reason="stuck"')
    again = command_answer(bot.slack, slack, 'orders-lookup order_id=1099 reason="STILL stuck"',
                           user_id=ALICE)
    assert f"request {_request_id(slack, ts)} is waiting for approval" in again["text"]
    cards = [c for c in slack.calls("chat.postMessage")
             if "JIT request" in c.args.get("text", "")]
    assert len(cards) == 1


def test_unsigned_and_stale_requests_do_nothing(bot: ServeProcess, slack: FakeSlack) -> None:
    from tests.slack_signing import FORM, slash_command_body

    body = slash_command_body('orders-lookup order_id=1001 reason="x"')
    assert bot.slack.post(body, FORM, signed=False).status == 401
    assert bot.slack.post(body, FORM, timestamp=int(time.time()) - 600).status == 401
    assert bot.slack.post(body, FORM, secret="not-the-secret").status == 401
    time.sleep(0.3)
    assert slack.calls() == []


def test_large_results_arrive_as_a_redacted_file(bot: ServeProcess, slack: FakeSlack) -> None:
    """A guarded scan needs two approvers; its ~30 items go out as a file."""
    ts = _request(bot, slack, 'stuck-orders-scan status=PENDING reason="backlog review"')
    request_id = _request_id(slack, ts)
    _click(bot, slack, "jit_approve", request_id, BOB, ts)
    _thread(slack, ts, "approved (1 of 2)")
    assert not slack.calls("files.completeUploadExternal")
    _click(bot, slack, "jit_approve", request_id, DAVE, ts)
    done = slack.wait_for("files.completeUploadExternal", timeout=20)
    assert done.args.get("thread_ts") == ts
    [uploaded] = [f for f in slack.files() if f.get("completed")]
    content = uploaded["content"].decode()
    assert "ORDER#1004" in content and content.count("PENDING") >= 21
    assert "@" in content and "ada.lovelace" not in content
    for raw in RAW_PII:
        assert raw not in content
    _audit_verifies(bot)
