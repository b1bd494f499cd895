"""The people of the demo's Slack workspace, and what they can do to the bot.

Each action is what Slack itself would do when a person acts: update the fake Slack's
state (a reaction on a message, an alert in a channel) and send the bot the signed
request Slack sends — a slash command, a `block_actions` click, a `view_submission`, or
an Events API callback.
"""

from __future__ import annotations

import importlib.util
import shlex
import time
from dataclasses import dataclass
from typing import Any

from bot.demo.blocks_text import button_label, buttons_of
from bot.demo.fake_slack import ALERTS_CHANNEL, ALICE, OPS_CHANNEL, FakeSlack
from bot.demo.screen import Screen
from bot.demo.slack_client import (
    Reply,
    SlackHttp,
    block_actions_payload,
    message_event,
    reaction_added_event,
    view_submission_payload,
)

MONITOR_USER = "U0MONITOR"
MONITOR_BOT = "B0MONITOR"
MONITOR_APP = "A0MONITOR"
MONITOR_NAME = "monitor"


class DemoError(Exception):
    """Something the person asked for cannot be done; the message says why and what to try."""


@dataclass(frozen=True)
class Target:
    """A message (or view) holding the button someone clicks."""

    channel: str
    message: dict[str, Any]
    block_id: str
    button: dict[str, Any]


def alert_listener_present() -> bool:
    """Whether this build of jitbot has the alert listener (DESIGN §1, Alerts)."""
    return importlib.util.find_spec("bot.slack.listeners.alerts") is not None


