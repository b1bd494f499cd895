"""The tamper-evident audit trail (DESIGN §5).

Each row is one link of a hash chain:

    hash = sha256(prev_hash + canonical_json({seq, at, request_id, actor, event, details}))

where canonical JSON has sorted keys, no spaces, UTF-8 text and ISO-8601 UTC times. The
first row links to 64 zeros. `seq` is handed out under the chain-head row lock, so the
chain is one gap-free line even with many writers (PostgreSQL: the head row is held
`FOR UPDATE` until commit; SQLite: the database write lock). An append runs inside the
caller's transaction: if it fails, the whole step rolls back.

Details hold facts about a step, never result values or credentials; an attempt to
record a secret-looking field is refused, which fails the step closed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.db.columns import as_utc, utc_now
from bot.db.engine import Database
from bot.db.models import AuditHeadRow, AuditRow

GENESIS_HASH = "0" * 64
SYSTEM_ACTOR = "jitbot"
_SECRET_KEYS = ("secret", "session_token", "sessiontoken", "password", "token")


class AuditEvent(StrEnum):
    request_created = "request.created"
    request_rejected = "request.rejected"
    approval_granted = "approval.granted"
    approval_denied = "approval.denied"
    approval_refused = "approval.refused"
    request_cancelled = "request.cancelled"
    request_expired = "request.expired"
    action_refused = "action.refused"
    credentials_issued = "credentials.issued"
    credentials_failed = "credentials.failed"
    query_executed = "query.executed"
    query_failed = "query.failed"
    results_posted = "results.posted"
    results_failed = "results.failed"
    results_withheld = "results.withheld"
    session_ended = "session.ended"


class AuditError(RuntimeError):
    """The audit trail refused or failed a write; the step it belongs to must not happen."""


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    at: datetime
    request_id: str | None
    actor: str
    event: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "request_id": self.request_id,
            "actor": self.actor,
            "event": self.event,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # edited | deleted | inserted | broken-link
    message: str


@dataclass(frozen=True)
class VerifyReport:
    rows: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def iso(value: datetime) -> str:
    return as_utc(value).isoformat(timespec="microseconds")


def _plain(value: Any) -> Any:
    """JSON-native form of a detail value; anything unexpected is refused, not str()-ed."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            name = str(key)
            if any(marker in name.lower().replace("-", "_") for marker in _SECRET_KEYS):
                raise AuditError(f"refusing to record {name!r} in the audit trail")
            out[name] = _plain(item)
        return out
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(item) for item in value)
    raise AuditError(f"cannot record a {type(value).__name__} in the audit trail")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    request_id: str | None,
    actor: str,
    event: str,
    details: Mapping[str, Any],
) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": iso(at),
            "request_id": request_id,
            "actor": actor,
            "event": event,
            "details": details,
        }
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def _record(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        seq=row.seq,
        at=as_utc(row.at),
        request_id=row.request_id,
        actor=row.actor,
        event=row.event,
        details=json.loads(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


# Every audited step reads the chain head: the statement is built once, and SQLAlchemy
# reuses it and its compiled form rather than building and hashing a new one per step.
_CHAIN_HEAD = select(AuditHeadRow).where(AuditHeadRow.id == 1).with_for_update()


class AuditTrail:
    def __init__(self, database: Database):
        self.database = database

    def append(
        self,
        session: Session,
        *,
        event: AuditEvent | str,
        actor: str,
        request_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Add one link inside the caller's transaction (which then holds the chain lock)."""
        clean = _plain(dict(details or {}))
        when = as_utc(at or utc_now())
        name = str(event.value if isinstance(event, AuditEvent) else event)
        head = session.execute(_CHAIN_HEAD).scalar_one_or_none()
        if head is None:
            raise AuditError("the audit chain head is missing; run `jitbot db upgrade`")
        seq = head.seq + 1
        digest = row_hash(
            head.hash,
            seq=seq,
            at=when,
            request_id=request_id,
            actor=actor,
            event=name,
            details=clean,
        )
        row = AuditRow(
            seq=seq,
            at=when,
            request_id=request_id,
            actor=actor,
            event=name,
            details=canonical_json(clean),
            prev_hash=head.hash,
            hash=digest,
        )
        session.add(row)
        head.seq, head.hash = seq, digest
        session.flush()
        return _record(row)

    def records(
        self,
        *,
        request_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        query = select(AuditRow).order_by(AuditRow.seq)
        if request_id is not None:
            query = query.where(AuditRow.request_id == request_id)
        if since is not None:
            query = query.where(AuditRow.at >= as_utc(since))
        if limit is not None:
            query = query.limit(limit)
        with self.database.transaction() as session:
            return [_record(row) for row in session.execute(query).scalars()]

    def get(self, seq: int) -> AuditRecord | None:
        with self.database.transaction() as session:
            row = session.get(AuditRow, seq)
            return _record(row) if row is not None else None

    def verify(self) -> VerifyReport:
        with self.database.transaction() as session:
            head = session.get(AuditHeadRow, 1)
            rows = session.execute(select(AuditRow).order_by(AuditRow.seq)).scalars()
            return verify_chain(
                (_raw(row) for row in rows),
                head=(head.seq, head.hash) if head is not None else None,
            )


@dataclass(frozen=True)
class _RawRow:
    seq: int
    at: datetime
    request_id: str | None
    actor: str
    event: str
    details: str
    prev_hash: str
    hash: str


def _raw(row: AuditRow) -> _RawRow:
    return _RawRow(
        row.seq, as_utc(row.at), row.request_id, row.actor, row.event, row.details,
        row.prev_hash, row.hash,
    )


def verify_chain(rows: Iterable[_RawRow], head: tuple[int, str] | None) -> VerifyReport:
    """Walk the chain in `seq` order and name the first row that breaks it."""
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    for row in rows:
        count += 1
        if row.seq < expected_seq:
            return _bad(count, row.seq, "inserted",
                        f"row {row.seq} is out of order: the chain already reached row "
                        f"{expected_seq - 1} (a row was inserted)")
        if row.seq > expected_seq:
            missing = _span(expected_seq, row.seq - 1)
            return _bad(count, expected_seq, "deleted",
                        f"{missing} missing: the chain jumps from row {expected_seq - 1} to "
                        f"row {row.seq} (deleted)")
        if row.prev_hash != prev_hash:
            before = f"row {row.seq - 1}" if row.seq > 1 else "the start of the chain"
            return _bad(count, row.seq, "broken-link",
                        f"row {row.seq} does not link to {before}: its prev_hash differs from "
                        f"that row's hash ({before} was rewritten, or rows were inserted or "
                        "deleted before it)")
        try:
            details = json.loads(row.details)
        except ValueError:
            return _bad(count, row.seq, "edited",
                        f"row {row.seq} was edited: its details are not valid JSON")
        digest = row_hash(
            row.prev_hash,
            seq=row.seq,
            at=row.at,
            request_id=row.request_id,
            actor=row.actor,
            event=row.event,
            details=details,
        )
        if digest != row.hash:
            return _bad(count, row.seq, "edited",
                        f"row {row.seq} was edited: its contents no longer match its hash")
        expected_seq, prev_hash = row.seq + 1, row.hash
    last = expected_seq - 1
    if head is not None:
        head_seq, head_hash = head
        if head_seq > last:
            missing = _span(last + 1, head_seq)
            return _bad(count, last + 1, "deleted",
                        f"{missing} missing: the chain ends at row {last} but its head "
                        f"records row {head_seq} (deleted from the end)")
        if head_seq < last:
            return _bad(count, head_seq + 1, "inserted",
                        f"row {head_seq + 1} was inserted: the chain head records row "
                        f"{head_seq} as the last one written")
        if head_hash != prev_hash:
            return _bad(count, last, "edited",
                        f"row {last} was replaced: its hash differs from the one the chain "
                        "head records")
    return VerifyReport(rows=count, problem=None)


def _span(first: int, last: int) -> str:
    return f"row {first} is" if first == last else f"rows {first}..{last} are"


def _bad(count: int, seq: int, kind: str, message: str) -> VerifyReport:
    return VerifyReport(rows=count, problem=ChainProblem(seq=seq, kind=kind, message=message))


def export_jsonl(records: Iterable[AuditRecord]) -> Iterator[str]:
    for record in records:
        yield canonical_json(record.as_json())


CSV_COLUMNS = ("seq", "at", "request_id", "actor", "event", "details", "prev_hash", "hash")


def csv_row(record: AuditRecord) -> list[str]:
    data = record.as_json()
    data["details"] = canonical_json(record.details)
    return ["" if data[name] is None else str(data[name]) for name in CSV_COLUMNS]
