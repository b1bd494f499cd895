"""Card buttons: Approve, Deny, Cancel, Run again, End session. Ack, then hand off.

App Home shows Approve / Deny with the same action ids; those clicks carry no channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.core.workflow import Workflow
from bot.slack import blocks
from bot.slack.deps import SlackDeps
from bot.slack.handoff import delivery_key, hand_off
from bot.slack.listeners import home

Verb = Callable[[Workflow, str, str], Any]
VERBS: dict[str, Verb] = {
    blocks.APPROVE: lambda wf, rid, user: wf.approve(rid, user),
    blocks.DENY: lambda wf, rid, user: wf.deny(rid, user),
    blocks.CANCEL: lambda wf, rid, user: wf.cancel(rid, user),
    blocks.RUN_AGAIN: lambda wf, rid, user: wf.run_again(rid, user),
    blocks.END_SESSION: lambda wf, rid, user: wf.end_session(rid, user),
}


def register(app: App, deps: SlackDeps) -> None:
    for action_id, verb in VERBS.items():
        app.action(action_id)(_listener(deps, action_id, verb))


def _listener(deps: SlackDeps, action_id: str, verb: Verb) -> Callable[..., None]:
    def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        workflow = deps.workflow
        user = str(body.get("user", {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id")
                      or (body.get("container") or {}).get("channel_id") or "")
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts")
        request_id = str(action.get("value") or "")
        if workflow is None or not request_id:
            return
        once = delivery_key(body)
        if not channel:
            # clicked in App Home: no channel to answer in, so Home shows the outcome
            home.act_from_home(deps, action_id, user, request_id,
                               lambda: verb(workflow, request_id, user), once=once)
            return
        hand_off(deps, action_id, user, channel,
                 lambda: verb(workflow, request_id, user), thread_ts, once=once)

    return on_click
