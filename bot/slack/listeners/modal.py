"""The request modal: opened by `/jit <runbook>` with parameters missing, or by an alert
button when the runbook needs a typed reason. Its submission is checked field by field:
errors go back in the ack (shown next to each field); a valid request closes the modal
and goes to the worker pool, where the workflow records it and posts its card.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.core.runbooks import Runbook
from bot.slack.deps import RequestSubmission, SlackDeps
from bot.slack.handoff import delivery_key
from bot.slack.modal_views import (
    MODAL_CALLBACK,
    REASON_BLOCK,
    ModalContext,
    ModalError,
    check_input,
    read_input,
    request_modal,
)
from bot.slack.workers import PoolBusy

log = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    @app.view(MODAL_CALLBACK)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        handle_submission(deps, ack, body, view)


def open_request_modal(deps: SlackDeps, trigger_id: str, runbook: Runbook,
                       given: Mapping[str, str], reason: str | None,
                       context: ModalContext) -> str | None:
    """Open the modal now: a trigger id lasts 3 seconds, so this runs in the listener,
    a single call. Returns None when it opened, else why not (Slack's error code)."""
    try:
        deps.client.views_open(trigger_id=trigger_id,
                               view=request_modal(runbook, given, reason, context))
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "error")
    except (SlackRequestError, OSError) as exc:
        error = type(exc).__name__
    else:
        return None
    log.warning("could not open the request modal",
                extra={"runbook": runbook.name, "error": error})
    return error


def handle_submission(deps: SlackDeps, ack: Ack, body: dict[str, Any],
                      view: dict[str, Any]) -> None:
    user = str((body.get("user") or {}).get("id") or "")
    try:
        context = ModalContext.load(str(view.get("private_metadata") or ""))
    except ModalError as exc:
        # not a view this jitbot opened; nothing to point the person at but the reason field
        log.warning("unreadable request modal", extra={"user": user, "why": str(exc)})
        ack(response_action="errors",
            errors={REASON_BLOCK: "This form is damaged; close it and type /jit again."})
        return
    runbook = deps.catalog.get(context.runbook)
    if runbook is None:
        ack(response_action="errors",
            errors={REASON_BLOCK: f"There is no runbook {context.runbook} any more; "
                                  "close this form and type /jit help."})
        return
    state = ((view.get("state") or {}).get("values")) or {}
    checked = check_input(runbook, read_input(runbook, state))
    if isinstance(checked, dict):
        ack(response_action="errors", errors=checked)
        return
    if deps.requests is None:
        ack(response_action="errors",
            errors={REASON_BLOCK: "This jitbot server takes no requests (it runs without "
                                  "a workflow)."})
        return
    submission = RequestSubmission(
        bound=checked,
        requester_id=user,
        channel_id=context.channel,
        source=context.source,
        thread_ts=context.thread_ts,
        delivery=delivery_key(body),
    )
    try:
        deps.workers.submit("request", deps.requests, submission)
    except PoolBusy as exc:
        ack(response_action="errors", errors={REASON_BLOCK: str(exc)})
        return
    ack()  # logged once recorded, on the worker
