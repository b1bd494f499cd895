"""Prometheus metrics of one jitbot process, served at GET /metrics.

Each process builds one `Metrics` on its own registry, so tests can run several bots in
one interpreter without clashing over the global default registry.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
# `*_created` timestamps double the output and no jitbot dashboard reads them
disable_created_metrics()


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "jitbot_requests",
            "Access requests by outcome (submitted, rejected, approved, denied, cancelled, "
            "expired, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.approvals = Counter(
            "jitbot_approvals",
            "Approval decisions by verdict (approve, deny, refused).",
            ["decision"],
            registry=self.registry,
        )
        self.sessions_active = Gauge(
            "jitbot_sessions_active", "Sessions currently holding credentials.",
            registry=self.registry,
        )
        self.slack_requests_in_flight = Gauge(
            "jitbot_slack_requests_in_flight",
            "Slack requests being answered right now; near the HTTP thread count, "
            "requests are waiting for a thread.",
            registry=self.registry,
        )
        self.query_seconds = Histogram(
            "jitbot_query_seconds",
            "Time to run one DynamoDB operation of a session.",
            ["operation"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.slack_api_errors = Counter(
            "jitbot_slack_api_errors",
            "Slack Web API calls that failed after retries, by method and Slack error code.",
            ["method", "error"],
            registry=self.registry,
        )
        self.slack_commands = Counter(
            "jitbot_slack_commands",
            "Slash commands received, by verb (help, request, error).",
            ["verb"],
            registry=self.registry,
        )
        self.worker_rejections = Counter(
            "jitbot_worker_rejections",
            "Work refused because the worker pool was stuck or its queue full.",
            registry=self.registry,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
