"""What every step of the workflow shares: one transaction with its audit rows, safe
calls to the notifier, and the view of a request that cards and replies are made from.

A step's audit rows are appended at the end of its transaction, after its state changes:
the chain-head lock is then always taken last (no lock-order deadlocks), and a failed
audit write rolls the whole step back, so nothing happens that the trail does not show.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.core.audit import AuditError, AuditEvent, AuditTrail
from bot.core.catalog import Catalog
from bot.core.ports import (
    ApprovalView,
    CardRef,
    Decision,
    Notifier,
    Refused,
    RequestSource,
    RequestView,
    Unavailable,
)
from bot.core.queries import RenderedRequest
from bot.core.states import RequestState
from bot.db.engine import Database
from bot.db.models import ApprovalRow, ExecutionRow, RequestRow

log = logging.getLogger("jitbot.workflow")
Clock = Callable[[], datetime]


@dataclass
class Step:
    session: Session
    now: datetime
    entries: list[dict[str, Any]] = field(default_factory=list)

    def audit(
        self,
        event: AuditEvent,
        actor: str,
        *,
        request_id: str | None = None,
        **details: Any,
    ) -> None:
        self.entries.append(
            {"event": event, "actor": actor, "request_id": request_id, "details": details}
        )


class Steps:
    def __init__(
        self,
        database: Database,
        audit: AuditTrail,
        notifier: Notifier,
        catalog: Catalog,
        clock: Clock,
    ):
        self.database = database
        self.audit = audit
        self.notifier = notifier
        self.catalog = catalog
        self.clock = clock
        # Cards posted whose place the database has not taken yet (the write is under
        # way, or the database is out and Intake keeps trying): views show them
        # meanwhile, so that an approval made before the place is recorded still
        # replies, and posts its results, in the card's thread.
        self.unrecorded_cards: dict[str, CardRef] = {}
        # set when the process stops: whatever waits to try the database again gives up
        self.closing = threading.Event()

    @contextmanager
    def step(self) -> Iterator[Step]:
        """One transaction; its audit rows are written last and commit with it, or not at
        all: any exception rolls everything back, and a database or audit failure is
        raised as `Unavailable` (a refusal the person can be shown)."""
        try:
            with self.database.transaction() as session:
                current = Step(session, self.clock())
                yield current
                for entry in current.entries:
                    self.audit.append(session, at=current.now, **entry)
        except (SQLAlchemyError, AuditError) as exc:
            # Type only: a database error's text may quote the statement's parameters.
            log.warning("step rolled back: %s", type(exc).__name__)
            raise Unavailable() from exc

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A transaction that only reads; a database failure is raised as `Unavailable`,
        so a person whose click needed the look-up hears why nothing happened."""
        try:
            with self.database.transaction() as session:
                yield session
        except SQLAlchemyError as exc:
            log.warning("database read failed: %s", type(exc).__name__)
            raise Unavailable() from exc

    def notify(self, name: str, *args: Any) -> tuple[bool, Any]:
        """Call one notifier method; a failure is logged, never raised into the workflow."""
        try:
            return True, getattr(self.notifier, name)(*args)
        except Exception as exc:
            # The text of a failed results post could echo what was being posted.
            detail = "" if name == "results" else f": {exc}"
            log.warning("notifier %s failed: %s%s", name, type(exc).__name__, detail)
            return False, exc

    def refuse(self, event: AuditEvent, request_id: str | None, user: str, code: str,
               message: str, **details: Any) -> NoReturn:
        """Audit a refusal, then raise it for the person who tried."""
        with self.step() as step:
            step.audit(event, user, request_id=request_id, code=code, **details)
        raise Refused(message, code)

    def existing(self, request_id: str, user: str, event: AuditEvent,
                 **details: Any) -> RequestView:
        """The request, or an audited refusal naming the id that does not exist."""
        found = self.view(request_id)
        if found is None:
            self.refuse(event, None, user, "unknown_request",
                        f"there is no request {request_id}", requested=request_id, **details)
        return found

    def view(self, request_id: str) -> RequestView | None:
        with self.reading() as session:
            row = session.get(RequestRow, request_id)
            found = build_view(session, row, self.catalog) if row is not None else None
        if found is None or found.card_ts is not None or not self.unrecorded_cards:
            return found
        card = self.unrecorded_cards.get(found.id)
        return found if card is None else replace(found, channel=card.channel, card_ts=card.ts)


