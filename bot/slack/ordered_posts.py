"""Slack posts that run in the background yet land in order, one line of posts per key.

An approval's thread reply and the card's new state are for people to read, not steps
the session waits on: posted on the approving worker they would put two Slack round trips
(a few hundred milliseconds on the real API) between the approval and the credentials.
Here they run on a few threads of their own while the workflow goes on, and posts under
one key (a request's thread, or its card) still reach Slack in the order they were made:
a key's post starts once the one before it has finished. Starts follow submission order
(the executor's queue is FIFO), so a post only ever waits on one already running, and the
few threads cannot all end up waiting.

`wait(key)` lets a post whose outcome matters (the results, which are audited) go after
what came before it in the thread, on the caller's own thread. A failed post is logged,
as the workflow logs a failed notification, and the next one in line goes ahead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

log = logging.getLogger(__name__)

THREADS = 4
# A post waited on longer than this is stuck (the WebClient's own timeouts and retries
# give up well before); what comes after it goes ahead rather than waiting for ever.
WAIT_SECONDS = 60.0


class OrderedPosts:
    def __init__(self, threads: int = THREADS) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="slack-post")
        self._lock = threading.Lock()
        self._last: dict[Hashable, Future[None]] = {}  # each key's latest post, until done

    def submit(self, key: Hashable, name: str, post: Callable[..., Any], *args: Any) -> None:
        """Run `post(*args)` after the posts already made under `key`; `name` is for logs."""
        with self._lock:
            before = self._last.get(key)
            future = self._executor.submit(self._run, before, name, post, *args)
            self._last[key] = future
        future.add_done_callback(lambda done: self._forget(key, done))

    def wait(self, key: Hashable, timeout: float = WAIT_SECONDS) -> None:
        """Wait until the posts made under `key` so far have finished."""
        with self._lock:
            last = self._last.get(key)
        if last is not None:
            wait_for([last], timeout)

    def close(self, timeout: float = WAIT_SECONDS) -> None:
        """Let the posts already made finish (for `timeout` seconds at most), then stop."""
        with self._lock:
            pending = list(self._last.values())
        wait_for(pending, timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _run(before: Future[None] | None, name: str, post: Callable[..., Any],
             *args: Any) -> None:
        if before is not None:
            wait_for([before], WAIT_SECONDS)
        try:
            post(*args)
        except Exception as exc:
            log.warning("notifier %s failed: %s: %s", name, type(exc).__name__, exc)

    def _forget(self, key: Hashable, done: Future[None]) -> None:
        with self._lock:
            if self._last.get(key) is done:
                del self._last[key]
