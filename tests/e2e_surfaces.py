"""Shared by the end-to-end tests of alerts, the request modal, App Home and event
de-duplication: a `jitbot serve` subprocess per module against the fake Slack and moto,
and payloads shaped like Slack's for what those tests send."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.demo.fake_slack import APP_ID, OPS_CHANNEL, TEAM_ID, Call, FakeSlack
from tests.slack_signing import Reply, view_submission_payload
from tests.support.slack import REPO, ServeProcess, jitbot_command, serve_env

RunbookEdit = Callable[[dict[str, Any]], None]


def text_of(value: Any) -> str:
    if isinstance(value, Call):
        value = value.args
    return json.dumps(value, ensure_ascii=False)


def runbooks_copy(folder: Path, edits: dict[str, RunbookEdit] | None = None,
                  extra: dict[str, dict[str, Any]] | None = None) -> Path:
    """The shipped runbooks in `folder`, each `edits[name]` applied, `extra` files added."""
    for file in (REPO / "runbooks").glob("*.yaml"):
        shutil.copy(file, folder / file.name)
    for name, edit in (edits or {}).items():
        path = folder / f"{name}.yaml"
        data = yaml.safe_load(path.read_text())
        edit(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    for name, data in (extra or {}).items():
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return folder


def serve(fake: FakeSlack, tmp_path_factory: pytest.TempPathFactory,
          runbooks: Path) -> Iterator[ServeProcess]:
    """A module's `jitbot serve`; stopped cleanly at the end, secrets never logged."""
    home = tmp_path_factory.mktemp("serve")
    env = serve_env(fake, home, JITBOT_RUNBOOKS_DIR=str(runbooks))
    process = ServeProcess(env, home / "serve.log")
    process.start()
    yield process
    assert process.stop() == 0, process.logs()
    for secret in ("SecretAccessKey", "SessionToken", "Traceback"):
        assert secret not in process.logs(), process.logs()