class Workspace:
    def __init__(self, fake: FakeSlack, slack: SlackHttp, screen: Screen) -> None:
        self.fake = fake
        self.slack = slack
        self.screen = screen
        self.user = ALICE
        self.channel = OPS_CHANNEL
        # at the prompt the person's own typing already shows the command
        self.echo_commands = True
        fake.add_user(MONITOR_USER, MONITOR_NAME)

    @property
    def user_name(self) -> str:
        return self.fake.users[self.user]

    def people(self) -> dict[str, str]:
        """name -> user id, the bot and the monitoring integration left out."""
        return {name: uid for uid, name in self.fake.users.items()
                if uid not in (MONITOR_USER,) and name != "jitbot"}

    def groups_of(self, user_id: str) -> list[str]:
        return [f"@{handle}" for handle, members in sorted(self.fake.usergroups.items())
                if user_id in members]

    # ------------------------------------------------------------ acting

    def act_as(self, name: str) -> str:
        people = self.people()
        wanted = name.strip().lstrip("@").lower()
        if wanted not in people:
            raise DemoError(f"there is no {name!r} here; people: {', '.join(sorted(people))}")
        self.user = people[wanted]
        return self.user

    def command(self, text: str) -> Reply:
        """`/jit <text>` typed by the current user in #ops."""
        if self.echo_commands:
            self.screen.action(self.user, f"/jit {text}".rstrip())
        reply = self.slack.command(
            text, user_id=self.user, user_name=self.user_name, channel_id=self.channel,
            channel_name=self.fake.channels[self.channel],
            response_url=self.fake.response_url(f"cmd-{self.user}"))
        self._check(reply, "/jit")
        if reply.body.strip().startswith("{"):
            self.screen.private_reply(self.user, reply.json(), "reply to the command")
        return reply

    def react(self, reaction: str) -> dict[str, Any]:
        """React to the newest request card; returns the card."""
        name = reaction.strip().strip(":")
        if not name:
            raise DemoError("say which reaction, e.g. react :white_check_mark:")
        card = self.last_card()
        self.fake.react_as(self.user, card["channel"], card["ts"], name)
        self.screen.action(self.user, f"reacted :{name}: to {_card_name(card)}")
        event = reaction_added_event(name, user=self.user, channel=card["channel"],
                                     ts=card["ts"])
        self._check(self.slack.event(event), "the reaction event")
        return card

    def click(self, label: str) -> Target:
        """Click the button labelled `label` on the newest message that has one."""
        target = self.find_button(label)
        shown = button_label(target.button)
        self.screen.action(self.user, f"clicked [{shown}] in {self.screen.where(target.channel)}")
        message = target.message
        payload = block_actions_payload(
            str(target.button.get("action_id")), str(target.button.get("value", "")),
            user_id=self.user, user_name=self.user_name, channel_id=target.channel,
            channel_name=self.fake.channels.get(target.channel, target.channel),
            message_ts=message["ts"], thread_ts=message.get("thread_ts"), message=message,
            block_id=target.block_id,
            response_url=self.fake.response_url(f"cmd-{self.user}"))
        payload["actions"][0]["text"] = target.button.get("text")
        self._check(self.slack.interactive(payload), "the button click")
        return target

    def alert(self, text: str) -> dict[str, Any]:
        """A monitoring integration (an app with a bot user) posts into #alerts-orders."""
        if not text.strip():
            raise DemoError("say what the alert says, e.g. alert order 1002 is stuck")
        message = self.fake.post_as(ALERTS_CHANNEL, text, user=MONITOR_USER, bot_id=MONITOR_BOT,
                                    app_id=MONITOR_APP)
        self.screen.posted_by_someone(message, f"{MONITOR_NAME} (app)")
        event = message_event(text, user=MONITOR_USER, channel=ALERTS_CHANNEL, ts=message["ts"],
                              bot_id=MONITOR_BOT, app_id=MONITOR_APP,
                              bot_profile={"id": MONITOR_BOT, "app_id": MONITOR_APP,
                                           "name": MONITOR_NAME})
        self._check(self.slack.event(event), "the alert's message event")
        return message

    def submit(self, text: str) -> dict[str, Any]:
        """Fill and submit the newest modal opened for the current user: name=value pairs."""
        view = self.last_view()
        try:
            pairs = shlex.split(text)
        except ValueError as exc:
            raise DemoError(f"cannot read {text!r}: {exc}") from None
        given: dict[str, str] = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            if not sep:
                raise DemoError(f"{pair!r} is not name=value")
            given[name] = value
        values = _view_state(view, given)
        self.screen.action(self.user, f"submitted the modal {text}".rstrip())
        payload = view_submission_payload(
            str(view.get("callback_id", "")), values, user_id=self.user,
            user_name=self.user_name, private_metadata=str(view.get("private_metadata", "")),
            view_id=str(view["id"]), blocks=view.get("blocks") or [])
        reply = self.slack.interactive(payload)
        self._check(reply, "the modal submission")
        if reply.body.strip().startswith("{"):
            body = reply.json()
            errors = body.get("errors") or {}
            if body.get("response_action") == "errors":
                lines = "\n".join(f"  {field}: {problem}" for field, problem in errors.items())
                raise DemoError(f"the modal refused the values:\n{lines}")
        return view

    def home(self) -> None:
        """The current user opens the bot's App Home tab."""
        self.screen.action(self.user, "opened jitbot's App Home")
        event = {"type": "app_home_opened", "user": self.user, "channel": "D" + self.user,
                 "tab": "home", "event_ts": f"{time.time():.6f}"}
        self._check(self.slack.event(event), "the app_home_opened event")

    # ------------------------------------------------------------ finding things

    def last_card(self) -> dict[str, Any]:
        for message in reversed(self.fake.all_messages()):
            if str(message.get("text", "")).startswith("JIT request"):
                return message
        raise DemoError("there is no request card yet; make one with /jit <runbook> ...")

    def find_button(self, label: str) -> Target:
        wanted = label.strip().strip("[]").lower()
        if not wanted:
            raise DemoError("say which button, e.g. click Approve")
        seen: list[str] = []
        for exact in (True, False):
            for message in reversed(self.fake.all_messages()):
                for block_id, button in buttons_of(message.get("blocks") or []):
                    shown = button_label(button)
                    seen.append(shown)
                    if (shown.lower() == wanted) if exact else (wanted in shown.lower()):
                        return Target(message["channel"], message, block_id, button)
        offered = ", ".join(dict.fromkeys(seen)) or "none"
        raise DemoError(f"no message has a button {label!r}; buttons on screen: {offered}")

    def last_view(self) -> dict[str, Any]:
        opened = [c for c in self.fake.calls("views.open") if c.ok]
        if not opened:
            raise DemoError("no modal is open; /jit <runbook> without its parameters opens one")
        return dict(opened[-1].response["view"])

    def _check(self, reply: Reply, what: str) -> None:
        if reply.status != 200:
            raise DemoError(f"the bot answered {what} with HTTP {reply.status}: "
                            f"{reply.body[:200]}")


def _card_name(card: dict[str, Any]) -> str:
    header = next((b for b in card.get("blocks") or [] if b.get("type") == "header"), None)
    return str((header or {}).get("text", {}).get("text", "the newest card"))


def _view_state(view: dict[str, Any], given: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Slack's `view.state.values` for a modal: the initial values, overridden by `given`
    (matched by block id, action id or label)."""
    values: dict[str, dict[str, Any]] = {}
    unused = dict(given)
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            continue
        element = block.get("element") or {}
        block_id, action_id = str(block.get("block_id", "")), str(element.get("action_id", ""))
        label = str((block.get("label") or {}).get("text", "")).lower()
        value = next((unused.pop(key) for key in list(unused)
                      if key in (block_id, action_id) or key.lower() == label), None)
        kind = element.get("type")
        if kind in ("static_select", "external_select"):
            chosen = value if value is not None else (
                (element.get("initial_option") or {}).get("value"))
            option = next((o for o in element.get("options", []) if o.get("value") == chosen),
                          None)
            state: dict[str, Any] = {"type": kind, "selected_option": option}
        elif kind == "datepicker":
            state = {"type": kind, "selected_date": value or element.get("initial_date")}
        else:
            state = {"type": kind or "plain_text_input",
                     "value": value if value is not None else element.get("initial_value")}
        values[block_id] = {action_id: state}
    if unused:
        raise DemoError(f"the modal has no field {', '.join(sorted(unused))}")
    return values
