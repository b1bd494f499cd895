"""jitbot's own bounded worker pool: where slow work runs after a listener has acked.

Bolt's listener threads must answer Slack within 3 seconds, so a listener only parses,
acks and hands off here. The queue is bounded: when it is full `submit` refuses at once
(`PoolBusy`) instead of letting work pile up behind a stuck dependency, and the listener
tells the person to try again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

log = logging.getLogger(__name__)


class PoolBusy(RuntimeError):
    """Every worker is busy and the queue is full."""


class WorkerPool:
    def __init__(
        self,
        workers: int = 8,
        queue_size: int = 64,
        on_rejected: Callable[[], None] | None = None,
    ) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError("a worker pool needs at least one worker and a queue size >= 0")
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jit-worker")
        # running + waiting tasks; acquiring never blocks, so a full pool refuses at once
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._on_rejected = on_rejected
        self.capacity = workers + queue_size
        self._idle = threading.Condition()
        self._in_flight = 0

    def submit(self, name: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        """Run `fn` on a worker; `name` labels the task in logs. Raises PoolBusy when full."""
        if not self._slots.acquire(blocking=False):
            if self._on_rejected is not None:
                self._on_rejected()
            log.warning("worker pool full; task refused", extra={"task": name})
            raise PoolBusy("jitbot is busy right now; try again in a minute")
        with self._idle:
            self._in_flight += 1
        try:
            return self._executor.submit(self._run, name, fn, *args, **kwargs)
        except RuntimeError:
            self._done()
            raise

    def _run(self, name: str, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return fn(*args, **kwargs)
        except Exception:
            # the task's own error handling failed; log the type and stack, never its data
            log.exception("task failed", extra={"task": name})
            raise
        finally:
            self._done()

    def _done(self) -> None:
        self._slots.release()
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no task is queued or running; False if `timeout` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)
