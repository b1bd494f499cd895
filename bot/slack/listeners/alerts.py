"""Alerts (DESIGN §1): a reply with runbook buttons under each new alert in a watched
channel, and what a click on one of those buttons does.

Every `message` event comes here (`app.message` would miss posts whose content is only in
attachments). Only new top-level posts count: from a person, an app, or a classic
integration (`bot_message`); edits, deletions, thread replies, broadcasts, joins and the
bot's own posts are ignored. Each alert is answered once: the event id and the alert's
channel + ts are both claimed in the database, so a redelivery, a retry with a new event
id, or a second replica finds the claim taken.

A click makes the clicker the requester, in the alert's thread. A runbook whose reason is
required opens the request modal with the alert's values filled in, so the clicker types
the reason; one whose reason is optional is requested at once, its reason a link to the
alert.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.core.alerts import match_alert, trigger_channels
from bot.core.ports import Refused
from bot.core.workflow import Workflow
from bot.db.repository import load_alert_offer, save_alert_offer
from bot.slack.alert_buttons import (
    ALERT_RUN_ACTION,
    Offer,
    OfferButton,
    OfferReference,
    alert_reply,
    inline_value,
    read_value,
    reference_value,
)
from bot.slack.alert_text import message_text
from bot.slack.channel_names import ChannelNames
from bot.slack.deps import SlackDeps
from bot.slack.handoff import delivery_key, hand_off, right_away, tell
from bot.slack.listeners.modal import open_request_modal
from bot.slack.modal_views import ModalContext
from bot.slack.workers import PoolBusy

log = logging.getLogger(__name__)

ALERT_SUBTYPES = (None, "bot_message")  # a person's or an app's post; a classic integration


def is_new_alert(event: dict[str, Any]) -> bool:
    """A new top-level post: not an edit, deletion, thread reply, broadcast or join."""
    if event.get("subtype") not in ALERT_SUBTYPES or event.get("hidden"):
        return False
    ts, thread_ts = event.get("ts"), event.get("thread_ts")
    return bool(ts and event.get("channel")) and thread_ts in (None, "", ts)


def is_own(event: dict[str, Any], bot_id: str | None, bot_user_id: str | None) -> bool:
    return bool((bot_id and event.get("bot_id") == bot_id)
                or (bot_user_id and event.get("user") == bot_user_id))


class AlertDesk:
    """Answers alerts and alert-button clicks for one process."""

    def __init__(self, deps: SlackDeps, names: ChannelNames | None = None):
        self.deps = deps
        self.names = names or ChannelNames(deps.client)
        watched = trigger_channels(deps.catalog)
        self.by_id = {c for c in watched if not c.startswith("#")}
        self.by_name = any(c.startswith("#") for c in watched)

    def watches(self, channel: str) -> bool:
        """Cheap pre-check in the listener: could any trigger watch this channel?"""
        return self.by_name or channel in self.by_id

    # ---- the alert ------------------------------------------------------------------

    def answer(self, workflow: Workflow, event: dict[str, Any], event_id: str) -> None:
        """Runs on the worker pool: match, claim, reply once in the alert's thread."""
        channel, ts = str(event["channel"]), str(event["ts"])
        name = self.names.name(channel) if self.by_name else None
        matches = match_alert(self.deps.catalog, channel, name, message_text(event))
        if not matches:
            return
        if event_id and not workflow.claim_event(f"event:{event_id}"):
            return  # this delivery was handled already
        if not workflow.claim_event(f"alert:{channel}:{ts}"):
            return  # the alert was answered (another replica, or a new event id)
        buttons = []
        for match in matches:
            value = inline_value(match.runbook, match.values, ts)
            if value is None:
                value = reference_value(save_alert_offer(workflow.database, match.runbook,
                                                         match.values, channel, ts))
            buttons.append(OfferButton(match.runbook, match.values, value))
        message = alert_reply(buttons)
        try:
            self.deps.client.chat_postMessage(channel=channel, thread_ts=ts,
                                              **message.as_kwargs())
        except (SlackApiError, SlackRequestError, OSError) as exc:
            error = (exc.response.get("error") if isinstance(exc, SlackApiError)
                     else type(exc).__name__)
            log.warning("could not answer an alert", extra={"channel": channel,
                                                            "error": error})
            return
        log.info("alert answered", extra={"channel": channel,
                                          "runbooks": [m.runbook for m in matches]})

    # ---- the click ------------------------------------------------------------------

    def click(self, workflow: Workflow, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Right after the ack (`right_away`): resolve the offer, then open the modal
        (while the trigger id is fresh) or hand the request to the pool."""
        deps = self.deps
        user = str((body.get("user") or {}).get("id") or "")
        container = body.get("container") or {}
        channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        message = body.get("message") or {}
        if not user or not channel:
            return
        thread_ts = message.get("thread_ts") or container.get("thread_ts") or message.get("ts")
        offer = self._offer(workflow, str(action.get("value") or ""))
        if offer is None:
            self._tell(channel, user, "this button no longer works; ask for the runbook with "
                       "/jit help", thread_ts)
            return
        alert_ts = offer.alert_ts or thread_ts
        runbook = deps.catalog.get(offer.runbook)
        if runbook is None:
            self._tell(channel, user, f"there is no runbook {offer.runbook} any more; "
                       "type /jit help to see the runbooks", alert_ts)
            return
        once = delivery_key(body)
        if runbook.reason == "required":
            try:
                if once and not workflow.claim_event(once):
                    return  # a redelivered click: the first delivery opened the form
            except Refused as refusal:
                self._tell(channel, user, refusal.user_message, alert_ts)
                return
            context = ModalContext(runbook.name, channel, alert_ts, source="alert")
            error = open_request_modal(deps, str(body.get("trigger_id") or ""), runbook,
                                       offer.values, None, context)
            if error is not None:
                self._tell(channel, user, f"could not open the request form ({error}); click "
                           "the button again", alert_ts)
            return

        def request() -> None:
            reason = self.alert_reference(channel, alert_ts)
            workflow.create(user, runbook.name, offer.values, reason, channel,
                            thread_ts=alert_ts, source="alert")

        hand_off(deps, "alert-request", user, channel, request, alert_ts, once=once)

    def _offer(self, workflow: Workflow, raw: str) -> Offer | None:
        try:
            found = read_value(raw)
        except ValueError as exc:
            log.warning("unreadable alert button", extra={"why": str(exc)})
            return None
        if isinstance(found, OfferReference):
            stored = load_alert_offer(workflow.database, found.offer_id)
            if stored is None:
                return None
            return Offer(stored.runbook, stored.values, stored.alert_ts)
        return found

    def alert_reference(self, channel: str, alert_ts: str | None) -> str:
        """The reason of a request made by one click: which alert it answers."""
        if alert_ts is None:
            return "requested from an alert"
        try:
            link = self.deps.client.chat_getPermalink(channel=channel, message_ts=alert_ts)
            return f"alert {link['permalink']}"
        except (SlackApiError, SlackRequestError, OSError, KeyError):
            name = self.names.name(channel)
            return f"alert {alert_ts} in #{name}" if name else f"alert {alert_ts} in {channel}"

    def _tell(self, channel: str, user: str, text: str, thread_ts: str | None) -> None:
        try:
            self.deps.workers.submit("alert-tell", tell, self.deps, channel, user, text,
                                     thread_ts)
        except PoolBusy:
            log.warning("worker pool full; a person was not told", extra={"user": user})


def register(app: App, deps: SlackDeps) -> None:
    desk = AlertDesk(deps)

    @app.event("message")
    def on_message(event: dict[str, Any], body: dict[str, Any], context: BoltContext) -> None:
        workflow = deps.workflow
        if (workflow is None or not is_new_alert(event)
                or is_own(event, context.bot_id, context.bot_user_id)
                or not desk.watches(str(event["channel"]))):
            return
        try:
            deps.workers.submit("alert", desk.answer, workflow, event,
                                str(body.get("event_id") or ""))
        except PoolBusy:
            log.warning("worker pool full; an alert was not answered",
                        extra={"channel": event.get("channel")})

    @app.action(ALERT_RUN_ACTION)
    def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        workflow = deps.workflow
        if workflow is not None:
            # looks the offer up and may open a form: off the HTTP thread, at once
            right_away(deps, "alert-click", desk.click, workflow, body, action)
