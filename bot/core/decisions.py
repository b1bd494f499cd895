"""Decisions: approvals and denials by eligible approvers (DESIGN §1 Approval).

Eligibility is checked before the transaction (it may ask the directory); then, holding
the request's row lock, the state, the person's earlier decision and the count are read
and changed together, so concurrent clicks, retried events and replicas count each
person once and exactly one approval reaches the quorum.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select, update

from bot.core.audit import AuditEvent
from bot.core.policy import may_approve
from bot.core.ports import Decision, Directory, DirectoryError, Refused, RequestView
from bot.core.states import RequestState
from bot.core.steps import Step, Steps, build_view
from bot.db.models import ApprovalRow, RequestRow
from bot.db.repository import lock_request, transition

REFUSED = AuditEvent.approval_refused


class Decisions:
    def __init__(self, steps: Steps, directory: Directory,
                 start_session: Callable[[str, RequestView], object]):
        self.steps = steps
        self.directory = directory
        self.start_session = start_session

    def decide(self, request_id: str, user: str, decision: Decision) -> RequestView:
        view = self.steps.existing(request_id, user, REFUSED, decision=decision)
        self._check(view, user, decision)
        with self.steps.step() as step:
            refusal, quorum = self._record(step, view.id, user, decision)
        if refusal is not None:
            raise refusal
        updated = self.steps.view(view.id) or view
        self.steps.notify("decision", updated, user, decision)
        if not quorum:
            self.steps.notify("request_updated", updated)
        else:
            # the start updates the card (active, or ended with the reason) a moment later:
            # one card update per approval, not two, on Slack's rate-limited chat.update
            self.start_session(view.id, updated)
            updated = self.steps.view(view.id) or updated
        return updated

    def _check(self, view: RequestView, user: str, decision: Decision) -> None:
        if view.state is not RequestState.pending:
            self.steps.refuse(REFUSED, view.id, user, "wrong_state",
                              state_message(view, decision.value), decision=decision)
        if user == view.requester:
            self.steps.refuse(REFUSED, view.id, user, "self_approval",
                              "you cannot approve or deny your own request; ask one of: "
                              f"{', '.join(view.approvers)}", decision=decision)
        runbook = self.steps.catalog.get(view.runbook)
        if runbook is None:
            self.steps.refuse(REFUSED, view.id, user, "unknown_runbook",
                              f"runbook {view.runbook} is no longer in the runbook folder, "
                              "so this request cannot be decided", decision=decision)
        try:
            eligible = may_approve(runbook, user, view.requester, self.directory)
        except DirectoryError as exc:
            self.steps.refuse(REFUSED, view.id, user, "directory",
                              f"could not check the approver groups ({exc}); try again in "
                              "a minute", decision=decision)
        if not eligible:
            self.steps.refuse(REFUSED, view.id, user, "not_eligible",
                              f"you are not an approver of {runbook.name}; approvers: "
                              f"{', '.join(runbook.approval.approvers)}", decision=decision)

    def _record(self, step: Step, request_id: str, user: str,
                decision: Decision) -> tuple[Refused | None, bool]:
        row = lock_request(step.session, request_id)
        assert row is not None
        earlier = step.session.execute(
            select(ApprovalRow.decision).where(ApprovalRow.request_id == request_id,
                                               ApprovalRow.approver == user)
        ).scalar_one_or_none()
        refusal = None
        if row.state != RequestState.pending.value:
            view = build_view(step.session, row, self.steps.catalog)
            refusal = Refused(state_message(view, decision.value), "wrong_state")
        elif earlier is not None:
            verb = "approved" if earlier == Decision.approve.value else "denied"
            refusal = Refused(f"you already {verb} this request; each person counts once",
                              "duplicate")
        if refusal is not None:
            step.audit(REFUSED, user, request_id=request_id, decision=decision,
                       code=refusal.code)
            return refusal, False
        step.session.add(ApprovalRow(request_id=request_id, approver=user,
                                     decision=decision.value, decided_at=step.now))
        step.session.flush()
        if decision is Decision.deny:
            transition(step.session, request_id, RequestState.pending, RequestState.denied,
                       ended_at=step.now, ended_by=user, end_reason="denied")
            step.audit(AuditEvent.approval_denied, user, request_id=request_id)
            return None, False
        count = int(step.session.execute(
            select(func.count()).select_from(ApprovalRow).where(
                ApprovalRow.request_id == request_id,
                ApprovalRow.decision == Decision.approve.value)
        ).scalar_one())
        quorum = count >= row.approvals_required
        if quorum:
            transition(step.session, request_id, RequestState.pending, RequestState.approved,
                       approved_at=step.now)
        else:
            step.session.execute(
                update(RequestRow).where(RequestRow.id == request_id)
                .values(version=RequestRow.version + 1)
                .execution_options(synchronize_session=False)
            )
        step.audit(AuditEvent.approval_granted, user, request_id=request_id, approvals=count,
                   required=row.approvals_required, quorum=quorum)
        return None, quorum


def state_message(view: RequestView, verb: str) -> str:
    return (f"this request is no longer waiting for approval ({view.state.label.lower()}); "
            f"there is nothing to {verb}")
