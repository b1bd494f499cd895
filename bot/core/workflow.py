"""The request workflow (DESIGN §1, §5): the one entry point that changes requests.

Every change is a conditional UPDATE (`... WHERE state = expected`) inside a step whose
audit rows commit with it, so a duplicate click, a retried Slack event, a second replica
or a racing thread changes nothing. Refusals are audited, then raised as `Refused`
(`RequestRefused` for new requests) with a message for the person; a database or audit
failure is raised as `Unavailable` and changes nothing. Calls are synchronous: the Slack
layer runs them on its own worker pool.

The parts: `intake` (new requests), `decisions` (approve/deny), `sessions` (start, end,
deadlines) and `executions` (queries, results). This class wires them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.core.audit import SYSTEM_ACTOR, AuditEvent, AuditTrail
from bot.core.catalog import Catalog
from bot.core.credentials import CredentialStore
from bot.core.decisions import Decisions, state_message
from bot.core.executions import Executions
from bot.core.intake import Intake
from bot.core.params import BoundRequest
from bot.core.policy import may_approve
from bot.core.ports import (
    AccessPort,
    CardRef,
    Decision,
    Directory,
    DirectoryError,
    Notifier,
    Refused,
    RequestSource,
    RequestView,
    ResultOutput,
    Unavailable,
    UserStatus,
)
from bot.core.sessions import Deadline, SessionRunner
from bot.core.states import RequestState
from bot.core.steps import Clock, Steps, build_view, build_views, log
from bot.db.columns import utc_now
from bot.db.engine import Database
from bot.db.models import ApprovalRow, RequestRow
from bot.db.repository import claim_event, instance_key, prune_events, transition
from bot.settings import Settings

EVENT_MEMORY = timedelta(days=1)  # Slack retries an event for minutes, not days
RECENT = 10
SHOWN = 20  # requests per list in a status: what a Slack message or App Home can show


# What a status reads, built once: a status is asked for often (App Home refreshes too),
# and SQLAlchemy reuses a prebuilt statement and its compiled SQL instead of building and
# hashing a new one per query.
_PENDING = RequestState.pending.value
_OWN_REQUESTS = (  # a user's requests in some states, newest first
    select(RequestRow)
    .where(RequestRow.requester == bindparam("user"),
           RequestRow.state.in_(bindparam("states", expanding=True)))
    .order_by(RequestRow.created_at.desc()).limit(bindparam("limit"))
)
_PENDING_OF_OTHERS = (  # (id, runbook, requester), oldest first: they expire soonest
    select(RequestRow.id, RequestRow.runbook, RequestRow.requester)
    .where(RequestRow.state == _PENDING, RequestRow.requester != bindparam("user"))
    .order_by(RequestRow.created_at)
)
_PENDING_DECIDED_BY = (  # ids of pending requests the user approved or denied already
    select(ApprovalRow.request_id).join(RequestRow)
    .where(ApprovalRow.approver == bindparam("user"), RequestRow.state == _PENDING)
)
_STILL_PENDING = (  # those of the given requests still pending, oldest first
    select(RequestRow)
    .where(RequestRow.id.in_(bindparam("ids", expanding=True)), RequestRow.state == _PENDING)
    .order_by(RequestRow.created_at)
)


@dataclass(frozen=True)
class SweepReport:
    expired: list[str]
    ended: list[str]


class Workflow:
    def __init__(
        self,
        database: Database,
        catalog: Catalog,
        *,
        access: AccessPort,
        directory: Directory,
        notifier: Notifier,
        request_ttl: timedelta = timedelta(minutes=30),
        default_region: str = "us-east-1",
        audit: AuditTrail | None = None,
        credentials: CredentialStore | None = None,
        clock: Clock = utc_now,
        redaction_key: bytes | None = None,
        start_grace: timedelta = timedelta(minutes=5),
    ):
        self.database = database
        self.catalog = catalog
        self.directory = directory
        self.audit = audit or AuditTrail(database)
        self.steps = Steps(database, self.audit, notifier, catalog, clock)
        self.credentials = credentials or CredentialStore()
        self.executions = Executions(
            self.steps, access, self.credentials,
            redaction_key if redaction_key is not None else instance_key(database),
        )
        self.sessions = SessionRunner(self.steps, access, directory, self.credentials,
                                      self.executions, start_grace)
        self.intake = Intake(self.steps, directory, request_ttl=request_ttl,
                             default_region=default_region, announce=self.sessions.announce)
        self.decisions = Decisions(self.steps, directory, self.sessions.start)

    @classmethod
    def from_settings(cls, settings: Settings, database: Database, catalog: Catalog, *,
                      access: AccessPort, directory: Directory, notifier: Notifier,
                      **options: Any) -> Workflow:
        """The workflow `jitbot serve` runs: request TTL and default region from settings."""
        return cls(database, catalog, access=access, directory=directory, notifier=notifier,
                   request_ttl=settings.request_ttl, default_region=settings.aws_region,
                   **options)

    # ---- requests ---------------------------------------------------------------------

    def create(self, requester: str, runbook_name: str, values: Mapping[str, str],
               reason: str | None, channel: str, *, thread_ts: str | None = None,
               source: RequestSource | str = RequestSource.command) -> RequestView:
        """Check and record a request, then post its card (Notifier.request_created).
        Raises RequestRefused (audited): unknown runbook, bad parameters, not allowed."""
        return self.intake.create(requester, runbook_name, values, reason, channel,
                                  thread_ts, RequestSource(source))

    def submit(self, bound: BoundRequest, requester: str, channel: str, *,
               thread_ts: str | None = None,
               source: RequestSource | str = RequestSource.command) -> RequestView:
        """Record a request whose parameters the caller already bound (e.g. a modal)."""
        self.intake.check_requester(requester, channel, bound.runbook)
        return self.intake.record(bound, requester, channel, thread_ts, RequestSource(source))

    def record_rejection(self, requester: str, channel: str, runbook: str | None,
                         problems: Sequence[str]) -> None:
        """Audit a request the Slack layer refused before it reached the workflow."""
        with self.steps.step() as step:
            step.audit(AuditEvent.request_rejected, requester, runbook=runbook,
                       channel=channel, code="bad_input", problems=list(problems))

    def attach_card(self, request_id: str, channel: str, ts: str) -> None:
        self.intake.attach_card(request_id, channel, ts)

    def find_by_card(self, channel: str, ts: str) -> RequestView | None:
        with self.steps.reading() as session:
            row = session.execute(
                select(RequestRow).where(RequestRow.channel == channel, RequestRow.card_ts == ts)
            ).scalar_one_or_none()
            if row is not None:
                return build_view(session, row, self.catalog)
        unrecorded = CardRef(channel=channel, ts=ts)
        for request_id, card in list(self.steps.unrecorded_cards.items()):
            if card == unrecorded:
                return self.steps.view(request_id)
        return None

    def view(self, request_id: str) -> RequestView:
        found = self.steps.view(request_id)
        if found is None:
            raise Refused(f"there is no request {request_id}", "unknown_request")
        return found

    # ---- decisions --------------------------------------------------------------------

    def approve(self, request_id: str, approver: str) -> RequestView:
        """Count an eligible approval; the one that reaches the quorum starts the session
        (grant, first execution, results) before this returns."""
        return self.decisions.decide(request_id, approver, Decision.approve)

    def deny(self, request_id: str, approver: str) -> RequestView:
        return self.decisions.decide(request_id, approver, Decision.deny)

    def cancel(self, request_id: str, user: str) -> RequestView:
        """The requester withdraws a pending request."""
        refused = AuditEvent.action_refused
        view = self.steps.existing(request_id, user, refused, action="cancel")
        if user != view.requester:
            self.steps.refuse(refused, view.id, user, "not_requester",
                              f"only the requester, <@{view.requester}>, can cancel this "
                              "request", action="cancel")
        with self.steps.step() as step:
            won = transition(step.session, view.id, RequestState.pending,
                             RequestState.cancelled, ended_at=step.now, ended_by=user,
                             end_reason="cancelled by the requester")
            if won:
                step.audit(AuditEvent.request_cancelled, user, request_id=view.id)
            else:
                step.audit(refused, user, request_id=view.id, action="cancel",
                           code="wrong_state")
        closed = self.view(view.id)
        if not won:
            raise Refused(state_message(closed, "cancel"), "wrong_state")
        self.steps.notify("request_closed", closed, user, "cancelled")
        self.steps.notify("request_updated", closed)
        return closed

    # ---- sessions ---------------------------------------------------------------------

    def run_again(self, request_id: str, user: str) -> ResultOutput | None:
        """The requester runs the same query again in the active session; None when it
        failed (the failure was audited and sent to Notifier.failure)."""
        return self.executions.run_again(request_id, user)

    def end_session(self, request_id: str, user: str, why: str | None = None) -> RequestView:
        """The requester or an eligible approver ends an active session now."""
        return self.sessions.end_by_user(request_id, user, why)

    def end_due(self, now: datetime | None = None, *, at_start: bool = False) -> list[str]:
        return self.sessions.end_due(now or self.steps.clock(), at_start=at_start)

    def expire_due(self, now: datetime | None = None) -> list[str]:
        """Expire every pending request past its time, each exactly once."""
        moment = now or self.steps.clock()
        with self.database.transaction() as session:
            due = list(session.execute(
                select(RequestRow.id).where(RequestRow.state == RequestState.pending.value,
                                            RequestRow.expires_at <= moment)
            ).scalars())
        return [rid for rid in due if self.expire(rid)]

    def expire(self, request_id: str) -> bool:
        with self.steps.step() as step:
            won = transition(step.session, request_id, RequestState.pending,
                             RequestState.expired, ended_at=step.now, ended_by=SYSTEM_ACTOR,
                             end_reason="expired without enough approvals")
            if won:
                step.audit(AuditEvent.request_expired, SYSTEM_ACTOR, request_id=request_id)
        if won:
            view = self.view(request_id)
            self.steps.notify("request_closed", view, SYSTEM_ACTOR, "expired")
            self.steps.notify("request_updated", view)
        return won

    def sweep(self, now: datetime | None = None, *, at_start: bool = False) -> SweepReport:
        """End whatever is past due: what the timer runs every few seconds, and once with
        `at_start` before the process serves anything (see SessionRunner.end_due)."""
        moment = now or self.steps.clock()
        report = SweepReport(expired=self.expire_due(moment),
                             ended=self.end_due(moment, at_start=at_start))
        with self.database.transaction() as session:
            prune_events(session, moment - EVENT_MEMORY)
        return report

    def close(self) -> None:
        """The process is stopping: work waiting to try the database again gives up."""
        self.steps.closing.set()

    def deadlines(self) -> list[Deadline]:
        """Every future deadline the database knows: what a timer schedules on start."""
        return self.sessions.deadlines()

    def add_deadline_listener(self, listener: Callable[[Deadline], None]) -> None:
        self.sessions.listeners.append(listener)

    def remove_deadline_listener(self, listener: Callable[[Deadline], None]) -> None:
        if listener in self.sessions.listeners:
            self.sessions.listeners.remove(listener)

    # ---- lookups ----------------------------------------------------------------------

    def claim_event(self, event_key: str) -> bool:
        """True only for the first delivery of a Slack event (across processes); raises
        `Unavailable` when the database cannot record the claim."""
        try:
            return claim_event(self.database, event_key)
        except SQLAlchemyError as exc:
            log.warning("could not claim an event: %s", type(exc).__name__)
            raise Unavailable() from exc

    def status_for(self, user: str) -> UserStatus:
        """`/jit status` and App Home: the user's requests and the approvals they can give.

        The work is bounded, whatever the history: at most SHOWN of the user's pending
        requests and of their sessions (newest first), their last RECENT closed requests,
        and at most SHOWN pending requests of others that this user may still decide
        (oldest first: they expire soonest). Eligibility is checked on the rows, outside
        the transaction (it may ask Slack), before any view is built."""
        with self.steps.reading() as session:
            pending, active, recent = _own_requests(session, user, self.catalog)
            others = session.execute(_PENDING_OF_OTHERS, {"user": user}).all()
            decided = set(session.execute(_PENDING_DECIDED_BY, {"user": user}).scalars())
        eligible = self._approvable(user, [o for o in others if o.id not in decided])
        to_approve: list[RequestView] = []
        if eligible:
            with self.steps.reading() as session:
                rows = session.execute(_STILL_PENDING, {"ids": eligible}).scalars().all()
                to_approve = build_views(session, rows, self.catalog)
        return UserStatus(pending=pending, active=active, to_approve=to_approve, recent=recent)

    def _approvable(self, user: str, pending: Iterable[Row[tuple[str, str, str]]]) -> list[str]:
        """The first SHOWN of these pending requests (id, runbook, requester) that `user`
        may approve; a request whose approvers cannot be looked up is left out."""
        eligible: list[str] = []
        # the answer for one runbook and requester holds for all their pending requests:
        # asked once each, not once per request (a burst leaves hundreds pending)
        answers: dict[tuple[str, str], bool] = {}
        for request_id, runbook_name, requester in pending:
            runbook = self.catalog.get(runbook_name)
            if runbook is None:
                continue
            asked = (runbook_name, requester)
            if asked not in answers:
                try:
                    answers[asked] = may_approve(runbook, user, requester, self.directory)
                except DirectoryError as exc:  # not remembered: the next request asks again
                    log.warning("could not check the approvers of %s: %s", request_id, exc)
                    continue
            if answers[asked]:
                eligible.append(request_id)
                if len(eligible) == SHOWN:
                    break
        return eligible


def _own_requests(session: Session, user: str, catalog: Catalog
                  ) -> tuple[list[RequestView], list[RequestView], list[RequestView]]:
    """The user's pending requests, sessions and recently closed requests, newest first."""

    def mine(states: list[RequestState], limit: int) -> Sequence[RequestRow]:
        return session.execute(_OWN_REQUESTS, {"user": user, "limit": limit,
                                               "states": [s.value for s in states]}
                               ).scalars().all()

    pending = mine([RequestState.pending], SHOWN)
    active = mine([RequestState.active, RequestState.approved], SHOWN)
    recent = mine([s for s in RequestState if s.is_final], RECENT)
    # the views of all three lists in one go: two queries in all, not two per list
    views = {view.id: view for view in build_views(session, [*pending, *active, *recent],
                                                    catalog)}
    return ([views[row.id] for row in pending], [views[row.id] for row in active],
            [views[row.id] for row in recent])
