"""jitbot's bounded worker pool: a burst is queued, a stuck or full pool refuses, during
a burst of acks the workers wait, and what a person sees when the pool refuses; what must
happen right after an ack does not wait for the pool."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from bot.slack.deps import urgent_threads
from bot.slack.handoff import hand_off, right_away
from bot.slack.workers import AcksInFlight, PoolBusy, WorkerPool
from tests.fakeslack import FakeSlack
from tests.support.slack import command_answer, start_bot

T = TypeVar("T")


def outcome(pool: WorkerPool, name: str, fn: Callable[..., T], *args: Any) -> Future[T]:
    """Submit `fn(*args)` and return a Future of its result (the pool keeps none: its
    tasks tell people themselves); a failure still reaches the pool, which logs it."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(fn(*args))
        except BaseException as exc:
            future.set_exception(exc)
            raise

    pool.submit(name, run)
    return future


def test_work_runs_on_a_worker_and_returns_its_result() -> None:
    pool = WorkerPool(workers=2, queue_size=2)
    try:
        assert outcome(pool, "double", lambda x: x * 2, 21).result(timeout=5) == 42
        assert outcome(pool, "name", threading.current_thread).result(timeout=5).name.startswith(
            "jit-worker")
    finally:
        pool.shutdown()


def test_a_failing_task_is_logged_and_frees_its_slot(caplog: pytest.LogCaptureFixture) -> None:
    pool = WorkerPool(workers=1, queue_size=0)

    def broken() -> None:
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError, match="boom"):
            outcome(pool, "broken", broken).result(timeout=5)
        assert pool.wait_idle(5)
        assert outcome(pool, "after", lambda: "ok").result(timeout=5) == "ok"
    finally:
        pool.shutdown()
    (record,) = [r for r in caplog.records if r.getMessage() == "task failed"]
    assert record.task == "broken"  # type: ignore[attr-defined]


def test_a_burst_is_queued_not_refused() -> None:
    pool = WorkerPool(workers=1)
    release = threading.Event()
    done: list[int] = []
    try:
        pool.submit("hold", release.wait, 10)
        for i in range(500):  # an incident channel all asking at once: everyone is heard
            pool.submit("request", done.append, i)
        release.set()
        assert pool.wait_idle(10) is True
        assert done == list(range(500))
    finally:
        release.set()
        pool.shutdown()


def test_shutting_down_without_waiting_drops_what_has_not_started() -> None:
    pool = WorkerPool(workers=1)
    release = threading.Event()
    ran: list[int] = []
    pool.submit("hold", release.wait, 10)
    for i in range(3):
        pool.submit("queued", ran.append, i)
    pool.shutdown(wait=False)
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit("late", ran.append, 99)
    release.set()
    assert pool.wait_idle(5) is True
    time.sleep(0.1)
    assert ran == []


def test_shutting_down_and_waiting_finishes_what_was_queued() -> None:
    pool = WorkerPool(workers=2)
    ran: list[int] = []
    for i in range(20):
        pool.submit("queued", lambda n: (time.sleep(0.005), ran.append(n)), i)
    pool.shutdown(wait=True)
    assert sorted(ran) == list(range(20))  # all of them, before shutdown returned


@contextmanager
def one_worker_held(**pool_args: Any) -> Iterator[tuple[WorkerPool, Future[None],
                                                          threading.Event, list[int]]]:
    """A one-worker pool whose worker is busy until the event is set; refusals counted."""
    refused: list[int] = []
    pool = WorkerPool(workers=1, on_rejected=lambda: refused.append(1), **pool_args)
    release = threading.Event()
    started = threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    try:
        running = outcome(pool, "hold", hold)
        started.wait(5)
        yield pool, running, release, refused
    finally:
        release.set()
        pool.shutdown()


def test_a_stuck_pool_refuses_at_once_and_recovers() -> None:
    with one_worker_held(max_wait=0.05) as (pool, _, release, refused):
        queued = outcome(pool, "queued", lambda: "queued")  # waiting, but not for long yet
        time.sleep(0.1)  # the oldest waiting task has now waited longer than max_wait
        with pytest.raises(PoolBusy, match="try again"):
            pool.submit("while stuck", lambda: None)
        assert refused == [1]
        release.set()
        assert queued.result(timeout=5) == "queued"
        assert outcome(pool, "again", lambda: "again").result(timeout=5) == "again"


