"""Approve or deny by reacting to a request card.

`reaction_added` carries no thread: the request is found by the card's channel and ts.
Slack may deliver an event twice; the event id is claimed in the database first.
"""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import App, BoltContext

from bot.slack.deps import SlackDeps
from bot.slack.handoff import hand_off

# How long a reaction on one of the bot's messages waits for the card to be on record.
CARD_SAVE_WAIT_SECONDS = 3.0


def reaction_name(raw: str) -> str:
    """`+1::skin-tone-3` is still `+1`."""
    return raw.split("::", 1)[0]


def register(app: App, deps: SlackDeps) -> None:
    @app.event("reaction_added")
    def on_reaction(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        item = event.get("item") or {}
        name = reaction_name(str(event.get("reaction", "")))
        approve = name in deps.approve_reactions
        if item.get("type") != "message" or not (approve or name in deps.deny_reactions):
            return
        workflow = deps.workflow
        if workflow is None:
            return
        user = str(event.get("user", ""))
        channel, ts = str(item.get("channel", "")), str(item.get("ts", ""))
        event_id = str(body.get("event_id") or f"{channel}:{ts}:{user}:{name}")

        def decide() -> None:
            if not workflow.claim_event(f"event:{event_id}"):
                return  # a redelivery: the first delivery did the work
            view = workflow.find_by_card(channel, ts)
            # A card's ts is saved once chat.postMessage has answered, so a reaction on it
            # can arrive first; only a message of the bot's own is worth waiting for.
            deadline = time.monotonic() + CARD_SAVE_WAIT_SECONDS
            while (view is None and event.get("item_user") == context.bot_user_id
                   and time.monotonic() < deadline):
                time.sleep(0.1)
                view = workflow.find_by_card(channel, ts)
            if view is None:
                return  # a reaction on some other message
            if approve:
                workflow.approve(view.id, user)
            else:
                workflow.deny(view.id, user)

        hand_off(deps, "reaction", user, channel, decide, ts)
