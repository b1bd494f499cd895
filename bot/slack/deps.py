"""What the Slack listeners need, built once at the entry point and passed to `register`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.core.catalog import Catalog
from bot.core.params import BoundRequest
from bot.core.runbooks import Runbook
from bot.core.workflow import Workflow
from bot.metrics import Metrics
from bot.slack.workers import AcksInFlight, WorkerPool


@dataclass(frozen=True)
class RequestSubmission:
    """A request that passed every parameter check, ready for the workflow.

    `thread_ts` is set when the request comes from an alert thread: the card goes there.
    `respond` answers the requester privately (Slack's response_url, valid 30 minutes).
    `delivery` identifies a form submission's delivery (handoff.delivery_key): the same
    payload delivered again makes no second request.
    """

    bound: BoundRequest
    requester_id: str
    channel_id: str
    source: Literal["command", "alert", "modal"]
    thread_ts: str | None = None
    trigger_id: str | None = None
    response_url: str | None = None
    respond: Respond | None = None
    delivery: str | None = None


@dataclass(frozen=True)
class Rejection:
    """A request refused before it reached the workflow; audited by `SlackDeps.rejections`."""

    user_id: str
    channel_id: str
    runbook: str | None
    problems: list[str]


# A form's trigger id lasts 3 seconds from the person's action: a form deferred by a
# burst of acks still opens with time to spare for Slack's answer.
URGENT_MAX_DEFER_SECONDS = 1.0


def urgent_threads(acks: AcksInFlight | None = None) -> WorkerPool:
    """A few workers of their own for what must reach Slack right after an ack and cannot
    wait behind the worker pool's backlog: reading a `/jit` command (it may open a form,
    while its trigger id is fresh) and answering it, and opening a form. Given `acks`,
    during a burst of acks they wait for it to pass like the pool's workers, but never
    longer than URGENT_MAX_DEFER_SECONDS."""
    return WorkerPool(workers=4, acks=acks, max_defer=URGENT_MAX_DEFER_SECONDS)


@dataclass
class SlackDeps:
    catalog: Catalog
    client: WebClient
    workers: WorkerPool
    metrics: Metrics = field(default_factory=Metrics)
    # runs on the worker pool: records the request and posts its card
    requests: Callable[[RequestSubmission], None] | None = None
    # runs on the worker pool: audits a refused request
    rejections: Callable[[Rejection], None] | None = None
    # may do Slack look-ups (user groups), so help that uses it runs on the worker pool
    may_request: Callable[[str, Runbook], bool] | None = None
    command: str = "/jit"
    # the request workflow every button, reaction and event acts on
    workflow: Workflow | None = None
    approve_reactions: frozenset[str] = frozenset({"white_check_mark", "heavy_check_mark", "+1"})
    deny_reactions: frozenset[str] = frozenset({"x", "no_entry"})
    # listeners run on the HTTP thread and only parse, ack and hand off (`/jit` does not
    # even parse); what must still happen at once after the ack runs here
    urgent: WorkerPool = field(default_factory=urgent_threads)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing handed off after an ack is queued or running: the urgent
        threads first (they hand work on to the pool), then the pool. False if `timeout`
        passed first."""
        deadline = time.monotonic() + timeout
        return (self.urgent.wait_idle(timeout)
                and self.workers.wait_idle(max(0.0, deadline - time.monotonic())))

    def shutdown(self, wait: bool = True) -> None:
        """Stop both pools, the urgent threads first: they hand work on to the pool. With
        `wait`, what is queued is done first; without, what has not started is dropped."""
        self.urgent.shutdown(wait=wait)
        self.workers.shutdown(wait=wait)
