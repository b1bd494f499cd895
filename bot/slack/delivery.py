"""Results posted at most once, though Slack may act and then fail to say so.

A 429 means Slack did nothing, so retrying it is always safe. A 5xx, an `internal_error`
or `fatal_error` answer, or a dropped connection is ambiguous: Slack may have posted the
message (or shared the file) and then failed to answer, and a blind retry would post the
redacted results twice. So a results post retries those only after reading its thread
(conversations.replies) and finding the results not there; when they are there, the post
is done. A results message is recognised by its message metadata (request id and run), a
results file by its title, which names the run.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

RESULTS_EVENT = "jit_results"
RATE_LIMIT_RETRIES = 3
AMBIGUOUS_RETRIES = 2  # each one only after the thread was read and the results were absent
# Slack documents both as "it's possible some aspect of the operation succeeded"
AMBIGUOUS_ERRORS = frozenset({"internal_error", "fatal_error"})

Shows = Callable[[Mapping[str, Any]], bool]  # does this thread message hold the results?


def results_metadata(request_id: str, run: int) -> dict[str, Any]:
    """The message metadata that marks one run's results message."""
    return {"event_type": RESULTS_EVENT, "event_payload": {"request": request_id, "run": run}}


class ResultsDelivery:
    """Posts results in a thread, retrying rate limits freely and ambiguous failures only
    once the thread shows the results are missing."""

    def __init__(self, client: WebClient, backoff: RetryIntervalCalculator | None = None):
        self._client = client  # reads the thread: its own retries are safe for a read
        self._backoff = backoff or BackoffRetryIntervalCalculator()

    def post_message(self, *, channel: str, thread_ts: str | None,
                     metadata: dict[str, Any], **message: Any) -> None:
        def shows(found: Mapping[str, Any]) -> bool:
            return _same_metadata(found.get("metadata"), metadata)

        self._once(channel, thread_ts, shows, lambda client: client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, metadata=metadata, **message))

    def upload_file(self, *, channel: str, thread_ts: str | None, title: str,
                    **upload: Any) -> None:
        def shows(found: Mapping[str, Any]) -> bool:
            return any(file.get("title") == title for file in found.get("files") or [])

        self._once(channel, thread_ts, shows, lambda client: client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, title=title, **upload))

    def _once(self, channel: str, thread_ts: str | None, shows: Shows,
              send: Callable[[WebClient], object]) -> None:
        look = LookBeforeRetry(lambda: self._in_thread(channel, thread_ts, shows),
                               self._backoff)
        # a copy keeps the token, base URL, timeout and metrics, with only these retries:
        # the bot's client would retry a 5xx or a dropped connection blindly
        client = copy.copy(self._client)
        client.retry_handlers = [RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                                 look]
        try:
            send(client)
        except Exception:
            if not look.found:
                raise
            log.warning("Slack failed to answer a results post it had made; "
                        "the results are in the thread, not posting them again")

    def _in_thread(self, channel: str, thread_ts: str | None, shows: Shows) -> bool | None:
        """Whether the thread holds the results; None when that cannot be told."""
        if thread_ts is None:
            return None  # a top-level post has no thread to read
        try:
            for page in self._client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200):
                if any(shows(message) for message in page.get("messages") or []):
                    return True
        except Exception as exc:  # SlackApiError, OSError: unknown, so never post again
            log.warning("could not read the results thread: %s", type(exc).__name__)
            return None
        return False


class LookBeforeRetry(RetryHandler):
    """A slack_sdk retry handler for ambiguous failures: after the backoff it reads the
    thread (`look`) and retries only when the results are not there. `found` tells the
    caller that a call which failed had delivered them all the same."""

    def __init__(self, look: Callable[[], bool | None], backoff: RetryIntervalCalculator):
        super().__init__(max_retry_count=AMBIGUOUS_RETRIES, interval_calculator=backoff)
        self._look = look
        self.found = False

    def can_retry(self, *, state: RetryState, request: HttpRequest,
                  response: HttpResponse | None = None,
                  error: Exception | None = None) -> bool:
        # can_retry rather than _can_retry, which is only asked while retries are left:
        # the last attempt's failure is looked into too, so results Slack posted before
        # failing are reported delivered rather than failed
        if not _ambiguous(response, error):
            return False
        # the backoff comes before the look, giving Slack time to show what it did
        time.sleep(self.interval_calculator.calculate_sleep_duration(state.current_attempt))
        there = self._look()
        self.found = there is True
        return there is False and state.current_attempt < self.max_retry_count

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        state.next_attempt_requested = True  # no sleep: it came before the look
        state.increment_current_attempt()


def _ambiguous(response: HttpResponse | None, error: Exception | None) -> bool:
    """A failure after which Slack may or may not have acted."""
    if response is None:
        return isinstance(error, OSError)  # reset, dropped, timed out: it may have arrived
    if response.status_code >= 500:
        return True
    return response.status_code == 200 and (response.body or {}).get("error") in AMBIGUOUS_ERRORS


def _same_metadata(found: Any, sent: Mapping[str, Any]) -> bool:
    return (isinstance(found, Mapping) and found.get("event_type") == sent["event_type"]
            and found.get("event_payload") == sent["event_payload"])
