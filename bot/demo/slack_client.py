"""Requests to jitbot's HTTP endpoint built and signed exactly as Slack builds and signs them.

`jitbot demo` plays Slack's part with these, and the tests use them too (tests/slack_signing.py
re-exports this module). Bodies follow Slack's documented shapes: slash commands as a form
body, interactivity as a form body with one `payload` field holding JSON, and the Events
API as a JSON body. The signature is `v0=HMAC-SHA256(secret, "v0:{timestamp}:{body}")` in
X-Slack-Signature, with the timestamp in X-Slack-Request-Timestamp.

    slack = SlackHttp(server_url, signing_secret)
    reply = slack.command("help", response_url=fake.response_url())
    assert reply.status == 200
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from bot.demo.fake_slack import ALICE, APP_ID, BOT_USER_ID, OPS_CHANNEL, TEAM_ID

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
STALE_SECONDS = 5 * 60 + 30  # Slack (and Bolt) refuse timestamps older than 5 minutes

_ids = itertools.count(1)


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack adds to every request."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


# ------------------------------------------------------------------ bodies


def slash_command_body(text: str, **fields: Any) -> str:
    return urlencode(slash_command_fields(text, **fields))


def slash_command_fields(
    text: str,
    *,
    command: str = "/jit",
    user_id: str = ALICE,
    user_name: str = "alice",
    channel_id: str = OPS_CHANNEL,
    channel_name: str = "ops",
    team_id: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/commands/T0JIT/1/xxxxx",
    trigger_id: str | None = None,
) -> dict[str, str]:
    """A slash command's fields (the form body over HTTP, the payload in Socket Mode)."""
    # Slack escapes &, < and > in the text it sends
    sent = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {
        "token": "verification_token",
        "team_id": team_id,
        "team_domain": "jit-test",
        "channel_id": channel_id,
        "channel_name": channel_name,
        "user_id": user_id,
        "user_name": user_name,
        "command": command,
        "text": sent,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{next(_ids)}.111.xxx",
    }


def block_actions_payload(
    action_id: str,
    value: str,
    *,
    user_id: str = ALICE,
    user_name: str = "alice",
    channel_id: str = OPS_CHANNEL,
    channel_name: str = "ops",
    message_ts: str = "1678252213.679169",
    thread_ts: str | None = None,
    message: dict[str, Any] | None = None,
    block_id: str = "jit_actions",
    response_url: str = "https://hooks.slack.com/actions/T0JIT/1/random",
    trigger_id: str | None = None,
) -> dict[str, Any]:
    """A `block_actions` payload for a button click on the message at `message_ts`.

    `message` is the clicked message as Slack holds it (e.g. `fake.message(ch, ts)`);
    without it a minimal message is sent.
    """
    shown = dict(message or {"type": "message", "text": "", "ts": message_ts, "blocks": []})
    if thread_ts:
        shown.setdefault("thread_ts", thread_ts)
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False, **({"thread_ts": thread_ts} if thread_ts else {})},
        "trigger_id": trigger_id or f"{next(_ids)}.222.yyy",
        "team": {"id": TEAM_ID, "domain": "jit-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "message": shown,
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": block_id, "value": value,
                     "type": "button", "text": {"type": "plain_text", "text": action_id},
                     "action_ts": f"{time.time():.6f}"}],
    }


def view_submission_payload(
    callback_id: str,
    values: dict[str, dict[str, dict[str, Any]]],
    *,
    user_id: str = ALICE,
    user_name: str = "alice",
    private_metadata: str = "",
    view_id: str = "V0000001",
    blocks: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """`values` is Slack's `view.state.values`: block_id -> action_id -> element state."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "jit-test"},
        "user": {"id": user_id, "username": user_name, "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "trigger_id": f"{next(_ids)}.333.zzz",
        "view": {"id": view_id, "team_id": TEAM_ID, "type": "modal", "callback_id": callback_id,
                 "private_metadata": private_metadata, "blocks": blocks or [],
                 "state": {"values": values}, "hash": f"{time.time():.6f}.abc",
                 "root_view_id": view_id, "app_id": APP_ID, "bot_id": "B0JITBOT"},
        "response_urls": [],
    }


def interactive_body(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def event_envelope(event: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {
        "token": "verification_token",
        "team_id": TEAM_ID,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def reaction_added_event(
    reaction: str, *, user: str, channel: str, ts: str, item_user: str = BOT_USER_ID
) -> dict[str, Any]:
    return {"type": "reaction_added", "user": user, "reaction": reaction, "item_user": item_user,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time():.6f}"}


def message_event(
    text: str,
    *,
    user: str | None = ALICE,
    channel: str = OPS_CHANNEL,
    ts: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A `message` event; pass `bot_id=`, `subtype=`, `attachments=`, `thread_ts=` as needed."""
    stamp = ts or f"{time.time():.6f}"
    event: dict[str, Any] = {"type": "message", "text": text, "ts": stamp, "team": TEAM_ID,
                             "channel": channel, "event_ts": stamp, "channel_type": "channel"}
    if user is not None:
        event["user"] = user
    event.update(fields)
    return event


def url_verification_body(challenge: str) -> str:
    return json.dumps({"token": "verification_token", "challenge": challenge,
                       "type": "url_verification"})


# ------------------------------------------------------------------ sending


@dataclass(frozen=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class SlackHttp:
    """Sends Slack-shaped, Slack-signed requests to a jitbot HTTP endpoint."""

    def __init__(self, base_url: str, secret: str, path: str = "/slack/events") -> None:
        self.url = base_url.rstrip("/") + path
        self.secret = secret

    def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: int | None = None,
        signed: bool = True,
        secret: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = {"Content-Type": content_type, **(headers or {})}
        if signed:
            sent.update(sign(secret or self.secret, body, timestamp))
        return http_request("POST", self.url, body.encode("utf-8"), sent)

    def command(self, text: str, **fields: Any) -> Reply:
        return self.post(slash_command_body(text, **fields), FORM)

    def action(self, action_id: str, value: str, **fields: Any) -> Reply:
        return self.post(interactive_body(block_actions_payload(action_id, value, **fields)), FORM)

    def interactive(self, payload: dict[str, Any], **options: Any) -> Reply:
        return self.post(interactive_body(payload), FORM, **options)

    def event(self, event: dict[str, Any], *, event_id: str | None = None,
              headers: dict[str, str] | None = None) -> Reply:
        body = json.dumps(event_envelope(event, event_id=event_id))
        return self.post(body, JSON, headers=headers)


def http_request(method: str, url: str, data: bytes | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 10.0) -> Reply:
    """One HTTP request; error statuses are returned, not raised."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Reply(response.status, response.read().decode("utf-8"),
                         dict(response.headers.items()))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.read().decode("utf-8"), dict(exc.headers.items()))