def build_view(session: Session, row: RequestRow, catalog: Catalog) -> RequestView:
    approvals = session.execute(
        select(ApprovalRow)
        .where(ApprovalRow.request_id == row.id)
        .order_by(ApprovalRow.decided_at, ApprovalRow.id)
    ).scalars()
    executions = session.execute(
        select(func.count()).select_from(ExecutionRow).where(ExecutionRow.request_id == row.id)
    ).scalar_one()
    return _assemble(row, list(approvals), int(executions), catalog)


# Built once, as every status and App Home runs them: SQLAlchemy reuses a prebuilt
# statement and its compiled SQL instead of building and hashing a new one per call.
_APPROVALS_OF = (
    select(ApprovalRow).where(ApprovalRow.request_id.in_(bindparam("ids", expanding=True)))
    .order_by(ApprovalRow.decided_at, ApprovalRow.id)
)
_EXECUTION_COUNTS_OF = (
    select(ExecutionRow.request_id, func.count())
    .where(ExecutionRow.request_id.in_(bindparam("ids", expanding=True)))
    .group_by(ExecutionRow.request_id)
)


def build_views(session: Session, rows: Sequence[RequestRow],
                catalog: Catalog) -> list[RequestView]:
    """The views of several requests with two queries in all, not two per request (what
    a status or App Home lists)."""
    if not rows:
        return []
    ids = {"ids": [row.id for row in rows]}
    approvals: dict[str, list[ApprovalRow]] = {row.id: [] for row in rows}
    for approval in session.execute(_APPROVALS_OF, ids).scalars():
        approvals[approval.request_id].append(approval)
    counts = {rid: int(n) for rid, n in session.execute(_EXECUTION_COUNTS_OF, ids).all()}
    return [_assemble(row, approvals[row.id], counts.get(row.id, 0), catalog) for row in rows]


def new_view(row: RequestRow, catalog: Catalog) -> RequestView:
    """The view of a request row its step has just added, from the row in memory: what
    `build_view` would read back after the commit (no approvals or executions can exist
    yet), without a second transaction to read it."""
    return _assemble(row, (), 0, catalog)


def _assemble(row: RequestRow, approvals: Sequence[ApprovalRow], executions: int,
              catalog: Catalog) -> RequestView:
    rendered = RenderedRequest.model_validate_json(row.rendered)
    runbook = catalog.get(row.runbook)
    return RequestView(
        id=row.id,
        runbook=row.runbook,
        description=runbook.description if runbook else "(no longer in the runbook folder)",
        params=json.loads(row.params),
        reason=row.reason,
        requester=row.requester,
        channel=row.channel,
        card_ts=row.card_ts,
        thread_ts=row.thread_ts,
        source=RequestSource(row.source),
        state=RequestState(row.state),
        created_at=row.created_at,
        expires_at=row.expires_at,
        approvals=tuple(
            ApprovalView(user=a.approver, decision=Decision(a.decision), at=a.decided_at)
            for a in approvals
        ),
        approvals_required=row.approvals_required,
        approvers=tuple(runbook.approval.approvers) if runbook else (),
        rendered=rendered,
        role_arn=runbook.role_arn if runbook else "",
        session_duration=runbook.session.duration if runbook else timedelta(0),
        approved_at=row.approved_at,
        started_at=row.started_at,
        session_ends_at=row.session_ends_at,
        ended_at=row.ended_at,
        ended_by=row.ended_by,
        end_reason=row.end_reason,
        executions=executions,
        version=row.version,
    )

