"""`jitbot demo --script`: a scripted tour of the product that checks each step happened.

The tour acts through the same Workspace the interactive demo uses, so it proves the
demo's own code path as well as the bot's. Each step waits for what the bot must send the
fake Slack and fails with a message naming the step when it does not arrive in time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.rule import Rule

from bot.core.audit import AuditTrail
from bot.demo.blocks_text import button_label, buttons_of
from bot.demo.fake_slack import ALERTS_CHANNEL, OPS_CHANNEL, Call
from bot.demo.seed import KNOWN_ORDERS
from bot.demo.stage import Stage
from bot.demo.workspace import DemoError, Workspace, alert_listener_present

REQUEST = 'orders-lookup order_id=1001 reason="ticket 4411"'
ALERT = "order 1002 is stuck"
WAIT = 15.0  # seconds any one thing the bot must do may take


class StepFailed(Exception):
    pass


@dataclass
class Card:
    channel: str
    ts: str
    request_id: str
    thread_ts: str | None = None

    @property
    def thread(self) -> str:
        """Where the bot replies: the alert's thread, or the card's own."""
        return self.thread_ts or self.ts


def raw_pii(order_id: str) -> list[str]:
    """The seeded order's raw email, card number and phone: none may reach Slack."""
    order = next(o for o in KNOWN_ORDERS if o["pk"] == f"ORDER#{order_id}")
    return [order["customer_email"], order["card_number"], order["shipping"]["phone"]]


def _dump(call: Call) -> str:
    return json.dumps(call.args, ensure_ascii=False)


