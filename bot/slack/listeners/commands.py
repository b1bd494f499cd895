"""`/jit`: help, runbook help, and requests. Parses, acks, hands off; nothing slow here.

Help and input errors need no I/O, so they are the ack itself (Slack shows an ack body
to the person who typed the command only). A valid request goes to the worker pool,
where the workflow records it and posts its card. A request with parameters left out
opens the request modal (views.open, one call, while the trigger id is fresh).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.core.params import (
    RequestError,
    RequestText,
    RequestTextError,
    bind,
    split_request_text,
)
from bot.core.ports import Refused
from bot.core.runbooks import Runbook
from bot.db.columns import utc_now
from bot.slack import blocks, overview
from bot.slack.deps import Rejection, RequestSubmission, SlackDeps
from bot.slack.handoff import in_background, right_away
from bot.slack.help_pages import HelpPages
from bot.slack.listeners.modal import open_request_modal
from bot.slack.modal_views import ModalContext
from bot.slack.workers import PoolBusy

log = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    pages = HelpPages()  # of deps.catalog, which stays the same while the app runs

    @app.command(deps.command)
    def jit(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        handle_command(deps, ack, command, respond, pages)


def handle_command(deps: SlackDeps, ack: Ack, command: dict[str, Any], respond: Respond,
                   pages: HelpPages) -> None:
    text = slack_unescape(command.get("text") or "").strip()
    user_id = str(command.get("user_id") or "")
    channel_id = str(command.get("channel_id") or "")
    first, _, rest = text.partition(" ")
    if not text or first.lower() == "help":
        deps.metrics.slack_commands.labels("help").inc()
        _help(deps, pages, ack, respond, user_id, rest.strip())
        return
    if text.lower() == "status" and deps.workflow is not None:
        deps.metrics.slack_commands.labels("status").inc()
        _status(deps, ack, respond, user_id)
        return

    def refuse(runbook: str | None, message: blocks.Message, problems: list[str]) -> None:
        deps.metrics.slack_commands.labels("rejected").inc()
        ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
        # logged where it is audited, on a worker: the ack goes first
        if deps.rejections is not None:
            in_background(deps.workers, "audit-rejection", deps.rejections,
                        Rejection(user_id, channel_id, runbook, problems))

    try:
        parsed = split_request_text(text)
    except RequestTextError as exc:
        problems = [str(exc)]
        refuse(None, blocks.problem(problems, blocks.GENERAL_USAGE), problems)
        return
    runbook = deps.catalog.get(parsed.runbook)
    if runbook is None:
        problems = [f"unknown runbook {parsed.runbook!r}; "
                    f"known runbooks: {', '.join(deps.catalog.names) or 'none'}"]
        message = blocks.problem(problems, blocks.GENERAL_USAGE,
                                 f"Type {deps.command} help to see every runbook.")
        refuse(None, message, problems)
        return
    try:
        bound = bind(runbook, parsed.values, parsed.reason)
    except RequestError as exc:
        hint = None
        left_out = only_missing(runbook, parsed, exc)
        if left_out:
            hint = (f"Give every parameter on the command line; {deps.command} help "
                    f"{runbook.name} lists them with examples.")
        problems, usage = exc.problems, exc.usage  # `exc` is gone once the handler ends
        trigger_id = str(command.get("trigger_id") or "")
        if trigger_id and deps.requests is not None and left_out:
            # the person left parameters out: a form asks for them, with what was typed
            ack()
            rejection = Rejection(user_id, channel_id, runbook.name, problems)

            def ask_with_a_form() -> None:
                context = ModalContext(runbook.name, channel_id)
                if open_request_modal(deps, trigger_id, runbook, parsed.values, parsed.reason,
                                      context) is None:
                    deps.metrics.slack_commands.labels("modal").inc()
                    return
                # built only now: when the form opens, nobody reads it
                message = blocks.problem(problems, usage, hint)
                respond(text=message.text, blocks=message.blocks, response_type="ephemeral")
                deps.metrics.slack_commands.labels("rejected").inc()
                if deps.rejections is not None:
                    in_background(deps.workers, "audit-rejection", deps.rejections, rejection)

            right_away(deps, "request-form", ask_with_a_form)
            return
        refuse(runbook.name, blocks.problem(problems, usage, hint), problems)
        return
    if deps.requests is None:
        problems = ["this jitbot server takes no requests: it runs without a workflow"]
        refuse(runbook.name, blocks.problem(problems, runbook.usage()), problems)
        return
    submission = RequestSubmission(
        bound=bound,
        requester_id=user_id,
        channel_id=channel_id,
        source="command",
        trigger_id=command.get("trigger_id"),
        response_url=command.get("response_url"),
        respond=respond,
    )
    if not _ack_after_handing_off(deps, ack, "request", deps.requests, submission):
        return
    deps.metrics.slack_commands.labels("request").inc()  # logged once recorded, on a worker


def only_missing(runbook: Runbook, parsed: RequestText, error: RequestError) -> bool:
    """True when parameters were left out and nothing typed was wrong (a missing reason
    aside): the modal can ask for the rest."""
    reason_missing = runbook.reason == "required" and not (parsed.reason or "").strip()
    return bool(error.missing) and len(error.problems) == len(error.missing) + reason_missing


def _help(deps: SlackDeps, pages: HelpPages, ack: Ack, respond: Respond, user_id: str,
          topic: str) -> None:
    if topic:
        runbook = deps.catalog.get(topic)
        if runbook is None:
            problems = [f"unknown runbook {topic!r}; "
                        f"known runbooks: {', '.join(deps.catalog.names) or 'none'}"]
            message = blocks.problem(problems, f"{deps.command} help <runbook>")
            ack(text=message.text, blocks=message.blocks, response_type="ephemeral")
        else:
            ack(**pages.runbook(runbook), response_type="ephemeral")
        return
    may_request = deps.may_request
    if may_request is None:
        ack(**pages.listing(list(deps.catalog)), response_type="ephemeral")
        return

    def answer() -> None:
        # membership look-ups go to Slack, hence off the listener thread
        allowed: list[Runbook] = [rb for rb in deps.catalog if may_request(user_id, rb)]
        respond(**pages.listing(allowed), response_type="ephemeral")

    _ack_after_handing_off(deps, ack, "help", answer)


def _status(deps: SlackDeps, ack: Ack, respond: Respond, user_id: str) -> None:
    workflow = deps.workflow
    assert workflow is not None

    def answer() -> None:
        try:
            status = workflow.status_for(user_id)
        except Refused as refusal:  # the database is out: say so rather than nothing
            respond(text=refusal.user_message, response_type="ephemeral")
            return
        message = overview.status_message(status, utc_now())
        respond(text=message.text, blocks=message.as_kwargs()["blocks"],
                response_type="ephemeral")

    _ack_after_handing_off(deps, ack, "status", answer)


def _ack_after_handing_off(deps: SlackDeps, ack: Ack, name: str, fn: Any, *args: Any) -> bool:
    """Queue `fn` on the worker pool and ack empty; when the pool is full, the ack itself
    tells the person to try again. Returns whether the work was queued."""
    try:
        deps.workers.submit(name, fn, *args)
    except PoolBusy as exc:
        busy = blocks.notice(str(exc))
        ack(text=busy.text, blocks=busy.blocks, response_type="ephemeral")
        return False
    ack()
    return True


def slack_unescape(text: str) -> str:
    """Slack sends `&`, `<`, `>` in command text as entities; get back what was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
