"""Slack-signed requests for the tests: the builders live in bot/demo/slack_client.py (the
demo plays Slack with them); this module re-exports them and adds the tests' secret.

    slack = SlackHttp(server_url)            # signs with SIGNING_SECRET unless told otherwise
    reply = slack.command("help", response_url=fake.response_url())
    assert reply.status == 200
"""

from __future__ import annotations

from bot.demo import slack_client
from bot.demo.slack_client import (
    FORM,
    JSON,
    STALE_SECONDS,
    Reply,
    block_actions_payload,
    event_envelope,
    http_request,
    interactive_body,
    message_event,
    reaction_added_event,
    sign,
    slash_command_body,
    slash_command_fields,
    url_verification_body,
    view_submission_payload,
)

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # a made-up secret, Slack's format


class SlackHttp(slack_client.SlackHttp):
    """bot.demo.slack_client.SlackHttp signing with the tests' secret by default."""

    def __init__(self, base_url: str, secret: str = SIGNING_SECRET,
                 path: str = "/slack/events") -> None:
        super().__init__(base_url, secret, path)


__all__ = [
    "FORM",
    "JSON",
    "SIGNING_SECRET",
    "STALE_SECONDS",
    "Reply",
    "SlackHttp",
    "block_actions_payload",
    "event_envelope",
    "http_request",
    "interactive_body",
    "message_event",
    "reaction_added_event",
    "sign",
    "slash_command_body",
    "slash_command_fields",
    "url_verification_body",
    "view_submission_payload",
]
