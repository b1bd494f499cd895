"""Hand a person's action to the worker pool and answer them privately if it is refused.

Every listener that acts on the workflow goes through `hand_off`, so a refusal, an outage
or a full pool reads the same everywhere and never reaches the person as a stack trace.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from slack_bolt import Respond
from slack_sdk.errors import SlackApiError

from bot.core.ports import Refused
from bot.slack import blocks
from bot.slack.deps import SlackDeps
from bot.slack.workers import PoolBusy, WorkerPool

log = logging.getLogger(__name__)


def tell(deps: SlackDeps, channel: str, user: str, text: str,
         thread_ts: str | None = None) -> None:
    """An ephemeral message only `user` sees."""
    message = blocks.notice(text)
    try:
        deps.client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread_ts,
                                       **message.as_kwargs())
    except SlackApiError as exc:
        log.warning("could not tell the user", extra={"error": exc.response.get("error")})


def reply(respond: Respond, page: dict[str, Any]) -> None:
    """Answer the person who typed a command, privately, through its response_url; a post
    that fails or that Slack refuses is logged (nobody else is left to tell)."""
    try:
        answer = respond(**page, response_type="ephemeral", replace_original=False)
    except Exception as exc:  # response_url unreachable
        log.warning("could not answer the command", extra={"error": type(exc).__name__})
        return
    if answer.status_code != 200:
        log.warning("could not answer the command", extra={"status": answer.status_code})


def delivery_key(body: dict[str, Any]) -> str | None:
    """What identifies one delivery of an interactive payload: Slack gives every click and
    every form submission its own trigger_id, a click its action_ts and a form its view
    hash, so the same payload delivered again (a retry by Slack or by a proxy) carries the
    same ones, and nothing else does."""
    trigger = str(body.get("trigger_id") or "")
    if not trigger:
        return None
    actions = body.get("actions") or [{}]
    stamp = actions[0].get("action_ts") or (body.get("view") or {}).get("hash") or ""
    return f"interaction:{trigger}:{stamp}"


def hand_off(deps: SlackDeps, name: str, user: str, channel: str,
             work: Callable[[], Any], thread_ts: str | None = None, *,
             once: str | None = None) -> bool:
    """Run `work` on the pool; refusals and failures become an ephemeral for `user`.
    With `once` (a delivery key), only the first delivery to claim it in the database
    runs; a redelivery does nothing and says nothing.
    Returns False when the pool is full (the person has been told)."""

    def run() -> None:
        try:
            if once and deps.workflow is not None and not deps.workflow.claim_event(once):
                return
            work()
        except Refused as refusal:
            tell(deps, channel, user, refusal.user_message, thread_ts)
        except Exception:
            tell(deps, channel, user, unexpected_failure(name), thread_ts)

    try:
        deps.workers.submit(name, run)
    except PoolBusy as busy:
        # told off the HTTP thread: the ack does not wait for Slack's answer
        right_away(deps, "tell-busy", tell, deps, channel, user, str(busy), thread_ts)
        return False
    return True


def unexpected_failure(task: str) -> str:
    """Log the exception being handled under a fresh reference; what to tell the person."""
    ref = uuid.uuid4().hex[:8]
    log.exception("action failed", extra={"task": task, "ref": ref})
    return (f"jitbot hit an unexpected error and did nothing more (reference {ref}); "
            "try again, or ask the jitbot operators with that reference")


def right_away(deps: SlackDeps, name: str, work: Callable[..., Any], *args: Any) -> None:
    """Run `work(*args)` on `deps.urgent`, off the HTTP thread that has just acked: for
    what cannot wait behind the worker pool (a form to open while its trigger id is
    fresh); at once, or during a burst of acks within a second."""
    in_background(deps.urgent, name, work, *args)


def in_background(pool: WorkerPool, name: str, work: Callable[..., Any], *args: Any) -> None:
    """Queue `work(*args)` on `pool` when nobody waits for its answer; a pool stuck or
    full is logged with `name` (the pool logs a failure too): never dropped in silence."""
    try:
        pool.submit(name, work, *args)
    except PoolBusy:
        log.warning("worker pool stuck or full; task dropped", extra={"task": name})
