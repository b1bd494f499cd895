"""The request state machine: the transition table and its conditional updates."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.core.states import TRANSITIONS, IllegalTransition, RequestState, check_transition
from bot.db.engine import Database
from bot.db.models import RequestRow
from bot.db.repository import (
    claim_event,
    instance_key,
    new_request_id,
    transition,
)

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def test_the_table_is_the_one_in_the_design() -> None:
    s = RequestState
    assert TRANSITIONS[s.pending] == {s.approved, s.denied, s.cancelled, s.expired}
    assert TRANSITIONS[s.approved] == {s.active, s.ended}
    assert TRANSITIONS[s.active] == {s.ended}
    assert {state for state in s if state.is_final} == {s.ended, s.denied, s.cancelled,
                                                         s.expired}


@pytest.mark.parametrize("current", list(RequestState))
@pytest.mark.parametrize("target", list(RequestState))
def test_check_transition_follows_the_table(current: RequestState,
                                            target: RequestState) -> None:
    if target in TRANSITIONS[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"{current} -> {target}"):
            check_transition(current, target)


def test_request_ids_are_short_and_safe_for_a_role_session_name() -> None:
    ids = {new_request_id() for _ in range(500)}
    assert len(ids) == 500
    for rid in ids:
        assert len(rid) == 8
        assert set(rid) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def _insert(database: Database, state: RequestState = RequestState.pending) -> str:
    rid = new_request_id()
    with database.transaction() as session:
        session.add(RequestRow(
            id=rid, runbook="orders-lookup", params=json.dumps({"order_id": "1001"}),
            reason="t", requester="U1", channel="C1", source="command", state=state.value,
            approvals_required=1, rendered="{}", created_at=NOW,
            expires_at=NOW + timedelta(minutes=30), version=1,
        ))
    return rid


def _row(database: Database, rid: str) -> RequestRow:
    with database.transaction() as session:
        return session.execute(select(RequestRow).where(RequestRow.id == rid)).scalar_one()


def test_a_transition_happens_once_and_bumps_the_version(database: Database) -> None:
    rid = _insert(database)
    with database.transaction() as session:
        assert transition(session, rid, RequestState.pending, RequestState.approved,
                          approved_at=NOW)
    with database.transaction() as session:
        assert not transition(session, rid, RequestState.pending, RequestState.approved)
        assert not transition(session, rid, RequestState.pending, RequestState.cancelled)
    row = _row(database, rid)
    assert (row.state, row.version, row.approved_at) == ("approved", 2, NOW)


def test_a_transition_outside_the_table_is_a_programming_error(database: Database) -> None:
    rid = _insert(database, RequestState.ended)
    with database.transaction() as session, pytest.raises(IllegalTransition):
        transition(session, rid, RequestState.ended, RequestState.active)
    assert _row(database, rid).state == "ended"


def test_times_come_back_as_the_same_utc_instant(database: Database) -> None:
    rid = _insert(database)
    row = _row(database, rid)
    assert row.created_at == NOW and row.created_at.tzinfo is not None
    assert row.expires_at - row.created_at == timedelta(minutes=30)


def test_an_event_is_claimed_once(database: Database) -> None:
    assert claim_event(database, "Ev0123:1700000000.000100")
    assert not claim_event(database, "Ev0123:1700000000.000100")
    assert claim_event(database, "Ev0124:1700000000.000100")


def test_the_instance_key_is_made_once_and_kept(test_db, database: Database) -> None:
    key = instance_key(database)
    assert len(key) == 32
    other = test_db.open()
    try:
        assert instance_key(other) == key
    finally:
        other.dispose()
