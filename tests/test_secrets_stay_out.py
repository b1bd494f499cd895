"""The secret key and session token of every grant stay in memory: after a full flow
(request, approval, results, Run again, a restart with a reissued grant, End session)
no column of any table, and no log line, contains them. Once with known fake secrets,
once with real STS credentials from moto through the real AwsAccess."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from bot.core.access import AwsAccess
from bot.core.aws import AwsClients
from bot.core.grants import Grant
from bot.core.queries import RenderedRequest
from bot.core.runbooks import Runbook
from bot.core.states import RequestState
from bot.db.engine import Database
from tests.support.db import APPROVERS, REQUESTER, FakeAccess, make_core


def every_value(database: Database) -> str:
    """Every value of every column of every table (reflected: nothing is left out)."""
    metadata = MetaData()
    metadata.reflect(database.engine)
    assert {"requests", "sessions", "executions", "audit_events"} <= set(metadata.tables)
    out: list[str] = []
    with database.engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                out.extend(str(value) for value in row)
    return "\n".join(out)


class Capturing:
    """Wraps an access port and keeps the grants it hands out, to know their secrets."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.grants: list[Grant] = []

    def grant(self, rendered: RenderedRequest, runbook: Runbook, *, request_id: str,
              requester: str, approvers: Sequence[str]) -> Grant:
        grant = self.inner.grant(rendered, runbook, request_id=request_id,
                                 requester=requester, approvers=approvers)
        self.grants.append(grant)
        return grant

    def run(self, grant: Grant, rendered: RenderedRequest) -> Any:
        return self.inner.run(grant, rendered)

    def end(self, grant: Grant) -> None:
        self.inner.end(grant)


def full_flow(database: Database, make_access: Any) -> tuple[list[Grant], str]:
    first = make_core(database, access=Capturing(make_access()))
    view = first.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"},
                                 "ticket 4411", "C1")
    first.workflow.approve(view.id, APPROVERS[1])
    assert first.workflow.run_again(view.id, REQUESTER) is not None
    restarted = make_core(database, access=Capturing(make_access()))
    assert restarted.workflow.run_again(view.id, REQUESTER) is not None
    restarted.workflow.end_session(view.id, REQUESTER)
    assert restarted.workflow.view(view.id).state is RequestState.ended
    outputs = first.notifier.of("results") + restarted.notifier.of("results")
    assert len(outputs) == 3 and all(o[1].item_count == 1 for o in outputs)
    grants = first.access.grants + restarted.access.grants
    assert len(grants) == 2
    return grants, view.id


def capture_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Everything jitbot logs, at DEBUG; the HTTP libraries at the level the bot's own
    logging setup gives them (bot.logs quiets them to WARNING)."""
    caplog.set_level(logging.DEBUG)
    for noisy in ("botocore", "boto3", "urllib3"):
        caplog.set_level(logging.WARNING, logger=noisy)


def assert_no_secrets(grants: list[Grant], database: Database, logs: str) -> None:
    dump = every_value(database)
    for grant in grants:
        assert grant.access_key_id in dump  # recorded by design: proves the dump works
        for secret in (grant.secret_access_key, grant.session_token):
            assert len(secret) >= 16
            assert secret not in dump
            assert secret not in logs


def test_fake_secrets_never_reach_the_database_or_logs(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    capture_logs(caplog)
    grants, _ = full_flow(database, FakeAccess)
    assert all(g.secret_access_key.startswith("FAKESECRET") for g in grants)
    assert_no_secrets(grants, database, caplog.text)


def test_real_sts_secrets_never_reach_the_database_or_logs(
    database: Database, caplog: pytest.LogCaptureFixture, aws_clients: AwsClients,
    orders_table: str, jit_role: str,
) -> None:
    capture_logs(caplog)
    grants, request_id = full_flow(database, lambda: AwsAccess(aws_clients))
    assert all(g.role_arn == jit_role for g in grants)
    assert grants[0].role_session_name == f"jit-{request_id}"
    assert_no_secrets(grants, database, caplog.text)
