"""Socket Mode against a local WebSocket server standing in for Slack."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from bot.slack.socket_mode import socket_mode_handler
from bot.web import SLACK_PATH
from tests.fake_socket_mode import FakeSocketMode
from tests.fakeslack import BOB, OPS_CHANNEL, FakeSlack
from tests.slack_signing import slash_command_fields
from tests.support.slack import (
    APP_TOKEN,
    REPO,
    BotUnderTest,
    ServeProcess,
    private_answer,
    start_bot,
)


@dataclass
class SocketSetup:
    bot: BotUnderTest
    socket: FakeSocketMode
    opened_with: str | None  # the token apps.connections.open was called with


@pytest.fixture(scope="module")
def socket_setup(fake_slack_server: FakeSlack) -> Iterator[SocketSetup]:
    """The real app in Socket Mode (no signing secret, an app token), connected once per
    module: closing slack_sdk's client waits out its 3 s receive timeout."""
    socket = FakeSocketMode()
    fake_slack_server.socket_mode_url = socket.url
    bot = start_bot(fake_slack_server, slack_app_token=APP_TOKEN, slack_signing_secret=None)
    handler = socket_mode_handler(bot.app, APP_TOKEN)
    handler.connect()
    socket.wait_connected()
    opened = fake_slack_server.wait_for("apps.connections.open")
    try:
        yield SocketSetup(bot, socket, opened.token)
    finally:
        handler.close()
        bot.server.stop()
        bot.deps.shutdown(wait=True)
        socket.stop()


@pytest.fixture
def socket_bot(socket_setup: SocketSetup, fake_slack: FakeSlack) -> BotUnderTest:
    socket_setup.bot.reset()
    return socket_setup.bot


@pytest.fixture
def socket(socket_setup: SocketSetup) -> FakeSocketMode:
    return socket_setup.socket


def test_the_connection_url_comes_from_apps_connections_open(socket_setup: SocketSetup) -> None:
    assert socket_setup.opened_with == APP_TOKEN
    assert socket_setup.socket.connections_opened == 1


def answer(socket: FakeSocketMode, fake: FakeSlack, text: str) -> dict[str, Any]:
    """`/jit <text>` over the socket: acked empty at once, answered through response_url."""
    url = fake.response_url("answer")
    envelope_id = socket.send_slash_command(slash_command_fields(text, response_url=url))
    assert socket.wait_ack(envelope_id) == {"envelope_id": envelope_id}
    return private_answer(fake, url)


def test_a_slash_command_envelope_is_acked_and_answered_with_the_help(
    socket_bot: BotUnderTest, socket: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    assert "orders-lookup" in answer(socket, fake_slack, "help")["text"]


def test_bad_input_is_answered_with_the_error_and_usage(
    socket_bot: BotUnderTest, socket: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    text = answer(socket, fake_slack, "orders-lookup order_id=12")["text"]
    assert text.splitlines()[0].startswith("order_id: '12' does not match")
    assert 'Usage: /jit orders-lookup order_id=1001 reason="..."' in text
    socket_bot.rejections.wait(1)
    assert socket_bot.submissions.items == []
    assert fake_slack.calls("chat.postMessage") == []


def test_a_valid_request_is_acked_empty_and_handed_off(
    socket_bot: BotUnderTest, socket: FakeSocketMode, fake_slack: FakeSlack
) -> None:
    envelope_id = socket.send_slash_command(slash_command_fields(
        'customer-orders customer_id=42 month=2026-11 reason="ticket 4411"', user_id=BOB,
        response_url=fake_slack.response_url()))
    ack = socket.wait_ack(envelope_id)
    assert ack == {"envelope_id": envelope_id}
    (submission,) = socket_bot.submissions.wait(1)
    assert submission.requester_id == BOB and submission.channel_id == OPS_CHANNEL
    assert submission.bound.values == {"customer_id": "42", "month": "2026-11"}


def test_only_app_tokens_open_socket_mode(socket_bot: BotUnderTest) -> None:
    with pytest.raises(ValueError, match="app-level token"):
        socket_mode_handler(socket_bot.app, "xoxb-test")


def test_jitbot_serve_runs_socket_mode_when_an_app_token_is_set(
    serve_process: Callable[..., ServeProcess], fake_socket_mode: FakeSocketMode,
    fake_slack: FakeSlack
) -> None:
    bot = serve_process(env={"SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": ""})
    fake_socket_mode.wait_connected()
    assert bot.get("/healthz").status == 200
    assert bot.slack.command("help").status == 404  # no HTTP endpoint for Slack here
    help_text = answer(fake_socket_mode, fake_slack, "help orders-lookup")["text"]
    assert help_text.startswith("/jit orders-lookup: Look up one order")
    assert bot.stop() == 0
    serving = next(r for r in bot.log_records() if r["message"] == "jitbot serving")
    assert serving["mode"] == "socket"
    assert APP_TOKEN not in bot.logs()


def test_the_manifest_asks_for_what_jitbot_uses() -> None:
    manifest = yaml.safe_load((REPO / "manifest.yaml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/jit"
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "message.channels", "message.groups", "reaction_added", "app_home_opened"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes >= {"commands", "chat:write", "files:write", "reactions:read",
                      "channels:history", "groups:history", "usergroups:read", "users:read",
                      "channels:read"}


def test_the_http_variant_points_every_url_at_the_events_endpoint() -> None:
    doc = (REPO / "docs" / "slack-app.md").read_text()
    variant = yaml.safe_load(doc.split("```yaml", 1)[1].split("```", 1)[0])
    url = f"https://jitbot.example.com{SLACK_PATH}"
    assert variant["features"]["slash_commands"][0]["url"] == url
    assert variant["settings"]["event_subscriptions"]["request_url"] == url
    assert variant["settings"]["interactivity"]["request_url"] == url
    assert variant["settings"]["socket_mode_enabled"] is False