def test_a_full_pool_refuses_at_once_and_recovers() -> None:
    with one_worker_held(queue_size=1) as (pool, running, release, refused):
        queued = outcome(pool, "queued", lambda: "queued")
        with pytest.raises(PoolBusy, match="try again"):
            pool.submit("one too many", lambda: None)
        assert refused == [1]
        assert pool.wait_idle(0.05) is False  # still holding
        release.set()
        assert pool.wait_idle(5) is True
        running.result(timeout=5)
        assert queued.result(timeout=5) == "queued"
        assert outcome(pool, "again", lambda: "again").result(timeout=5) == "again"


def test_a_request_while_the_pool_is_full_is_told_to_retry(fake_slack: FakeSlack) -> None:
    pool = WorkerPool(workers=1, queue_size=0)
    release = threading.Event()
    pool.submit("hold", release.wait, 10)
    bot = start_bot(fake_slack, workers=pool)
    try:
        answer = command_answer(bot.slack, fake_slack, 'orders-lookup order_id=1001 reason="x"')
        assert answer["text"] == "jitbot is busy right now; try again in a minute"
        assert bot.submissions.items == []
    finally:
        release.set()
        bot.server.stop()
        pool.shutdown()


def test_a_command_while_the_urgent_threads_are_full_is_told_in_the_ack(
        fake_slack: FakeSlack) -> None:
    bot = start_bot(fake_slack)
    urgent = bot.deps.urgent
    held = threading.Event()
    try:
        while True:  # every urgent thread held and every place in its queue taken
            try:
                urgent.submit("slack is slow", held.wait, 10)
            except PoolBusy:
                break
        reply = bot.slack.command('orders-lookup order_id=1001 reason="x"',
                                  response_url=fake_slack.response_url())
        assert reply.status == 200
        assert reply.json()["text"] == "jitbot is busy right now; try again in a minute"
        held.set()
        assert urgent.wait_idle(10)
        assert bot.submissions.items == [] and fake_slack.responses() == []
    finally:
        held.set()
        bot.server.stop()
        bot.deps.shutdown()


def test_a_click_while_the_pool_is_full_is_told_to_retry_without_waiting_for_slack(
        fake_slack: FakeSlack) -> None:
    with one_worker_held(queue_size=0) as (pool, _, _, _):
        bot = start_bot(fake_slack, workers=pool)
        try:
            held = threading.Event()
            bot.deps.urgent.submit("slack is slow", held.wait, 10)  # every urgent thread
            for _ in range(3):
                bot.deps.urgent.submit("slack is slow", held.wait, 10)
            ran: list[str] = []
            # the listener's own thread returns at once: telling the person is queued
            assert hand_off(bot.deps, "approve", "U_BOB", "C_OPS", lambda: ran.append("x"),
                            "1700000000.000100") is False
            assert fake_slack.ephemerals("U_BOB") == []
            held.set()
            told = fake_slack.wait_for("chat.postEphemeral")
            assert told.args["user"] == "U_BOB" and told.args["thread_ts"] == "1700000000.000100"
            assert "jitbot is busy right now" in told.args["text"]
            assert ran == []
        finally:
            bot.server.stop()


def test_during_a_burst_of_acks_workers_wait_until_it_has_passed() -> None:
    acks = AcksInFlight(busy_at=2, settle=0.05)
    pool = WorkerPool(workers=1, acks=acks)
    try:
        with acks.answering():
            with acks.answering():  # half the HTTP threads answering Slack: a burst
                started = outcome(pool, "card", time.monotonic)
                time.sleep(0.1)
                assert not started.done()
            ended = time.monotonic()
            assert started.result(timeout=5) >= ended + 0.05  # once the burst has settled
    finally:
        pool.shutdown()


def test_a_form_waits_for_a_burst_of_acks_only_as_long_as_its_trigger_allows() -> None:
    acks = AcksInFlight(busy_at=1)
    urgent = urgent_threads(acks)
    try:
        with acks.answering():  # a burst that does not end
            queued = time.monotonic()
            started = outcome(urgent, "request-form", time.monotonic).result(timeout=5)
        # the acks went first for a while; the form still opens well inside the 3 s a
        # trigger id lasts
        assert queued + 0.9 <= started < queued + 2.0
    finally:
        urgent.shutdown()


