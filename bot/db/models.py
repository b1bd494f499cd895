"""The tables jitbot keeps: requests and their approvals, sessions and executions, the
audit trail and its chain head, processed Slack event ids, alert offers too long for a
button, and the instance key.

No column ever holds AWS credentials other than the access key id (which the audit
trail records by design): the secret key and session token live in memory only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.db.columns import UtcDateTime

# Stable constraint names so migrations can refer to them on every database.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class RequestRow(Base):
    __tablename__ = "requests"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    runbook: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)  # JSON object of display values
    reason: Mapped[str | None] = mapped_column(Text)
    requester: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(64))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    approvals_required: Mapped[int] = mapped_column(Integer)
    # The exact call and scope that approvers saw: what runs, even if the runbook changes.
    rendered: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    session_ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by: Mapped[str | None] = mapped_column(String(64))
    end_reason: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # What the request asks for, who asks and where (repository.same_request_key): no two
    # pending requests share it, so a double click or a command sent twice makes one
    pending_key: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_requests_card", "channel", "card_ts"),
        Index("ix_requests_requester", "requester"),
        Index("uq_requests_pending_key", "pending_key", unique=True,
              sqlite_where=text("state = 'pending'"),
              postgresql_where=text("state = 'pending'")),
    )


class ApprovalRow(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    approver: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(8))  # approve | deny
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        UniqueConstraint("request_id", "approver", name="uq_approvals_request_approver"),
    )


class SessionRow(Base):
    """One per request that became active: the facts of its grant, never its secrets."""

    __tablename__ = "sessions"

    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    role_session_name: Mapped[str] = mapped_column(String(64))
    source_identity: Mapped[str] = mapped_column(String(64))
    access_key_id: Mapped[str] = mapped_column(String(128))
    credentials_expire_at: Mapped[datetime] = mapped_column(UtcDateTime)
    grants: Mapped[int] = mapped_column(Integer, default=1)


class ExecutionRow(Base):
    __tablename__ = "executions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(ForeignKey("requests.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(16))
    table_name: Mapped[str] = mapped_column(String(255))
    item_count: Mapped[int] = mapped_column(Integer)
    bytes_read: Mapped[int] = mapped_column(Integer)
    redacted_count: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    result_sha256: Mapped[str | None] = mapped_column(String(64))
    aws_request_ids: Mapped[str] = mapped_column(Text)  # JSON list
    # pending -> posted | failed: results go out at most once per execution.
    delivery: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("request_id", "number", name="uq_executions_request_number"),
    )


class ProcessedEventRow(Base):
    """Slack event ids already handled; the primary key makes the first claimer win."""

    __tablename__ = "processed_events"

    event_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class AlertOfferRow(Base):
    """A runbook offered under an alert whose parameters do not fit in a button's value
    (Slack allows 2000 characters): the button carries this row's id instead. Kept as
    long as the button may be clicked, which Slack does not bound."""

    __tablename__ = "alert_offers"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    runbook: Mapped[str] = mapped_column(String(64))
    params: Mapped[str] = mapped_column(Text)  # JSON object of raw values from the alert
    channel: Mapped[str] = mapped_column(String(64))
    alert_ts: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InstanceRow(Base):
    """One row: a random key made once, so redaction hashes stay stable across restarts."""

    __tablename__ = "instance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditRow(Base):
    """One link of the hash chain; `seq` is assigned under the chain-head lock, gap-free."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    request_id: Mapped[str | None] = mapped_column(String(16), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON, exactly as hashed
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The chain head: locked by every append so the chain stays a single line."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
