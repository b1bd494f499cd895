"""Races: many threads (and two 'replicas', i.e. two Database objects with their own
pools) doing the same thing at once change the state exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from bot.core.ports import Refused
from bot.core.states import RequestState
from bot.db.repository import claim_event
from tests.support.db import APPROVERS, DBAS, REQUESTER, Core, FakeAccess, Recorder, make_core

THREADS = 20


def together(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work(i)` on `count` threads released at the same instant; collect outcomes."""
    start = threading.Barrier(count)
    outcomes: list[Any] = [None] * count

    def run(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = work(i)
        except Exception as exc:  # the outcome under test, not a crash
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def replicas(test_db: Any, access: FakeAccess) -> tuple[list[Core], Recorder]:
    """Two workflows on one database, each with its own engine, sharing AWS and Slack."""
    notifier = Recorder()
    cores = [make_core(test_db.open(), access=access, notifier=notifier) for _ in range(2)]
    return cores, notifier


def close(cores: list[Core]) -> None:
    for core in cores:
        core.database.dispose()


def audit_counts(core: Core, request_id: str) -> Counter[str]:
    return Counter(r.event for r in core.workflow.audit.records(request_id=request_id))


def test_twenty_approvers_at_once_start_exactly_one_session(test_db: Any) -> None:
    access = FakeAccess()
    cores, notifier = replicas(test_db, access)
    try:
        view = cores[0].workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"},
                                        "ticket", "C1")
        outcomes = together(THREADS, lambda i: cores[i % 2].workflow.approve(
            view.id, APPROVERS[i + 1]))
        refused = [o for o in outcomes if isinstance(o, Refused)]
        assert all(o.code == "wrong_state" for o in refused), outcomes
        assert len(refused) == THREADS - 1
        assert len(access.grants) == 1 and len(access.runs) == 1
        counts = audit_counts(cores[0], view.id)
        assert counts["approval.granted"] == 1
        assert counts["credentials.issued"] == 1
        assert counts["query.executed"] == 1
        assert counts["results.posted"] == 1
        assert counts["approval.refused"] == THREADS - 1
        assert len(notifier.of("results")) == 1
        assert cores[0].workflow.view(view.id).state is RequestState.active
        assert cores[0].workflow.audit.verify().ok
    finally:
        close(cores)


def test_one_approver_clicking_twenty_times_counts_once(test_db: Any) -> None:
    access = FakeAccess()
    cores, _ = replicas(test_db, access)
    try:
        view = cores[0].workflow.create(REQUESTER, "stuck-orders-scan", {"status": "STUCK"},
                                        "ticket", "C1")
        outcomes = together(THREADS, lambda i: cores[i % 2].workflow.approve(
            view.id, APPROVERS[1]))
        refused = [o for o in outcomes if isinstance(o, Refused)]
        assert len(refused) == THREADS - 1 and {o.code for o in refused} == {"duplicate"}
        after = cores[0].workflow.view(view.id)
        assert after.state is RequestState.pending and after.approved_by == [APPROVERS[1]]
        assert audit_counts(cores[0], view.id)["approval.granted"] == 1
        assert access.grants == []
    finally:
        close(cores)


def test_a_two_approver_quorum_under_a_stampede_counts_two(test_db: Any) -> None:
    access = FakeAccess()
    cores, _ = replicas(test_db, access)
    try:
        view = cores[0].workflow.create(REQUESTER, "stuck-orders-scan", {"status": "STUCK"},
                                        "ticket", "C1")
        people = [*APPROVERS[1:THREADS - 1], *DBAS]
        together(len(people), lambda i: cores[i % 2].workflow.approve(view.id, people[i]))
        after = cores[0].workflow.view(view.id)
        assert after.state is RequestState.active and len(after.approved_by) == 2
        assert audit_counts(cores[0], view.id)["approval.granted"] == 2
        assert len(access.grants) == 1
    finally:
        close(cores)


def test_duplicate_deliveries_of_one_event_are_claimed_once(test_db: Any) -> None:
    cores, _ = replicas(test_db, FakeAccess())
    try:
        outcomes = together(THREADS, lambda i: claim_event(cores[i % 2].database,
                                                           "Ev06ABCDEF:1700000000.000200"))
        assert outcomes.count(True) == 1 and outcomes.count(False) == THREADS - 1
    finally:
        close(cores)


def test_twenty_enders_end_a_session_once(test_db: Any) -> None:
    access = FakeAccess()
    cores, notifier = replicas(test_db, access)
    try:
        view = cores[0].workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"},
                                        "ticket", "C1")
        cores[0].workflow.approve(view.id, APPROVERS[1])
        ends = cores[0].workflow.view(view.id).session_ends_at
        outcomes = together(THREADS, lambda i: cores[i % 2].workflow.end_due(ends))
        assert sum(len(o) for o in outcomes) == 1
        assert audit_counts(cores[0], view.id)["session.ended"] == 1
        assert len(notifier.of("session_ended")) == 1
    finally:
        close(cores)


def test_twenty_sweeps_expire_a_request_once(test_db: Any) -> None:
    cores, notifier = replicas(test_db, FakeAccess())
    try:
        view = cores[0].workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"},
                                        "ticket", "C1")
        due = view.expires_at
        outcomes = together(THREADS, lambda i: cores[i % 2].workflow.expire_due(due))
        assert sum(len(o) for o in outcomes) == 1
        assert audit_counts(cores[0], view.id)["request.expired"] == 1
        assert len(notifier.of("request_closed")) == 1
    finally:
        close(cores)
