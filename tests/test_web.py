"""The HTTP endpoint over real HTTP: signatures, URL verification, health, metrics, retries,
and `jitbot serve` as a real process."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.core.queries import render
from bot.logs import JsonFormatter
from bot.metrics import Metrics
from bot.slack import blocks
from bot.slack.blocks import CardModel, CardState
from bot.slack.deps import RequestSubmission
from bot.web import JitbotWeb
from tests.fakeslack import ALICE, OPS_CHANNEL, FakeSlack
from tests.slack_signing import (
    FORM,
    JSON,
    SIGNING_SECRET,
    STALE_SECONDS,
    block_actions_payload,
    event_envelope,
    http_request,
    interactive_body,
    reaction_added_event,
    sign,
    slash_command_body,
    url_verification_body,
)
from tests.support.slack import BotUnderTest, ServeProcess, WebServer, free_port, run_serve


def test_url_verification_challenge_is_answered(jitbot_http: BotUnderTest) -> None:
    reply = jitbot_http.slack.post(url_verification_body("3eZbrw1aBm2rZgRNFdxV2595E9CY3gm"), JSON)
    assert reply.status == 200
    assert reply.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gm"}


BODIES = {
    "slash command": (slash_command_body('orders-lookup order_id=1001 reason="x"'), FORM),
    "button": (interactive_body(block_actions_payload(blocks.APPROVE, "r-1")), FORM),
    "event": (json.dumps(event_envelope(reaction_added_event(
        "white_check_mark", user=ALICE, channel=OPS_CHANNEL, ts="1.000001"))), JSON),
    "url verification": (url_verification_body("challenge"), JSON),
}


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "tampered body", "stale",
                                     "from the future"])
def test_requests_not_signed_by_slack_get_401_and_do_nothing(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack, kind: str, forgery: str
) -> None:
    body, content_type = BODIES[kind]
    slack = jitbot_http.slack
    if forgery == "unsigned":
        reply = slack.post(body, content_type, signed=False)
    elif forgery == "wrong secret":
        reply = slack.post(body, content_type, secret="not-the-signing-secret")
    elif forgery == "tampered body":
        # a signature made for another body
        reply = slack.post(body, content_type, signed=False,
                           headers=sign(SIGNING_SECRET, body + "x"))
    elif forgery == "stale":
        reply = slack.post(body, content_type, timestamp=int(time.time()) - STALE_SECONDS)
    else:
        reply = slack.post(body, content_type, timestamp=int(time.time()) + STALE_SECONDS)
    assert reply.status == 401
    assert "challenge" not in reply.body
    assert jitbot_http.submissions.items == [] and jitbot_http.rejections.items == []
    assert fake_slack.calls() == []


def test_a_correctly_signed_request_passes_the_same_checks(jitbot_http: BotUnderTest) -> None:
    body, content_type = BODIES["slash command"]
    assert jitbot_http.slack.post(body, content_type).status == 200
    jitbot_http.submissions.wait(1)


def test_healthz_reports_the_database(jitbot_http: BotUnderTest) -> None:
    reply = jitbot_http.get("/healthz")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"status": "ok", "checks": {"database": "ok"}}


@pytest.fixture
def broken_database_server() -> Iterator[WebServer]:
    def unreachable() -> None:
        raise ConnectionRefusedError("postgresql://jit:hunter2@db:5432/jit refused")

    server = WebServer(JitbotWeb(None, {"database": unreachable}, Metrics()))
    yield server
    server.stop()


def test_healthz_is_503_when_the_database_is_unreachable(broken_database_server: WebServer) -> None:
    reply = broken_database_server.get("/healthz")
    assert reply.status == 503
    assert reply.json() == {"status": "unavailable",
                            "checks": {"database": "unavailable (ConnectionRefusedError)"}}
    assert "hunter2" not in reply.body
    # without a Bolt app (Socket Mode) there is no Slack endpoint
    assert http_request("POST", broken_database_server.url + "/slack/events", b"{}").status == 404


def test_metrics_are_served_in_prometheus_format(jitbot_http: BotUnderTest) -> None:
    jitbot_http.slack.command("help")
    reply = jitbot_http.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    for name in ("jitbot_requests_total", "jitbot_approvals_total", "jitbot_sessions_active",
                 "jitbot_query_seconds", "jitbot_slack_api_errors_total",
                 "jitbot_slack_requests_in_flight"):
        assert f"# TYPE {name.removesuffix('_total')}" in reply.body
    assert 'jitbot_slack_commands_total{verb="help"}' in reply.body


def test_unknown_paths_and_methods(jitbot_http: BotUnderTest) -> None:
    assert jitbot_http.get("/nope").status == 404
    wrong = jitbot_http.get("/slack/events")
    assert wrong.status == 405 and wrong.headers["Allow"] == "POST"
    assert http_request("POST", jitbot_http.url + "/healthz", b"").status == 405


def post_card(bot: BotUnderTest) -> Callable[[RequestSubmission], None]:
    """What the workflow will do with a submission: post the request card."""

    def post(submission: RequestSubmission) -> None:
        rendered = render(submission.bound, "us-east-1")
        runbook = submission.bound.runbook
        card = CardModel(
            request_id="r-1", requester_id=submission.requester_id, runbook=runbook.name,
            description=runbook.description, params=submission.bound.as_text(),
            reason=submission.bound.reason, call=rendered.call, scope=rendered.scope,
            role_arn=runbook.role_arn, session_length=runbook.session.duration,
            approvals_required=runbook.approval.required, approvers=runbook.approval.approvers,
            state=CardState.pending)
        bot.deps.client.chat_postMessage(channel=submission.channel_id,
                                         **blocks.request_card(card).as_kwargs())

    return post


def test_a_429_from_slack_is_retried_and_the_card_still_arrives(
    jitbot_http: BotUnderTest, fake_slack: FakeSlack
) -> None:
    jitbot_http.on_submission = post_card(jitbot_http)
    fake_slack.fail_next("chat.postMessage", times=1, status=429, retry_after=1)
    reply = jitbot_http.slack.command('orders-lookup order_id=1001 reason="ticket 4411"')
    assert reply.status == 200
    calls = fake_slack.wait_calls("chat.postMessage", 2)
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].response == {"ok": False, "error": "ratelimited"}
    (card,) = fake_slack.messages(OPS_CHANNEL)
    assert card["text"].startswith("JIT request r-1: orders-lookup by <@U0ALICE>")
    assert [b["elements"][0]["action_id"] for b in card["blocks"] if b["type"] == "actions"] == [
        blocks.APPROVE]


def test_slack_api_failures_are_counted(jitbot_http: BotUnderTest, fake_slack: FakeSlack) -> None:
    def errors() -> float:
        return jitbot_http.deps.metrics.registry.get_sample_value(
            "jitbot_slack_api_errors_total",
            {"method": "chat.postMessage", "error": "channel_not_found"}) or 0.0

    before = errors()
    jitbot_http.on_submission = post_card(jitbot_http)
    fake_slack.fail_next("chat.postMessage", status=200, error="channel_not_found")
    jitbot_http.slack.command('orders-lookup order_id=1001 reason="x"')
    fake_slack.wait_for("chat.postMessage")
    deadline = time.monotonic() + 5
    while errors() == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert errors() == before + 1


# ------------------------------------------------------------------ `jitbot serve`


def test_jitbot_serve_answers_health_and_a_signed_help(
    serve_process: Callable[..., ServeProcess], fake_slack: FakeSlack
) -> None:
    bot = serve_process()
    health = bot.get("/healthz")
    assert health.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert fake_slack.calls("auth.test")[0].token == "xoxb-test"  # token checked at start

    # Which runbooks a person may request depends on their user groups, so the list is
    # answered from a worker through response_url, after an empty ack.
    reply = bot.slack.command("help", response_url=fake_slack.response_url())
    assert reply.status == 200 and reply.body == ""
    fake_slack.wait_for("response")
    [answer] = fake_slack.responses()
    assert answer["response_type"] == "ephemeral"
    assert "orders-lookup" in answer["text"]
    assert bot.slack.post(slash_command_body("help"), FORM, signed=False).status == 401
    assert "jitbot_slack_commands_total" in bot.get("/metrics").body

    assert bot.stop() == 0
    records = bot.log_records()
    messages = [r["message"] for r in records]
    assert "jitbot serving" in messages and "jitbot stopping" in messages
    serving = next(r for r in records if r["message"] == "jitbot serving")
    assert serving["mode"] == "http" and serving["port"] == bot.port
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    logs = bot.logs()
    assert "xoxb-test" not in logs and SIGNING_SECRET not in logs
    # the refused request's body (values, a live response_url) stays out of the logs
    assert "Invalid request signature detected; refused with 401" in messages
    assert "response_url" not in logs and "hooks.slack.com" not in logs


def test_log_lines_are_json_and_mask_credentials() -> None:
    record = logging.LogRecord("bot.x", logging.WARNING, __file__, 1,
                               "token %s and key %s", ("xoxb-1-abc-DEF", "AKIAABCDEFGHIJKLMNOP"),
                               None)
    record.user = ALICE
    record.secret = "xapp-1-A0-123-abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "token [redacted] and key [redacted]"
    assert line["user"] == ALICE and line["secret"] == "[redacted]"
    assert line["level"] == "warning" and line["logger"] == "bot.x"


def test_log_lines_keep_numbers_and_text_as_they_are() -> None:
    record = logging.LogRecord("bot.x", logging.INFO, __file__, 1, "café", None, None)
    record.count, record.ok, record.runbook, record.none = 3, True, "orders-lookup", None
    line = JsonFormatter().format(record)
    assert '"message": "café"' in line  # UTF-8 text, not \u escapes
    assert {k: v for k, v in json.loads(line).items() if k in ("count", "ok", "none")} == {
        "count": 3, "ok": True, "none": None}


def test_slack_clients_get_the_quiet_level_of_their_own() -> None:
    # these clients build each call's debug text, bodies included, unless their own level
    # (not the one they inherit) says debug is off; a process of its own, as
    # configure_logging sets up the whole process's logging
    script = ("from bot.logs import configure_logging; configure_logging('INFO'); "
              "from slack_sdk import WebClient; from slack_sdk.webhook import WebhookClient; "
              "print(WebClient()._logger.level, WebhookClient('http://x/hook').logger.level)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.split() == [str(logging.WARNING)] * 2


@pytest.mark.parametrize(("env", "message"), [
    ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN is not set"),
    ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is not set; HTTP mode needs"),
    ({"SLACK_BOT_TOKEN": "xoxb-revoked"}, "Slack refused SLACK_BOT_TOKEN"),
    ({"JITBOT_RUNBOOKS_DIR": "/nonexistent-runbooks"}, "no such folder of runbooks"),
    ({"JITBOT_PORT": "0"}, "JITBOT_PORT='0'"),
])
def test_jitbot_serve_refuses_bad_configuration_clearly(
    fake_slack: FakeSlack, tmp_path: Path, env: dict[str, str], message: str
) -> None:
    fake_slack.reject_token("xoxb-revoked")
    done = run_serve(fake_slack, tmp_path, **env)
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_jitbot_serve_says_when_slack_is_unreachable(fake_slack: FakeSlack, tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/api/"
    done = run_serve(fake_slack, tmp_path, SLACK_API_URL=nowhere)
    assert done.returncode == 2
    assert f"cannot reach Slack at SLACK_API_URL={nowhere}" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_server_on_its_own_thread_stops_cleanly_with_connections_open() -> None:
    import http.client
    import threading

    from bot.web import ServerThread

    for _ in range(30):
        served = ServerThread(JitbotWeb(None, {}, Metrics()), threads=2, name="stopping-web")
        port = int(served.url.rsplit(":", 1)[1])
        held = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # kept alive
        held.request("GET", "/healthz")
        assert held.getresponse().status == 200
        started = time.monotonic()
        served.stop()
        assert time.monotonic() - started < 2  # it did not wait out the open connection
        held.close()
    assert not [t for t in threading.enumerate() if t.name == "stopping-web"]
