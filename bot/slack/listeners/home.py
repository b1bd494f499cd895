"""App Home: the viewer's approvals to give (with Approve / Deny), their active sessions
with time left, and their recent requests. Published on `app_home_opened` and again after
the viewer decides from it.

A click in App Home carries no channel or message, so a refusal is shown twice: at the top
of the re-published Home, which the person is looking at, and as an ephemeral in the
request's own thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from bot.core.ports import Refused
from bot.db.columns import utc_now
from bot.slack import mrkdwn, overview
from bot.slack.deps import SlackDeps
from bot.slack.handoff import right_away, tell, unexpected_failure
from bot.slack.workers import PoolBusy

log = logging.getLogger(__name__)

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home view


def register(app: App, deps: SlackDeps) -> None:
    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        workflow = deps.workflow
        user = str(event.get("user") or "")
        if event.get("tab", "home") != "home" or workflow is None or not user:
            return
        event_id = str(body.get("event_id") or "")

        def publish() -> None:
            if event_id and not workflow.claim_event(f"event:{event_id}"):
                return  # a redelivery: the first delivery published it
            publish_home(deps, user)

        try:
            deps.workers.submit("home", publish)
        except PoolBusy:
            log.warning("worker pool full; App Home not published", extra={"user": user})


def publish_home(deps: SlackDeps, user: str, notice: str | None = None) -> bool:
    """Publish `user`'s Home (views.publish); `notice` goes on top. False if Slack refused."""
    workflow = deps.workflow
    if workflow is None:
        return False
    shown = overview.home_blocks(workflow.status_for(user), utc_now())
    if notice:
        shown.insert(1, SectionBlock(text=MarkdownTextObject(
            text=f":warning: {mrkdwn.escape(notice)[:2900]}")))
    view = {"type": "home", "blocks": [b.to_dict() for b in shown[:MAX_HOME_BLOCKS]]}
    try:
        deps.client.views_publish(user_id=user, view=view)
    except SlackApiError as exc:
        log.warning("could not publish App Home",
                    extra={"user": user, "error": exc.response.get("error")})
        return False
    except (SlackRequestError, OSError) as exc:
        log.warning("could not publish App Home",
                    extra={"user": user, "error": type(exc).__name__})
        return False
    return True


def act_from_home(deps: SlackDeps, name: str, user: str, request_id: str,
                  work: Callable[[], Any], *, once: str | None = None) -> None:
    """Run a card button clicked in App Home on the pool, then re-publish that Home.
    With `once` (a delivery key) a redelivered click does nothing."""

    def run() -> None:
        notice: str | None = None
        try:
            workflow = deps.workflow
            if once and workflow is not None and not workflow.claim_event(once):
                return
            work()
        except Refused as refusal:
            notice = refusal.user_message
        except Exception:
            notice = unexpected_failure(name)
        if notice is not None:
            _tell_in_thread(deps, request_id, user, notice)
        publish_home(deps, user, notice)

    try:
        deps.workers.submit(name, run)
    except PoolBusy as busy:  # said on the Home, off the HTTP thread
        right_away(deps, "home-busy", publish_home, deps, user, str(busy))


def _tell_in_thread(deps: SlackDeps, request_id: str, user: str, text: str) -> None:
    workflow = deps.workflow
    if workflow is None:
        return
    try:
        view = workflow.view(request_id)
    except Refused:
        return  # no such request: the Home notice is all there is to say
    tell(deps, view.channel, user, text, view.reply_ts)