def audit_rows(bot: ServeProcess) -> list[dict[str, Any]]:
    result = subprocess.run(
        [*jitbot_command(), "audit", "export", "--format", "jsonl"], env=bot.env, cwd=REPO,
        capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def audit_events(bot: ServeProcess, request_id: str) -> list[str]:
    return [r["event"] for r in audit_rows(bot) if r.get("request_id") == request_id]


def audit_verifies(bot: ServeProcess) -> None:
    result = subprocess.run([*jitbot_command(), "audit", "verify"], env=bot.env, cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------- what the bot posted


def thread_posts(slack: FakeSlack, channel: str, ts: str) -> list[Call]:
    """The bot's successful posts in the thread of `ts`."""
    return [c for c in slack.calls("chat.postMessage")
            if c.ok and c.args.get("channel") == channel and c.args.get("thread_ts") == ts]


def wait_thread(slack: FakeSlack, channel: str, ts: str, needle: str,
                timeout: float = 20.0) -> Call:
    return slack.wait_for(
        "chat.postMessage",
        lambda c: (c.ok and c.args.get("channel") == channel
                   and c.args.get("thread_ts") == ts and needle in text_of(c)),
        timeout)


def card_in_thread(slack: FakeSlack, channel: str, thread_ts: str) -> Call:
    return wait_thread(slack, channel, thread_ts, "JIT request")


def card_request_id(card: Call) -> str:
    actions = [b for b in card.args["blocks"] if b.get("type") == "actions"]
    return str(actions[0]["elements"][0]["value"])


def approve_card(bot: Any, slack: FakeSlack, card: Call, user: str) -> str:
    """Click Approve on `card` as `user` (through the bot's signed HTTP endpoint); return
    the card's ts. `bot` is anything with a `.slack` SlackHttp (a ServeProcess or a child)."""
    ts = str(card.response["ts"])
    reply = bot.slack.action("jit_approve", card_request_id(card), user_id=user,
                             channel_id=OPS_CHANNEL, message_ts=ts,
                             message=slack.message(OPS_CHANNEL, ts))
    assert reply.status == 200
    return ts


def buttons(message: Call | dict[str, Any]) -> list[dict[str, Any]]:
    args = message.args if isinstance(message, Call) else message
    return [e for b in args.get("blocks") or [] if b.get("type") == "actions"
            for e in b["elements"]]


def new_ts() -> str:
    time.sleep(0.001)  # distinct ts for alerts sent back to back
    return f"{time.time():.6f}"


# ---------------------------------------------------------------- what people do


def click_card(bot: ServeProcess, slack: FakeSlack, action_id: str, card: Call,
               user: str) -> Reply:
    """Click a button on a card (top-level or in a thread) as `user`."""
    channel, ts = str(card.response["channel"]), str(card.response["ts"])
    message = slack.message(channel, ts)
    return bot.slack.action(action_id, card_request_id(card), user_id=user, channel_id=channel,
                            message_ts=ts, message=message,
                            thread_ts=message.get("thread_ts"))


def click_alert_button(bot: ServeProcess, slack: FakeSlack, reply: Call, user: str,
                       index: int = 0) -> Reply:
    channel, ts = str(reply.response["channel"]), str(reply.response["ts"])
    message = slack.message(channel, ts)
    button = buttons(message)[index]
    return bot.slack.action(button["action_id"], button["value"], user_id=user,
                            channel_id=channel, message_ts=ts, message=message,
                            thread_ts=message.get("thread_ts"), block_id="jit_alert_0")


def view_state(view: dict[str, Any], entered: dict[str, str]) -> dict[str, Any]:
    """`view.state.values` for an opened modal, as Slack would send it: `entered` maps a
    block id to what the person typed, picked or chose; other inputs keep their initial
    value."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        block_id, action_id, kind = block["block_id"], element["action_id"], element["type"]
        value = entered.get(block_id)
        if kind == "static_select":
            initial = (element.get("initial_option") or {}).get("value")
            chosen = value if value is not None else initial
            option = next((o for o in element["options"] if o["value"] == chosen), None)
            state[block_id] = {action_id: {"type": kind, "selected_option": option}}
        elif kind == "datepicker":
            state[block_id] = {action_id: {
                "type": kind,
                "selected_date": value if value is not None else element.get("initial_date")}}
        else:
            state[block_id] = {action_id: {
                "type": kind,
                "value": value if value is not None else element.get("initial_value")}}
    return state


def submit_view(bot: ServeProcess, view: dict[str, Any], entered: dict[str, str],
                user: str) -> Reply:
    payload = view_submission_payload(view["callback_id"], view_state(view, entered),
                                      user_id=user, private_metadata=view["private_metadata"],
                                      view_id=view["id"], blocks=view["blocks"])
    return bot.slack.interactive(payload)


def home_click(action_id: str, request_id: str, *, user: str,
               view_id: str = "VHOME0001") -> dict[str, Any]:
    """A `block_actions` payload for a button clicked in App Home: no channel, no message."""
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "verification_token",
        "container": {"type": "view", "view_id": view_id},
        "trigger_id": f"{time.time():.0f}.444.home",
        "team": {"id": TEAM_ID, "domain": "jit-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "view": {"id": view_id, "team_id": TEAM_ID, "type": "home", "blocks": [],
                 "private_metadata": "", "callback_id": "", "state": {"values": {}},
                 "hash": f"{time.time():.6f}.home", "app_id": APP_ID, "bot_id": "B0JITBOT"},
        "actions": [{"action_id": action_id, "block_id": f"home_{request_id}",
                     "value": request_id, "type": "button",
                     "text": {"type": "plain_text", "text": action_id},
                     "action_ts": f"{time.time():.6f}"}],
    }


def command(bot: ServeProcess, slack: FakeSlack, text: str, user: str,
            channel: str = OPS_CHANNEL) -> Reply:
    reply = bot.slack.command(text, user_id=user, channel_id=channel,
                              response_url=slack.response_url("cmd"))
    assert reply.status == 200, reply.body
    return reply


def request_card(bot: ServeProcess, slack: FakeSlack, text: str, user: str) -> Call:
    """`/jit <text>` in the ops channel; the card the bot posted for it."""
    before = {c.response.get("ts") for c in slack.calls("chat.postMessage")}
    command(bot, slack, text, user)
    return slack.wait_for(
        "chat.postMessage",
        lambda c: (c.ok and c.args.get("channel") == OPS_CHANNEL and "JIT request" in text_of(c)
                   and c.response.get("ts") not in before and not c.args.get("thread_ts")))

