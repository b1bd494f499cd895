"""The workflow's RequestView as the card's plain data (the only place that maps them)."""

from __future__ import annotations

from bot.core.audit import SYSTEM_ACTOR
from bot.core.ports import RequestView
from bot.core.states import RequestState
from bot.slack.blocks import CardModel, CardState


def card_model(view: RequestView) -> CardModel:
    state = CardState(view.state.value)
    decided_by = view.ended_by
    if view.state is RequestState.denied and view.denied_by:
        decided_by = view.denied_by[0]
    if decided_by == SYSTEM_ACTOR:  # the card says "at its deadline" instead
        decided_by = None
    note = None
    if view.state in (RequestState.ended, RequestState.cancelled, RequestState.denied):
        note = view.end_reason
    return CardModel(
        request_id=view.id,
        requester_id=view.requester,
        runbook=view.runbook,
        description=view.description,
        params=view.params,
        reason=view.reason,
        call=view.rendered.call,
        scope=view.rendered.scope,
        role_arn=view.role_arn,
        session_length=view.session_duration,
        approvals_required=view.approvals_required,
        approvers=view.approvers,
        state=state,
        approved_by=view.approved_by,
        decided_by=decided_by,
        expires_at=view.expires_at if view.state is RequestState.pending else None,
        session_ends_at=view.session_ends_at,
        note=note,
    )
