"""The timer: deadline jobs, the sweep, start-up after downtime, and several schedulers
on one database ending each session exactly once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from bot.core.states import RequestState
from bot.db.engine import Database
from bot.jobs import Timer
from tests.support.db import (
    APPROVERS,
    REQUESTER,
    Core,
    FakeAccess,
    Recorder,
    make_core,
    short_catalog,
)

WAIT = 15.0  # generous: a failure is a session that never ends, not a slow one


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def start_session(core: Core, order_id: str = "1001") -> str:
    view = core.workflow.create(REQUESTER, "orders-lookup", {"order_id": order_id}, "t", "C1")
    core.workflow.approve(view.id, APPROVERS[1])
    return view.id


def state(core: Core, request_id: str) -> RequestState:
    return core.workflow.view(request_id).state


@pytest.fixture
def timers() -> Any:
    started: list[Timer] = []
    yield started
    for timer in started:
        timer.stop()


def test_a_deadline_job_ends_the_session(database: Database, timers: list[Timer]) -> None:
    core = make_core(database, catalog=short_catalog(1))
    # A sweep too slow to matter: only the session's own job can end it in time.
    timer = Timer(core.workflow, sweep_seconds=3600)
    timer.start()
    timers.append(timer)
    rid = start_session(core)
    assert state(core, rid) is RequestState.active
    assert timer.scheduler.get_job(f"session_end:{rid}") is not None
    # The notifier hears of it right after the ending step commits.
    wait_for(lambda: core.notifier.of("session_ended"), "the session to end")
    view = core.workflow.view(rid)
    assert view.end_reason == "deadline reached" and view.ended_at >= view.session_ends_at
    assert core.access.ended == [core.access.grants[0].access_key_id]
    ended = [r for r in core.workflow.audit.records(request_id=rid)
             if r.event == "session.ended"]
    assert len(ended) == 1 and ended[0].details["why"] == "deadline reached"
    assert [a[1:] for a in core.notifier.of("session_ended")] == [("jitbot",
                                                                    "deadline reached")]


def test_a_pending_request_expires_on_time(database: Database, timers: list[Timer]) -> None:
    core = make_core(database, request_ttl=timedelta(seconds=1))
    timer = Timer(core.workflow, sweep_seconds=3600)
    timer.start()
    timers.append(timer)
    view = core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "t", "C1")
    wait_for(lambda: state(core, view.id) is RequestState.expired, "the request to expire")
    assert [r.event for r in core.workflow.audit.records(request_id=view.id)] == [
        "request.created", "request.expired"]


def test_the_sweep_ends_a_session_another_replica_started(test_db: Any,
                                                         timers: list[Timer]) -> None:
    with_timer = make_core(test_db.open(), catalog=short_catalog(1))
    other = make_core(test_db.open(), catalog=short_catalog(1))  # a replica without a timer
    try:
        timer = Timer(with_timer.workflow, sweep_seconds=0.2)
        timer.start()
        timers.append(timer)
        rid = start_session(other)
        assert timer.scheduler.get_job(f"session_end:{rid}") is None
        wait_for(lambda: with_timer.notifier.of("session_ended"), "the sweep to end it")
        assert state(with_timer, rid) is RequestState.ended
        assert other.notifier.of("session_ended") == []
    finally:
        timer.stop()
        with_timer.database.dispose()
        other.database.dispose()


def test_on_start_overdue_sessions_end_at_once_and_the_rest_are_rescheduled(
    database: Database, timers: list[Timer]
) -> None:
    short = make_core(database, catalog=short_catalog(1))
    overdue = start_session(short, "1001")
    later = make_core(database, catalog=short_catalog(3))
    upcoming = start_session(later, "1002")
    time.sleep(1.1)
    restarted = make_core(database, catalog=short_catalog(3), access=FakeAccess())
    timer = Timer(restarted.workflow, sweep_seconds=3600)
    report = timer.start()
    timers.append(timer)
    assert report.ended == [overdue]
    assert state(restarted, overdue) is RequestState.ended
    assert state(restarted, upcoming) is RequestState.active
    assert timer.scheduler.get_job(f"session_end:{upcoming}") is not None
    wait_for(lambda: state(restarted, upcoming) is RequestState.ended, "the rescheduled end")


def test_two_schedulers_end_every_session_exactly_once(test_db: Any,
                                                       timers: list[Timer]) -> None:
    notifier = Recorder()
    access = FakeAccess()
    cores = [make_core(test_db.open(), catalog=short_catalog(1.5), access=access,
                       notifier=notifier) for _ in range(2)]
    try:
        for core in cores:
            timer = Timer(core.workflow, sweep_seconds=0.1)
            timer.start()
            timers.append(timer)
        ids = [start_session(cores[n % 2], str(1001 + n)) for n in range(6)]
        wait_for(lambda: len(notifier.of("session_ended")) >= len(ids),
                 "every session to end")
        assert all(state(cores[0], rid) is RequestState.ended for rid in ids)
        time.sleep(0.5)  # give a late duplicate every chance to show up
        ended = Counter(r.request_id for r in cores[0].workflow.audit.records()
                        if r.event == "session.ended")
        assert ended == Counter({rid: 1 for rid in ids})
        assert Counter(args[0].id for args in notifier.of("session_ended")) == ended
        assert cores[0].workflow.audit.verify().ok
    finally:
        for timer in timers:
            timer.stop()
        for core in cores:
            core.database.dispose()


def test_a_failing_sweep_keeps_the_timer_alive(database: Database, timers: list[Timer],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    core = make_core(database)
    timer = Timer(core.workflow, sweep_seconds=0.1)
    timer.start()
    timers.append(timer)
    calls: list[int] = []

    def broken(now: Any = None) -> Any:
        calls.append(1)
        raise RuntimeError("database went away")

    monkeypatch.setattr(core.workflow, "sweep", broken)
    wait_for(lambda: len(calls) >= 3, "three sweeps despite failures")
    assert timer.running


def test_the_sweep_interval_must_be_positive(database: Database) -> None:
    with pytest.raises(ValueError, match="longer than zero"):
        Timer(make_core(database).workflow, sweep_seconds=0)
