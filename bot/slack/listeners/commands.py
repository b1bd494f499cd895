"""`/jit`: help, runbook help, status and requests.

The listener acks before it reads the command: it hands the command to `deps.urgent` and
acks empty, so an incident channel's burst of commands costs its acks no more than a bare
app's. Everything the person then sees comes through the command's response_url, visible
to them only: help and input errors straight from the urgent thread (they need no I/O but
that post), a form when parameters were left out (views.open while the trigger id is
fresh, which is why the command goes to the urgent threads and not behind the worker
pool's backlog), and from the worker pool a request's card, the help list of what the
person may request and their status. Only a full urgent pool is said in the ack itself.
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
from bot.slack.handoff import in_background, reply, unexpected_failure
from bot.slack.help_pages import HelpPages
from bot.slack.listeners.modal import open_request_modal
from bot.slack.modal_views import ModalContext
from bot.slack.workers import PoolBusy

log = logging.getLogger(__name__)


def register(app: App, deps: SlackDeps) -> None:
    pages = HelpPages()  # of deps.catalog, which stays the same while the app runs

    @app.command(deps.command)
    def jit(ack: Ack, command: dict[str, Any], respond: Respond) -> None:
        try:
            deps.urgent.submit("command", answer_command, deps, command, respond, pages)
        except PoolBusy as busy:
            ack(**blocks.notice(str(busy)).as_kwargs(), response_type="ephemeral")
            return
        ack()


def answer_command(deps: SlackDeps, command: dict[str, Any], respond: Respond,
                   pages: HelpPages) -> None:
    """Everything `/jit` does after the ack; a failure is told through response_url."""
    try:
        handle_command(deps, command, respond, pages)
    except Refused as refusal:
        reply(respond, {"text": refusal.user_message})
    except Exception:
        reply(respond, {"text": unexpected_failure("command")})


def handle_command(deps: SlackDeps, command: dict[str, Any], respond: Respond,
                   pages: HelpPages) -> None:
    text = slack_unescape(command.get("text") or "").strip()
    user_id = str(command.get("user_id") or "")
    channel_id = str(command.get("channel_id") or "")
    first, _, rest = text.partition(" ")
    if not text or first.lower() == "help":
        deps.metrics.slack_commands.labels("help").inc()
        _help(deps, pages, respond, user_id, rest.strip())
        return
    if text.lower() == "status" and deps.workflow is not None:
        deps.metrics.slack_commands.labels("status").inc()
        _status(deps, respond, user_id)
        return

    def refuse(runbook: str | None, message: blocks.Message, problems: list[str]) -> None:
        deps.metrics.slack_commands.labels("rejected").inc()
        reply(respond, message.as_kwargs())
        if deps.rejections is not None:  # audited on a worker: the answer goes first
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
        trigger_id = str(command.get("trigger_id") or "")
        if trigger_id and deps.requests is not None and left_out:
            # the person left parameters out: a form asks for them, with what was typed
            context = ModalContext(runbook.name, channel_id)
            if open_request_modal(deps, trigger_id, runbook, parsed.values, parsed.reason,
                                  context) is None:
                deps.metrics.slack_commands.labels("modal").inc()
                return
        refuse(runbook.name, blocks.problem(exc.problems, exc.usage, hint), exc.problems)
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
    if _on_workers(deps, respond, "request", deps.requests, submission):
        deps.metrics.slack_commands.labels("request").inc()  # logged once recorded


def only_missing(runbook: Runbook, parsed: RequestText, error: RequestError) -> bool:
    """True when parameters were left out and nothing typed was wrong (a missing reason
    aside): the modal can ask for the rest."""
    reason_missing = runbook.reason == "required" and not (parsed.reason or "").strip()
    return bool(error.missing) and len(error.problems) == len(error.missing) + reason_missing


def _help(deps: SlackDeps, pages: HelpPages, respond: Respond, user_id: str,
          topic: str) -> None:
    if topic:
        runbook = deps.catalog.get(topic)
        if runbook is None:
            problems = [f"unknown runbook {topic!r}; "
                        f"known runbooks: {', '.join(deps.catalog.names) or 'none'}"]
            reply(respond, blocks.problem(problems, f"{deps.command} help <runbook>")
                  .as_kwargs())
        else:
            reply(respond, pages.runbook(runbook))
        return
    may_request = deps.may_request
    if may_request is None:
        reply(respond, pages.listing(list(deps.catalog)))
        return

    def answer() -> None:
        # membership look-ups go to Slack: on a worker, not on the urgent threads
        allowed: list[Runbook] = [rb for rb in deps.catalog if may_request(user_id, rb)]
        reply(respond, pages.listing(allowed))

    _on_workers(deps, respond, "help", answer)


def _status(deps: SlackDeps, respond: Respond, user_id: str) -> None:
    workflow = deps.workflow
    assert workflow is not None

    def answer() -> None:
        try:
            status = workflow.status_for(user_id)
        except Refused as refusal:  # the database is out: say so rather than nothing
            reply(respond, {"text": refusal.user_message})
            return
        reply(respond, overview.status_message(status, utc_now()).as_kwargs())

    _on_workers(deps, respond, "status", answer)


def _on_workers(deps: SlackDeps, respond: Respond, name: str, fn: Any, *args: Any) -> bool:
    """Queue `fn` on the worker pool; when the pool is full, tell the person to try again.
    Returns whether the work was queued."""
    try:
        deps.workers.submit(name, fn, *args)
    except PoolBusy as exc:
        reply(respond, blocks.notice(str(exc)).as_kwargs())
        return False
    return True


def slack_unescape(text: str) -> str:
    """Slack sends `&`, `<`, `>` in command text as entities; get back what was typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
