"""The audit trail: canonical hashing, a linear chain under concurrency, append-only
tables, and verification that names the first row an attacker touched."""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot.core.audit import (
    GENESIS_HASH,
    AuditError,
    AuditEvent,
    AuditTrail,
    canonical_json,
    row_hash,
)
from bot.db.engine import Database
from tests.support.db import tamper

AT = datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)


def _append(trail: AuditTrail, n: int = 1, **details: object) -> None:
    for i in range(n):
        with trail.database.transaction() as session:
            trail.append(session, event=AuditEvent.request_created, actor="U1",
                         request_id="ABCDEFGH", details={"i": i, **details})


def test_the_first_row_hashes_exactly_as_specified(database: Database) -> None:
    trail = AuditTrail(database)
    with database.transaction() as session:
        record = trail.append(session, event=AuditEvent.request_created, actor="U1",
                              request_id="ABCDEFGH", details={"runbook": "orders-lookup",
                                                              "reason": "café ☕"}, at=AT)
    body = ('{"actor":"U1","at":"2026-11-26T09:30:00.123456+00:00",'
            '"details":{"reason":"café ☕","runbook":"orders-lookup"},'
            '"event":"request.created","request_id":"ABCDEFGH","seq":1}')
    expected = hashlib.sha256((GENESIS_HASH + body).encode("utf-8")).hexdigest()
    assert (record.seq, record.prev_hash, record.hash) == (1, GENESIS_HASH, expected)
    [stored] = trail.records()
    assert stored == record
    assert trail.verify().ok


def test_canonical_json_is_sorted_compact_utf8() -> None:
    assert canonical_json({"b": 1, "a": {"d": "é", "c": [1, 2]}}) == \
        '{"a":{"c":[1,2],"d":"é"},"b":1}'


def test_rows_link_to_each_other(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 5)
    records = trail.records()
    assert [r.seq for r in records] == [1, 2, 3, 4, 5]
    for before, after in itertools.pairwise(records):
        assert after.prev_hash == before.hash
        assert after.hash == row_hash(before.hash, seq=after.seq, at=after.at,
                                      request_id=after.request_id, actor=after.actor,
                                      event=after.event, details=after.details)
    report = trail.verify()
    assert report.ok and report.rows == 5


def test_a_secret_is_refused_and_nothing_is_written(database: Database) -> None:
    trail = AuditTrail(database)
    for details in ({"secret_access_key": "x"}, {"nested": {"SessionToken": "x"}},
                    {"value": object()}):
        with pytest.raises(AuditError), database.transaction() as session:
            trail.append(session, event=AuditEvent.credentials_issued, actor="jitbot",
                         details=details)
    assert trail.records() == []


def test_a_rolled_back_step_leaves_no_gap(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 2)
    with pytest.raises(RuntimeError), database.transaction() as session:
        trail.append(session, event=AuditEvent.request_created, actor="U1")
        raise RuntimeError("the step failed after its audit row")
    _append(trail, 1)
    assert [r.seq for r in trail.records()] == [1, 2, 3]
    assert trail.verify().ok


def test_concurrent_writers_keep_one_linear_chain(test_db) -> None:
    # Two Database objects behave like two processes (separate pools and locks).
    databases = [test_db.open(), test_db.open()]
    trails = [AuditTrail(db) for db in databases]
    start = threading.Barrier(8)

    def write(k: int) -> None:
        start.wait()
        _append(trails[k % 2], 10, writer=k)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        records = trails[0].records()
        assert [r.seq for r in records] == list(range(1, 81))
        assert trails[0].verify().ok
    finally:
        for db in databases:
            db.dispose()


@pytest.mark.parametrize("statement", [
    "UPDATE audit_events SET actor = 'UEVIL' WHERE seq = 1",
    "DELETE FROM audit_events WHERE seq = 1",
])
def test_the_table_refuses_updates_and_deletes(database: Database, statement: str) -> None:
    trail = AuditTrail(database)
    _append(trail, 2)
    with pytest.raises(DBAPIError, match="append-only"), database.engine.begin() as connection:
        connection.execute(text(statement))
    assert trail.verify().ok and len(trail.records()) == 2


def test_an_edited_row_is_named(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 5)
    tamper(database, "UPDATE audit_events SET details = :d WHERE seq = 3",
           d=json.dumps({"i": 99}))
    problem = trail.verify().problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (3, "edited")
    assert "row 3 was edited" in problem.message


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 5)
    row = trail.records()[2]
    forged = row_hash(row.prev_hash, seq=3, at=row.at, request_id=row.request_id,
                      actor="UEVIL", event=row.event, details=row.details)
    tamper(database, "UPDATE audit_events SET actor = 'UEVIL', hash = :h WHERE seq = 3",
           h=forged)
    problem = trail.verify().problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (4, "broken-link")
    assert "row 4 does not link to row 3" in problem.message


def test_a_deleted_row_is_named(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 5)
    tamper(database, "DELETE FROM audit_events WHERE seq = 2")
    problem = trail.verify().problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (2, "deleted")
    assert "row 2 is missing" in problem.message


def test_rows_deleted_from_the_end_are_named(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 5)
    tamper(database, "DELETE FROM audit_events WHERE seq >= 4")
    problem = trail.verify().problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (4, "deleted")
    assert "rows 4..5 are missing" in problem.message


def test_an_inserted_row_is_named(database: Database) -> None:
    trail = AuditTrail(database)
    _append(trail, 3)
    last = trail.records()[-1]
    # A perfectly linked and hashed row, written behind the bot's back.
    forged = row_hash(last.hash, seq=4, at=AT, request_id=None, actor="UEVIL",
                      event="approval.granted", details={})
    tamper(database,
           "INSERT INTO audit_events (seq, at, request_id, actor, event, details, prev_hash,"
           " hash) VALUES (4, :at, NULL, 'UEVIL', 'approval.granted', '{}', :prev, :hash)",
           at=AT.replace(tzinfo=None) if database.is_sqlite else AT, prev=last.hash,
           hash=forged)
    problem = trail.verify().problem
    assert problem is not None
    assert (problem.seq, problem.kind) == (4, "inserted")
    assert "row 4 was inserted" in problem.message


def test_rows_filter_by_request_and_time(database: Database) -> None:
    trail = AuditTrail(database)
    with database.transaction() as session:
        trail.append(session, event=AuditEvent.request_created, actor="U1",
                     request_id="AAAAAAAA", at=datetime(2026, 1, 1, tzinfo=UTC))
        trail.append(session, event=AuditEvent.request_created, actor="U1",
                     request_id="BBBBBBBB", at=datetime(2026, 6, 1, tzinfo=UTC))
    assert [r.request_id for r in trail.records(request_id="BBBBBBBB")] == ["BBBBBBBB"]
    since = trail.records(since=datetime(2026, 3, 1, tzinfo=UTC))
    assert [r.request_id for r in since] == ["BBBBBBBB"]
