"""jitbot's own bounded worker pool: where slow work runs after a listener has acked.

Bolt's listener threads must answer Slack within 3 seconds, so a listener only parses,
acks and hands off here. A burst of requests (an incident channel all typing `/jit` at
once) is queued, not refused: everyone's card comes, a little later. `submit` refuses at
once (`PoolBusy`), and the listener tells the person to try again, only when the bot is
stuck — the oldest waiting task has waited longer than `max_wait` seconds (every worker
held up by a dependency that does not answer) — or when `queue_size` tasks wait, a bound
on memory far above any burst people can type.

Given `acks` (what `jitbot serve` does), a worker about to start a task while a burst of
Slack requests is being answered — half the HTTP threads or more busy with one at once, or
a flood of them one after another — waits for the burst to pass (at most `max_defer`
seconds after the task was queued).
Acks and workers share one interpreter lock, and a burst is exactly when the backlog of
cards is long: worked off during the burst it would slow every ack, and Slack gives an
ack 3 seconds, a card none. Outside bursts (an approval, an alert storm's steady stream)
nothing waits. The deferral is cooperative on purpose: lowering the workers' OS priority
instead lets a worker be preempted while it holds the interpreter lock, and then every
ack waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, ParamSpec

P = ParamSpec("P")

# Tasks waiting at most: well above a burst people can type (the ack-latency benchmark's
# 2,000 commands at once), and a bound on memory (a waiting task holds a few kilobytes).
QUEUE_SIZE = 4096
# The oldest waiting task waited this long: the workers are stuck (every one held up by a
# dependency that does not answer), not merely behind: on two cores the backlog of those
# 2,000 commands drains in about 20 seconds.
MAX_WAIT_SECONDS = 60.0
# Work deferred by a burst of acks starts this long after it was queued at most, so a
# burst that does not end cannot starve it.
MAX_DEFER_SECONDS = 5.0
# A burst has passed once it has been over this long: the gaps between its acks are
# shorter, and a waiting worker looks again this often.
SETTLE_SECONDS = 0.05
# This many Slack requests begun within SETTLE_SECONDS (200 a second) are a flood even
# when each is answered before the next arrives: a retry storm or a script, never people
# typing. The alert storm the bot is built for (1,000 alerts in 10 s) stays below it, so
# its replies never wait; above it, acks are a large share of the CPU.
FLOOD_ACKS = 10
log = logging.getLogger(__name__)


class PoolBusy(RuntimeError):
    """The pool is stuck (its oldest task waited too long) or its queue is full."""


class AcksInFlight:
    """Counts the Slack requests being answered right now; the web layer marks each with
    `answering()`. A burst is `busy_at` of them at once, or `flood` of them begun within
    `settle` seconds: on one CPU a request is often answered before the next begins, so
    a flood that saturates the server need not show as requests at once (how much they
    overlap depends on where each gives up the interpreter lock, to write a log line say).

    A waiting worker looks again after a pause rather than being woken: during a burst
    the count changes thousands of times a second, and waking the workers at each change
    would itself take the interpreter lock from the acks."""

    def __init__(self, busy_at: int, settle: float = SETTLE_SECONDS,
                 flood: int = FLOOD_ACKS) -> None:
        if busy_at < 1 or settle <= 0 or flood < 2:
            raise ValueError("busy_at must be >= 1, settle > 0 and flood >= 2")
        self.busy_at = busy_at
        self.settle = settle
        self._lock = threading.Lock()
        self._count = 0
        self._begun: deque[float] = deque(maxlen=flood)  # when the latest requests began
        self._burst_seen = float("-inf")  # the last moment a burst was known to go on

    @property
    def count(self) -> int:
        """Slack requests being answered right now."""
        return self._count

    def answering(self) -> AcksInFlight:
        """`with acks.answering():` counts one request for the length of the block. The
        counter is its own context manager, with no state per request: a generator-based
        one cost every ack a few microseconds more."""
        return self

    def __enter__(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._count += 1
            begun = self._begun
            begun.append(now)
            if len(begun) == begun.maxlen and now - begun[0] < self.settle:
                self._burst_seen = now

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._count -= 1
            if self._count == self.busy_at - 1:
                self._burst_seen = time.monotonic()

    def wait_calm(self, timeout: float) -> bool:
        """Wait until no burst is being answered; False if `timeout` passed first."""
        now = time.monotonic()
        deadline = now + timeout
        while True:
            with self._lock:
                bursting = self._count >= self.busy_at
                settled_in = self._burst_seen + self.settle - now
            if not bursting and settled_in <= 0:
                return True
            if now >= deadline:
                return False
            time.sleep(min(self.settle if bursting else settled_in, deadline - now))
            now = time.monotonic()


# a queued task: its name for the logs, the function and its arguments
_Task = tuple[str, Callable[..., object], tuple[Any, ...], dict[str, Any]]


class WorkerPool:
    """`workers` threads of its own taking tasks in the order they were submitted.

    Its own threads and queue rather than a ThreadPoolExecutor: `submit` runs on the HTTP
    thread before every ack, and the executor's Future and its check for an idle thread
    (a semaphore wait, even with a timeout of 0) cost several times the rest of handing a
    task over. Nobody waits for a task's result: a task tells people itself."""

    def __init__(
        self,
        workers: int = 8,
        queue_size: int = QUEUE_SIZE,
        on_rejected: Callable[[], None] | None = None,
        *,
        max_wait: float = MAX_WAIT_SECONDS,
        acks: AcksInFlight | None = None,
        max_defer: float = MAX_DEFER_SECONDS,
    ) -> None:
        if workers < 1 or queue_size < 0 or max_wait <= 0 or max_defer < 0:
            raise ValueError("a worker pool needs at least one worker, a queue size >= 0, "
                             "a positive max_wait and a max_defer >= 0")
        if acks is not None and max_defer >= max_wait:
            raise ValueError("max_defer must be shorter than max_wait: a task deferred for a "
                             "burst of acks is not a sign that the pool is stuck")
        self._on_rejected = on_rejected
        self.capacity = workers + queue_size  # running + waiting tasks
        self.max_wait = max_wait
        self.acks = acks
        self.max_defer = max_defer
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._closed = False
        # when each task still waiting for a worker was queued, oldest first: workers take
        # tasks in the order they were submitted, so each start removes the oldest
        self._queued_at: deque[float] = deque()
        self._tasks: SimpleQueue[_Task | None] = SimpleQueue()  # None: a worker stops
        self._threads = [threading.Thread(target=self._work, name=f"jit-worker-{n}",
                                          daemon=True) for n in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, name: str, fn: Callable[P, object], *args: P.args,
               **kwargs: P.kwargs) -> None:
        """Run `fn` on a worker; `name` labels the task in logs. Raises PoolBusy when the
        pool is stuck or full, RuntimeError once it is shut down."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            now = time.monotonic()
            queued_at = self._queued_at
            stuck = bool(queued_at) and now - queued_at[0] > self.max_wait
            if not stuck and self._in_flight < self.capacity:
                self._in_flight += 1
                queued_at.append(now)
                # under the lock, so the queue's order is the order of _queued_at
                self._tasks.put((name, fn, args, kwargs))
                return
        if self._on_rejected is not None:
            self._on_rejected()
        log.warning("worker pool %s; task refused", "stuck" if stuck else "full",
                    extra={"task": name})
        raise PoolBusy("jitbot is busy right now; try again in a minute")

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None:
            self._run(*task)

    def _run(self, name: str, fn: Callable[..., object], args: tuple[Any, ...],
             kwargs: dict[str, Any]) -> None:
        try:
            if self.acks is not None:
                with self._lock:
                    queued_at = self._queued_at[0]
                self.acks.wait_calm(queued_at + self.max_defer - time.monotonic())
            with self._lock:
                self._queued_at.popleft()
            fn(*args, **kwargs)
        except Exception:
            # the task's own error handling failed; log the type and stack, never its data
            log.exception("task failed", extra={"task": name})
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no task is queued or running; False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        """Stop taking tasks; with `wait`, finish those queued and wait for the workers,
        else drop those not started and return at once."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not wait:
                while True:
                    try:
                        self._tasks.get_nowait()
                    except Empty:
                        break
                    self._in_flight -= 1
                    self._queued_at.pop()
                if self._in_flight == 0:
                    self._idle.notify_all()
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()
