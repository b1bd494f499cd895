"""Small, race-safe building blocks on the tables: conditional transitions, event claims,
the instance key, request ids, stored alert offers. The workflow composes them inside its
transactions."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.core.states import RequestState, check_transition
from bot.db.columns import utc_now
from bot.db.engine import Database
from bot.db.models import AlertOfferRow, InstanceRow, ProcessedEventRow, RequestRow

REQUEST_ID_LENGTH = 8  # base32 of 5 random bytes: [A-Z2-7]{8}, safe in a RoleSessionName


def new_request_id() -> str:
    return base64.b32encode(secrets.token_bytes(5)).decode("ascii")


def same_request_key(requester: str, runbook: str, params: Mapping[str, str], channel: str,
                     thread_ts: str | None) -> str:
    """The same person asking the same runbook for the same values in the same place
    (channel, or alert thread): the reason aside, the same request."""
    asked = [requester, runbook, dict(sorted(params.items())), channel, thread_ts or ""]
    return hashlib.sha256(json.dumps(asked, ensure_ascii=False).encode()).hexdigest()


def pending_same(session: Session, key: str) -> str | None:
    """The id of the pending request with this `same_request_key`, if there is one."""
    return session.execute(
        select(RequestRow.id).where(RequestRow.pending_key == key,
                                    RequestRow.state == RequestState.pending.value)
    ).scalar_one_or_none()


def transition(
    session: Session,
    request_id: str,
    expected: RequestState,
    target: RequestState,
    **values: Any,
) -> bool:
    """Move one request `expected -> target` with a conditional UPDATE; False when another
    caller (thread, replica, retried event) got there first or the state is different."""
    check_transition(expected, target)
    result = session.execute(
        update(RequestRow)
        .where(RequestRow.id == request_id, RequestRow.state == expected.value)
        .values(state=target.value, version=RequestRow.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def lock_request(session: Session, request_id: str) -> RequestRow | None:
    """Load a request and hold its row lock (PostgreSQL) until the transaction ends; on
    SQLite the transaction already holds the database write lock."""
    return session.execute(
        select(RequestRow).where(RequestRow.id == request_id).with_for_update()
    ).scalar_one_or_none()


def _insert_for(session: Session) -> Any:
    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert


def claim_event(database: Database, event_key: str, *, now: datetime | None = None) -> bool:
    """True only for the first caller with this key, across threads and processes."""
    if not event_key:
        raise ValueError("an event key is needed to de-duplicate an event")
    with database.transaction() as session:
        insert = _insert_for(session)
        result = session.execute(
            insert(ProcessedEventRow)
            .values(event_key=event_key[:255], claimed_at=now or utc_now())
            .on_conflict_do_nothing(index_elements=["event_key"])
            .returning(ProcessedEventRow.event_key)
        )
        # A row comes back only when this call inserted it (rowcount is unreliable here).
        return result.first() is not None


def prune_events(session: Session, older_than: datetime) -> int:
    """Forget claims older than Slack's retry window; they can never be retried again."""
    result = session.execute(
        delete(ProcessedEventRow).where(ProcessedEventRow.claimed_at < older_than)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def instance_key(database: Database) -> bytes:
    """The installation's random key, made by whichever process asks first."""
    with database.transaction() as session:
        insert = _insert_for(session)
        session.execute(
            insert(InstanceRow)
            .values(id=1, key=secrets.token_hex(32), created_at=utc_now())
            .on_conflict_do_nothing(index_elements=["id"])
        )
        key = session.execute(select(InstanceRow.key).where(InstanceRow.id == 1)).scalar_one()
    return bytes.fromhex(key)


@dataclass(frozen=True)
class StoredAlertOffer:
    """A runbook offered under an alert, with the raw values matched in the alert."""

    id: str
    runbook: str
    values: dict[str, str]
    channel: str
    alert_ts: str


def save_alert_offer(database: Database, runbook: str, values: Mapping[str, str],
                     channel: str, alert_ts: str) -> str:
    """Store an offer whose values do not fit in a button; returns the id to reference."""
    with database.transaction() as session:
        offer_id = new_request_id()
        while session.get(AlertOfferRow, offer_id) is not None:
            offer_id = new_request_id()
        session.add(AlertOfferRow(
            id=offer_id, runbook=runbook,
            params=json.dumps(dict(values), sort_keys=True, ensure_ascii=False),
            channel=channel, alert_ts=alert_ts, created_at=utc_now(),
        ))
    return offer_id


def load_alert_offer(database: Database, offer_id: str) -> StoredAlertOffer | None:
    with database.transaction() as session:
        row = session.get(AlertOfferRow, offer_id)
        if row is None:
            return None
        return StoredAlertOffer(id=row.id, runbook=row.runbook,
                                values={str(k): str(v) for k, v in json.loads(row.params).items()},
                                channel=row.channel, alert_ts=row.alert_ts)