class Tour:
    def __init__(self, stage: Stage, workspace: Workspace, console: Console) -> None:
        self.stage = stage
        self.fake = stage.fake
        self.people = workspace
        self.console = console
        self.cards: dict[str, Card] = {}
        self._mark = 0

    # ------------------------------------------------------------ running

    def steps(self) -> list[tuple[str, Callable[[], None]]]:
        return [
            ("request", self.request),
            ("refused self-approval", self.self_approval),
            ("approval", self.approval),
            ("redacted results", self.redacted_results),
            ("alert button", self.alert_button),
            ("session end", self.session_end),
            ("audit trail", self.audit_trail),
        ]

    def run(self) -> list[str]:
        """Play every step; returns the failures ("step: why"), empty when all happened."""
        failures: list[str] = []
        steps = self.steps()
        for number, (name, step) in enumerate(steps, 1):
            self.console.print(Rule(f"[bold]Step {number}/{len(steps)}: {name}[/bold]",
                                    align="left"))
            try:
                step()
            except (StepFailed, DemoError) as exc:
                self._settle()
                message = f"step '{name}' did not happen: {exc}"
                self.console.print(f"[bold red]✗ {escape(message)}[/bold red]")
                failures.append(message)
                if name in ("request", "approval"):
                    break  # every later step builds on these
            else:
                self._settle()
                self.console.print(f"[bold green]✓ {name}[/bold green]")
        return failures

    def _settle(self) -> None:
        self.stage.settle()
        self.people.screen.catch_up()

    def _say(self, text: str) -> None:
        self.people.screen.catch_up()
        self.console.print(f"[italic]{escape(text)}[/italic]")

    def _since_mark(self) -> None:
        self._mark = len(self.fake.calls())

    def _wait(self, method: str | tuple[str, ...], what: str,
              predicate: Callable[[Call], bool], timeout: float = WAIT) -> Call:
        """The first successful call of `method` (one of them) after the mark that matches,
        or StepFailed naming `what`."""
        methods = (method,) if isinstance(method, str) else method
        deadline = time.monotonic() + timeout
        index = self._mark
        while (remaining := deadline - time.monotonic()) > 0:
            new = self.fake.calls_after(index, remaining)
            for call in new:
                if call.method in methods and call.ok and predicate(call):
                    return call
            index += len(new)
        raise StepFailed(f"jitbot did not {what} within {timeout:.0f}s")

    def _card_posted(self, where: str, thread_ts: str | None, *,
                     or_modal: bool = False) -> Card | None:
        """The request card posted in `where` (None: a modal opened for it instead)."""

        def is_card(call: Call) -> bool:
            if call.method == "views.open":
                return True
            return (str(call.args.get("text", "")).startswith("JIT request")
                    and call.args.get("channel") == where
                    and call.args.get("thread_ts") == thread_ts)

        methods = ("chat.postMessage", "views.open") if or_modal else ("chat.postMessage",)
        call = self._wait(methods, "post the request card", is_card)
        if call.method == "views.open":
            return None
        return Card(where, str(call.response["ts"]), _request_id(call.args), thread_ts)

    def _card(self, where: str, thread_ts: str | None) -> Card:
        card = self._card_posted(where, thread_ts)
        if card is None:
            raise StepFailed("a modal opened where the request card was expected")
        return card

    def _thread_reply(self, card: Card, needle: str, what: str) -> Call:
        return self._wait("chat.postMessage", what,
                          lambda c: c.args.get("thread_ts") == card.thread
                          and c.args.get("channel") == card.channel and needle in _dump(c))

    def _card_update(self, card: Card, needle: str, what: str) -> Call:
        return self._wait("chat.update", what,
                          lambda c: c.args.get("ts") == card.ts and needle in _dump(c))

    # ------------------------------------------------------------ the steps

    def request(self) -> None:
        self._say("alice, on call, needs to see order 1001 for ticket 4411.")
        self.people.act_as("alice")
        self._since_mark()
        self.people.command(REQUEST)
        card = self._card(OPS_CHANNEL, None)
        shown = json.dumps(self.fake.message(card.channel, card.ts))
        for fact in ("GetItem", "ORDER#1001", "jit-orders-read", "Approve"):
            if fact not in shown:
                raise StepFailed(f"the request card does not show {fact}")
        self.cards["1001"] = card

    def self_approval(self) -> None:
        self._say("alice tries to approve her own request with a reaction.")
        self._since_mark()
        self.people.react(":white_check_mark:")
        self._wait("chat.postEphemeral", "refuse alice's own approval in private",
                   lambda c: c.args.get("user") == self.people.user
                   and "your own request" in _dump(c))
        self._settle()
        card = self.cards["1001"]
        if any("Results" in _dump(c) for c in self.fake.calls("chat.postMessage")
               if c.args.get("thread_ts") == card.thread):
            raise StepFailed("results were posted after a self-approval")

    def approval(self) -> None:
        self._say("bob, an @oncall-leads member, approves with the same reaction.")
        self.people.act_as("bob")
        self._since_mark()
        self.people.react(":white_check_mark:")
        card = self.cards["1001"]
        self._thread_reply(card, "Results", "post the results in the card's thread")
        self._card_update(card, "Session active", "mark the card 'Session active'")

    def redacted_results(self) -> None:
        card = self.cards["1001"]
        self._say("What reached Slack must name the order but none of its raw PII.")
        posted = self._posted_about(card)
        if "ORDER#1001" not in posted:
            raise StepFailed("the results do not show ORDER#1001")
        if "redacted" not in posted:
            raise StepFailed("the results do not say how many values were redacted")
        leaked = [value for value in raw_pii("1001") if value in posted]
        if leaked:
            raise StepFailed(f"raw PII of order 1001 reached Slack: {len(leaked)} value(s)")
        self._say("No raw email, card number or phone number of order 1001 was posted "
                  "(messages and files checked).")

    def alert_button(self) -> None:
        self._say("A monitoring integration posts an alert into #alerts-orders.")
        self.people.act_as("alice")
        self._since_mark()
        alert = self.people.alert(ALERT)
        try:
            offer = self._wait(
                "chat.postMessage", "reply under the alert with a runbook button",
                lambda c: c.args.get("channel") == ALERTS_CHANNEL
                and c.args.get("thread_ts") == alert["ts"]
                and any("orders-lookup" in button_label(b) + str(b.get("value", ""))
                        for _, b in buttons_of(c.args.get("blocks") or [])),
                timeout=8.0)
        except StepFailed as exc:
            if not alert_listener_present():
                raise StepFailed(
                    f"{exc}: this build has no alert listener (bot/slack/listeners/alerts.py "
                    "is missing), so alerts get no runbook buttons") from None
            raise
        label = next(button_label(b) for _, b in buttons_of(offer.args.get("blocks") or [])
                     if "orders-lookup" in button_label(b) + str(b.get("value", "")))
        self._say(f"alice clicks [{label}] under the alert and becomes the requester.")
        self._since_mark()
        self.people.click(label)
        card = self._alert_card(alert["ts"])
        self.cards["1002"] = card
        self._say("carol, the other @oncall-leads member, approves by button.")
        self.people.act_as("carol")
        self._since_mark()
        self.people.click("Approve")
        self._thread_reply(card, "Results", "post the results in the alert's thread")
        posted = self._posted_about(card)
        if "ORDER#1002" not in posted:
            raise StepFailed("the results do not show ORDER#1002")
        if any(value in posted for value in raw_pii("1002")):
            raise StepFailed("raw PII of order 1002 reached Slack")

    def _alert_card(self, alert_ts: str) -> Card:
        """The card a click on an alert button makes; when the bot first asks for what the
        alert cannot give (the reason) in a modal, alice fills it in."""
        card = self._card_posted(ALERTS_CHANNEL, alert_ts, or_modal=True)
        if card is not None:
            return card
        self.people.screen.catch_up()
        self._since_mark()
        self.people.submit('reason="order 1002 stuck: alert in #alerts-orders"')
        return self._card(ALERTS_CHANNEL, alert_ts)

    def session_end(self) -> None:
        self._say("alice is done: she ends her sessions with End session.")
        self.people.act_as("alice")
        ended = 0
        for key in ("1002", "1001"):
            card = self.cards.get(key)
            if card is None:
                continue
            self._since_mark()
            target = self.people.click("End session")
            if target.message.get("ts") != card.ts:
                raise StepFailed(f"the newest End session button is not on request "
                                 f"{card.request_id}'s card")
            self._card_update(card, "Session ended", "mark the card 'Session ended'")
            self._thread_reply(card, "Session ended", "say in the thread the session ended")
            ended += 1
        if not ended:
            raise StepFailed("no session was active to end")

    def audit_trail(self) -> None:
        trail = AuditTrail(self.stage.runtime.database)
        report = trail.verify()
        if report.problem is not None:
            raise StepFailed(f"the audit trail is broken at row {report.problem.seq}: "
                             f"{report.problem.message}")
        card = self.cards["1001"]
        events = [r.event for r in trail.records() if r.request_id == card.request_id]
        for event in ("request.created", "approval.refused", "approval.granted",
                      "credentials.issued", "query.executed", "results.posted",
                      "session.ended"):
            if event not in events:
                raise StepFailed(f"the audit trail of request {card.request_id} lacks {event}")
        self._say(f"jitbot audit verify: {report.rows} rows, hash chain intact. "
                  f"Request {card.request_id}: {' → '.join(dict.fromkeys(events))}")

    # ------------------------------------------------------------ helpers

    def _posted_about(self, card: Card) -> str:
        """Everything the bot posted in the card's thread, uploaded files included."""
        texts = [_dump(c) for c in self.fake.calls()
                 if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral",
                                 "files.completeUploadExternal")
                 and (c.args.get("thread_ts") == card.thread or c.args.get("ts") == card.ts)]
        files = [(f.get("content") or b"").decode("utf-8", errors="replace")
                 for f in self.fake.files()
                 if f.get("thread_ts") == card.thread and f.get("completed")]
        return "\n".join(texts + files)


def _request_id(args: dict[str, Any]) -> str:
    for _, button in buttons_of(args.get("blocks") or []):
        if str(button.get("action_id", "")).startswith("jit_"):
            return str(button.get("value", ""))
    return ""