def test_the_acks_in_flight_are_counted_for_the_metrics() -> None:
    acks = AcksInFlight(busy_at=4)
    with acks.answering(), acks.answering():
        assert acks.count == 2
    assert acks.count == 0


def test_a_flood_of_acks_one_after_another_is_a_burst() -> None:
    # on one CPU each request may be answered before the next begins: never two at once
    acks = AcksInFlight(busy_at=2, settle=0.2, flood=5)
    pool = WorkerPool(workers=1, acks=acks)
    try:
        for _ in range(5):
            with acks.answering():
                pass
        flooded = time.monotonic()
        started = outcome(pool, "card", time.monotonic)
        assert started.result(timeout=5) >= flooded + 0.15  # waited for the flood to settle
    finally:
        pool.shutdown()


def test_acks_at_a_steady_pace_below_a_flood_are_no_burst() -> None:
    acks = AcksInFlight(busy_at=2, settle=0.5, flood=5)
    pool = WorkerPool(workers=1, acks=acks)
    try:
        for _ in range(6):  # at most 4 within any `settle`, as an alert storm's pace
            with acks.answering():
                pass
            time.sleep(0.15)
        queued = time.monotonic()
        # taken for a flood, the task would wait until 0.5 s after the last ack
        assert outcome(pool, "reply", time.monotonic).result(timeout=2) < queued + 0.25
    finally:
        pool.shutdown()


def test_a_request_or_two_being_answered_is_no_burst() -> None:
    acks = AcksInFlight(busy_at=3, settle=5.0)
    pool = WorkerPool(workers=1, acks=acks)
    try:
        with acks.answering(), acks.answering():  # an approval and an alert: no waiting
            started = time.monotonic()
            assert outcome(pool, "approval", time.monotonic).result(timeout=2) < started + 1
    finally:
        pool.shutdown()


def test_a_task_waits_for_a_burst_of_acks_at_most_max_defer() -> None:
    acks = AcksInFlight(busy_at=1)
    pool = WorkerPool(workers=1, acks=acks, max_defer=0.1)
    try:
        with acks.answering():  # a burst that does not end
            queued = time.monotonic()
            assert outcome(pool, "card", time.monotonic).result(timeout=5) >= queued + 0.1
    finally:
        pool.shutdown()


def test_a_deferral_as_long_as_the_stuck_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="max_defer must be shorter than max_wait"):
        WorkerPool(workers=1, acks=AcksInFlight(busy_at=1), max_wait=5, max_defer=5)


def test_the_web_layer_counts_the_slack_requests_it_answers(fake_slack: FakeSlack) -> None:
    # busy_at=1: the command's own request is a burst, so its card waits for the request
    # to be answered and then `settle` seconds
    pool = WorkerPool(workers=1, acks=AcksInFlight(busy_at=1, settle=0.3), max_defer=5)
    bot = start_bot(fake_slack, workers=pool)
    started: list[float] = []
    bot.on_submission = lambda submission: started.append(time.monotonic())
    try:
        sent = time.monotonic()
        reply = bot.slack.command('orders-lookup order_id=1001 reason="x"')
        assert reply.status == 200
        assert bot.deps.wait_idle(5)  # the command read, its request queued and run
        assert len(started) == 1
        assert started[0] >= sent + 0.3
    finally:
        bot.server.stop()
        bot.deps.shutdown()


def test_work_right_after_an_ack_runs_at_once_and_a_failure_is_logged(
        fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture) -> None:
    # the worker pool is held: what must reach Slack at once does not wait behind it
    with one_worker_held() as (pool, _, _, _):
        bot = start_bot(fake_slack, workers=pool)
        try:
            opened = threading.Event()
            right_away(bot.deps, "request-form", opened.set)
            assert opened.wait(2)

            def fails() -> None:
                raise ConnectionError("slack unreachable")

            with caplog.at_level(logging.ERROR, logger="bot.slack.workers"):
                right_away(bot.deps, "request-form", fails)
                bot.deps.urgent.shutdown(wait=True)
            assert "task failed" in caplog.text
        finally:
            bot.server.stop()
