"""Block Kit for the reply under an alert (one button per matching runbook) and the value
each button carries.

A button's value holds the runbook, the values matched in the alert and the alert's ts
as compact JSON when that fits in Slack's 2000 characters; otherwise the offer is stored
and the value holds only its id (`{"o": id}`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    MarkdownTextObject,
    SectionBlock,
)

from bot.slack import mrkdwn
from bot.slack.blocks import Message

ALERT_RUN = "jit_alert_run"  # action ids are jit_alert_run_0, _1, ...: unique per message
ALERT_RUN_ACTION = re.compile(rf"^{ALERT_RUN}_[0-9]+$")
VALUE_LIMIT = 2000  # Slack's limit for a button's value
LABEL_LIMIT = 75  # Slack's limit for a button's text
BUTTONS_PER_BLOCK = 25  # Slack's limit for one actions block


@dataclass(frozen=True)
class Offer:
    """What a click asks for: a runbook with the values matched in the alert."""

    runbook: str
    values: dict[str, str]
    alert_ts: str | None = None


@dataclass(frozen=True)
class OfferReference:
    """A button whose offer was too long for its value: look it up by id."""

    offer_id: str


@dataclass(frozen=True)
class OfferButton:
    runbook: str
    values: Mapping[str, str]
    value: str  # inline_value(...) or reference_value(...)


def inline_value(runbook: str, values: Mapping[str, str], alert_ts: str) -> str | None:
    """The button value carrying the whole offer, or None when it would not fit."""
    raw = json.dumps({"r": runbook, "v": dict(values), "t": alert_ts},
                     separators=(",", ":"), ensure_ascii=False)
    return raw if len(raw) <= VALUE_LIMIT else None


def reference_value(offer_id: str) -> str:
    return json.dumps({"o": offer_id}, separators=(",", ":"))


def read_value(raw: str) -> Offer | OfferReference:
    """Parse a button value; ValueError when it is not one jitbot made."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ValueError("the button's value is not JSON") from None
    if not isinstance(data, dict):
        raise ValueError("the button's value is not an object")
    if isinstance(data.get("o"), str) and data["o"]:
        return OfferReference(data["o"])
    runbook, values, alert_ts = data.get("r"), data.get("v"), data.get("t")
    if not isinstance(runbook, str) or not isinstance(values, dict):
        raise ValueError("the button's value names no runbook")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in values.items()):
        raise ValueError("the button's values are not text")
    return Offer(runbook, dict(values), alert_ts if isinstance(alert_ts, str) else None)


def button_label(runbook: str, values: Mapping[str, str]) -> str:
    """`Run orders-lookup (order_id=1001)`, clipped to Slack's 75 characters."""
    label = f"Run {runbook}"
    if values:
        label += " (" + ", ".join(f"{k}={v}" for k, v in values.items()) + ")"
    return label if len(label) <= LABEL_LIMIT else label[: LABEL_LIMIT - 1] + "…"


def alert_reply(buttons: Sequence[OfferButton]) -> Message:
    """The one reply under an alert: what a click does, then the buttons."""
    labels = [button_label(b.runbook, b.values) for b in buttons]
    intro = (":mag: *Runbooks for this alert.* A click makes you the requester: the request "
             "card appears in this thread, and nothing runs before an eligible approver "
             "approves it.")
    out: list[Block] = [SectionBlock(text=MarkdownTextObject(text=intro))]
    elements = [ButtonElement(text=label, action_id=f"{ALERT_RUN}_{i}", value=b.value)
                for i, (label, b) in enumerate(zip(labels, buttons, strict=True))]
    for start in range(0, len(elements), BUTTONS_PER_BLOCK):
        out.append(ActionsBlock(block_id=f"jit_alert_{start // BUTTONS_PER_BLOCK}",
                                elements=elements[start:start + BUTTONS_PER_BLOCK]))
    text = "Runbooks for this alert: " + ", ".join(mrkdwn.escape(label) for label in labels)
    return Message(text=text, blocks=out[:50])
