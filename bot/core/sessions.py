"""Sessions: from an approved request to credentials, executions and the end.

Credentials live in `CredentialStore` (this process's memory) and nowhere else. After a
restart, or on another replica, an active session has none here: Run again then assumes
the role again for the session's remaining time, and the trail records it as a reissue.
A session ends exactly once (conditional update); whoever tries, the local credentials
are dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select

from bot.core.access_errors import AccessError
from bot.core.audit import SYSTEM_ACTOR, AuditEvent
from bot.core.credentials import CredentialStore
from bot.core.executions import Executions, grant_details
from bot.core.policy import may_approve
from bot.core.ports import (
    AccessPort,
    Directory,
    DirectoryError,
    Refused,
    RequestView,
    ResultOutput,
)
from bot.core.states import RequestState
from bot.core.steps import Steps, log
from bot.db.models import ExecutionRow, RequestRow, SessionRow
from bot.db.repository import transition

DEADLINE = "deadline reached"
NOT_STARTED = "the bot stopped before the session could start"
REFUSED = AuditEvent.action_refused


@dataclass(frozen=True)
class Deadline:
    kind: Literal["expiry", "session_end"]
    request_id: str
    at: datetime


class SessionRunner:
    def __init__(self, steps: Steps, access: AccessPort, directory: Directory,
                 credentials: CredentialStore, executions: Executions,
                 start_grace: timedelta):
        self.steps = steps
        self.access = access
        self.directory = directory
        self.credentials = credentials
        self.executions = executions
        self.start_grace = start_grace
        self.listeners: list[Callable[[Deadline], None]] = []

    # ---- starting ---------------------------------------------------------------------

    def start(self, request_id: str, approved: RequestView | None = None) -> ResultOutput | None:
        """Grant, record, run: called once, by the approval whose conditional update moved
        the request to `approved` (`approved`: the view it read just after, which saves a
        read; the conditional update below still decides)."""
        view = approved if approved is not None else self.steps.view(request_id)
        if view is None or view.id != request_id or view.state is not RequestState.approved:
            return None
        runbook = self.steps.catalog.get(view.runbook)
        if runbook is None:
            self._abandon(view, f"runbook {view.runbook} is no longer in the runbook folder",
                          kind="runbook")
            return None
        try:
            grant = self.access.grant(view.rendered, runbook, request_id=view.id,
                                      requester=view.requester, approvers=view.approved_by)
        except AccessError as exc:
            self._abandon(view, f"could not get credentials: {exc.user_message}",
                          kind=exc.kind)
            return None
        except Exception as exc:
            log.warning("grant for %s failed: %s", view.id, type(exc).__name__)
            self._abandon(view, f"could not get credentials (unexpected {type(exc).__name__};"
                          " see the bot's logs)", kind="unexpected")
            return None
        try:
            with self.steps.step() as step:
                started, ends = step.now, step.now + runbook.session.duration
                won = transition(step.session, view.id, RequestState.approved,
                                 RequestState.active, started_at=step.now,
                                 session_ends_at=ends)
                if won:
                    step.session.add(SessionRow(
                        request_id=view.id, started_at=step.now,
                        role_session_name=grant.role_session_name,
                        source_identity=grant.source_identity,
                        access_key_id=grant.access_key_id,
                        credentials_expire_at=grant.expiration, grants=1,
                    ))
                    step.audit(AuditEvent.credentials_issued, SYSTEM_ACTOR,
                               request_id=view.id, reissued=False, session_ends_at=ends,
                               **grant_details(grant))
        except Refused:
            self.executions.forget(grant)
            self._abandon(view, "the audit trail could not record the credentials, so they "
                          "were not used", kind="audit")
            return None
        if not won:  # ended meanwhile: a sweep found the start overdue
            self.executions.forget(grant)
            return None
        self.credentials.put(view.id, grant, ends)
        self.announce(Deadline("session_end", view.id, ends))
        # what the conditional update just wrote (it bumps the version by one)
        active = replace(view, state=RequestState.active, started_at=started,
                         session_ends_at=ends, version=view.version + 1)
        self.steps.notify("request_updated", active)
        return self.executions.execute(active, runbook, grant, actor=view.requester)

    def _abandon(self, view: RequestView, why: str, *, kind: str) -> None:
        """An approved request whose session cannot start ends here, audited."""
        try:
            with self.steps.step() as step:
                won = transition(step.session, view.id, RequestState.approved,
                                 RequestState.ended, ended_at=step.now,
                                 ended_by=SYSTEM_ACTOR, end_reason=why)
                if won:
                    step.audit(AuditEvent.credentials_failed, SYSTEM_ACTOR,
                               request_id=view.id, kind=kind, message=why)
                    step.audit(AuditEvent.session_ended, SYSTEM_ACTOR, request_id=view.id,
                               why=why, executions=0)
        except Refused:
            # The sweep ends it later (start_grace); nothing was or will be run meanwhile.
            log.warning("could not record that %s did not start", view.id)
            won = True
        if won:
            ended = self.steps.view(view.id) or view
            self.steps.notify("failure", ended, f"The session did not start: {why}.")
            self.steps.notify("request_updated", ended)

    # ---- ending -----------------------------------------------------------------------

    def end_by_user(self, request_id: str, user: str, why: str | None) -> RequestView:
        view = self.steps.existing(request_id, user, REFUSED, action="end_session")
        if view.state is not RequestState.active:
            self.steps.refuse(REFUSED, view.id, user, "no_session",
                              "there is no active session to end", action="end_session")
        if user == view.requester:
            reason = why or "ended by the requester"
        else:
            runbook = self.steps.catalog.get(view.runbook)
            try:
                allowed = runbook is not None and may_approve(runbook, user, view.requester,
                                                              self.directory)
            except DirectoryError:
                allowed = False
            if not allowed:
                self.steps.refuse(REFUSED, view.id, user, "not_allowed",
                                  "only the requester or an approver can end this session",
                                  action="end_session")
            reason = why or "ended by an approver"
        self.end(view.id, user, reason)
        return self.steps.view(view.id) or view

    def end(self, request_id: str, actor: str, why: str) -> bool:
        """End an active session; True only for the one caller whose update won. The
        credentials held here are dropped whoever wins."""
        grant = self.credentials.drop(request_id)
        if grant is not None:
            self.executions.forget(grant)
        with self.steps.step() as step:
            won = transition(step.session, request_id, RequestState.active,
                             RequestState.ended, ended_at=step.now, ended_by=actor,
                             end_reason=why)
            if won:
                executions = step.session.execute(
                    select(func.count()).select_from(ExecutionRow)
                    .where(ExecutionRow.request_id == request_id)
                ).scalar_one()
                step.audit(AuditEvent.session_ended, actor, request_id=request_id, why=why,
                           executions=int(executions))
        if won:
            view = self.steps.view(request_id)
            assert view is not None
            self.steps.notify("session_ended", view, actor, why)
            self.steps.notify("request_updated", view)
        return won

    def end_due(self, now: datetime, *, at_start: bool = False) -> list[str]:
        """End the sessions past their deadline, and the approved requests whose session
        never started. `at_start`: this process has begun no session yet, so every
        approved request was left half-started by a bot that stopped; it ends now rather
        than after `start_grace`. (Were another replica starting it at this moment, the
        conditional updates still leave one outcome: its start finds the request ended
        and drops the credentials.)"""
        started_before = now if at_start else now - self.start_grace
        with self.steps.database.transaction() as session:
            due = list(session.execute(
                select(RequestRow.id).where(RequestRow.state == RequestState.active.value,
                                            RequestRow.session_ends_at <= now)
            ).scalars())
            stuck = list(session.execute(
                select(RequestRow.id).where(RequestRow.state == RequestState.approved.value,
                                            RequestRow.approved_at <= started_before)
            ).scalars())
        ended = [rid for rid in due if self.end(rid, SYSTEM_ACTOR, DEADLINE)]
        for rid in stuck:
            view = self.steps.view(rid)
            if view is not None and view.state is RequestState.approved:
                self._abandon(view, NOT_STARTED, kind="interrupted")
                ended.append(rid)
        return ended

    def deadlines(self) -> list[Deadline]:
        with self.steps.database.transaction() as session:
            rows = session.execute(
                select(RequestRow.id, RequestRow.state, RequestRow.expires_at,
                       RequestRow.session_ends_at)
                .where(RequestRow.state.in_([RequestState.pending.value,
                                             RequestState.active.value]))
            ).all()
        found = []
        for rid, state, expires_at, ends_at in rows:
            if state == RequestState.pending.value:
                found.append(Deadline("expiry", rid, expires_at))
            elif ends_at is not None:
                found.append(Deadline("session_end", rid, ends_at))
        return found

    def announce(self, deadline: Deadline) -> None:
        for listener in list(self.listeners):
            try:
                listener(deadline)
            except Exception as exc:
                log.warning("deadline listener failed: %s", type(exc).__name__)
