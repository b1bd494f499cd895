"""The database fails or goes away in the middle of a flow.

A request's card is up; then the database refuses writes (SQLite: a trigger makes every
audit insert fail, as a full or broken disk would) or becomes unreachable (PostgreSQL:
the bot's role loses its login and its connections are cut). The approver's click gets a
clear answer, no credentials are issued (no STS call at all), no query runs, the request
stays pending, and a new request is refused with the same clear answer. /healthz reports
an unreachable database. When the database is back, the same approval goes through.

The bot runs in this process (`jitbot serve`'s runtime, on waitress over HTTP), so the
test can watch the STS client it uses; Slack is the fake Slack, AWS is moto server.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bot.core.catalog import load_catalog
from bot.db.engine import Database
from bot.demo.fake_slack import ALICE, CAROL, OPS_CHANNEL, Call, FakeSlack
from bot.slack.runtime import Runtime, build_runtime
from tests.slack_signing import SlackHttp
from tests.support.aws import RequestSpy
from tests.support.db import postgres_url
from tests.support.slack import RUNBOOKS, WebServer, settings_for

UNAVAILABLE = "could not record this step"


@contextmanager
def running(fake: FakeSlack, database_url: str) -> Iterator[tuple[Runtime, WebServer]]:
    """`jitbot serve`'s runtime and HTTP server, in this process."""
    settings = settings_for(fake, database_url=database_url)
    runtime = build_runtime(settings, load_catalog(RUNBOOKS), workers=4)
    runtime.start()
    server = WebServer(runtime.web())
    try:
        yield runtime, server
    finally:
        server.stop()
        runtime.close()


def sts_spy(runtime: Runtime) -> RequestSpy:
    """Every request the bot's STS client sends: it sends only AssumeRole, which is how
    a session's credentials start."""
    return RequestSpy(runtime.workflow.sessions.access.aws.sts())  # type: ignore[attr-defined]


def request_card(http: SlackHttp, fake: FakeSlack, order: str) -> tuple[str, str]:
    """`/jit orders-lookup` by Alice; the card's ts and the request id."""
    before = len(fake.calls("chat.postMessage"))
    reply = http.command(f'orders-lookup order_id={order} reason="db outage drill"',
                         user_id=ALICE, response_url=fake.response_url("cmd"))
    assert reply.status == 200
    card = fake.wait_calls("chat.postMessage", before + 1)[before]
    assert "JIT request" in str(card.args)
    blocks = [b for b in card.args["blocks"] if b.get("type") == "actions"]
    return str(card.response["ts"]), str(blocks[0]["elements"][0]["value"])


def approve(http: SlackHttp, fake: FakeSlack, ts: str, request_id: str) -> None:
    reply = http.action("jit_approve", request_id, user_id=CAROL, channel_id=OPS_CHANNEL,
                        message_ts=ts, message=fake.message(OPS_CHANNEL, ts))
    assert reply.status == 200


def told(fake: FakeSlack, user: str, needle: str, seen: int = 0) -> Call:
    """An ephemeral to `user` (after the first `seen` of theirs) that contains `needle`."""
    found = fake.wait_calls("chat.postEphemeral", seen + 1,
                            lambda c: c.args.get("user") == user)[seen]
    assert needle in str(found.args), found.args
    return found


def results(fake: FakeSlack, ts: str) -> list[Call]:
    return [c for c in fake.calls("chat.postMessage")
            if c.args.get("thread_ts") == ts and "*Results*" in str(c.args)]


def refused_request(http: SlackHttp, fake: FakeSlack) -> dict[str, Any]:
    """A new request while the database is out: what the requester is told."""
    cards = len([c for c in fake.calls("chat.postMessage") if "JIT request" in str(c.args)])
    reply = http.command('orders-lookup order_id=1003 reason="during the outage"',
                         user_id=ALICE, response_url=fake.response_url("outage"))
    assert reply.status == 200
    answer = fake.wait_for("response", lambda c: "outage" in c.path).args
    assert len([c for c in fake.calls("chat.postMessage")
                if "JIT request" in str(c.args)]) == cards
    return answer


def test_failing_audit_writes_refuse_the_approval_and_the_bot_recovers(
        fake_slack: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path: Path) -> None:
    path = tmp_path / "jitbot.db"
    with running(fake_slack, f"sqlite:///{path}") as (runtime, server):
        http = SlackHttp(server.url)
        sts = sts_spy(runtime)
        ts, request_id = request_card(http, fake_slack, "1001")

        broken = sqlite3.connect(path)
        broken.execute("CREATE TRIGGER jit_test_outage BEFORE INSERT ON audit_events "
                       "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        approve(http, fake_slack, ts, request_id)
        told(fake_slack, CAROL, UNAVAILABLE)
        assert "try again" in refused_request(http, fake_slack)["text"]
        assert sts.sent == []  # no AssumeRole: no credentials were issued
        assert results(fake_slack, ts) == []
        assert runtime.workflow.view(request_id).state.value == "pending"

        broken.execute("DROP TRIGGER jit_test_outage")
        broken.close()
        approve(http, fake_slack, ts, request_id)
        fake_slack.wait_for("chat.postMessage",
                            lambda c: c.args.get("thread_ts") == ts and "*Results*" in str(c.args))
        assert len(results(fake_slack, ts)) == 1
        assert len(sts.sent) == 1  # one AssumeRole, once the database was back
        events = [r.event for r in runtime.workflow.audit.records(request_id=request_id)]
        assert events.count("credentials.issued") == 1 and events.count("query.executed") == 1
        assert "approval.refused" not in events  # the outage refusal could not be recorded
        assert runtime.workflow.audit.verify().ok


@pytest.fixture
def postgres_role(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """A PostgreSQL role and schema of its own, and a way to cut it off and restore it."""
    base = postgres_url()
    if base is None:
        pytest.skip("JITBOT_TEST_POSTGRES_URL is not set")
    admin = create_engine(Database(base).url, isolation_level="AUTOCOMMIT")
    role = f"jit_outage_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        try:
            connection.execute(text(f"CREATE ROLE {role} LOGIN PASSWORD 'outage-drill'"))
        except Exception as exc:  # no CREATEROLE right: this half cannot run here
            pytest.skip(f"cannot create a PostgreSQL role ({type(exc).__name__})")
        connection.execute(text(f"CREATE SCHEMA {role} AUTHORIZATION {role}"))
    url = Database(base).url.set(username=role, password="outage-drill")
    joiner = "&" if "?" in str(url.render_as_string(hide_password=False)) else "?"
    database_url = (url.render_as_string(hide_password=False)
                    + f"{joiner}options=-csearch_path%3D{role}")

    def cut(off: bool) -> None:
        with admin.connect() as connection:
            connection.execute(text(f"ALTER ROLE {role} {'NOLOGIN' if off else 'LOGIN'}"))
            if off:
                connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                        "WHERE usename = :role"), {"role": role})

    try:
        yield database_url, cut
    finally:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE usename = :role"), {"role": role})
            connection.execute(text(f"DROP SCHEMA IF EXISTS {role} CASCADE"))
            connection.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()


def test_an_unreachable_postgresql_is_reported_and_survived(
        fake_slack: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        postgres_role: tuple[str, Any]) -> None:
    database_url, cut = postgres_role
    with running(fake_slack, database_url) as (runtime, server):
        http = SlackHttp(server.url)
        sts = sts_spy(runtime)
        ts, request_id = request_card(http, fake_slack, "1002")
        assert server.get("/healthz").status == 200

        cut(True)
        health = server.get("/healthz")
        assert health.status == 503
        assert health.json()["checks"]["database"].startswith("unavailable")
        approve(http, fake_slack, ts, request_id)
        told(fake_slack, CAROL, UNAVAILABLE)
        assert "try again" in refused_request(http, fake_slack)["text"]
        assert sts.sent == []
        assert results(fake_slack, ts) == []

        cut(False)
        assert server.get("/healthz").status == 200
        assert runtime.workflow.view(request_id).state.value == "pending"
        approve(http, fake_slack, ts, request_id)
        fake_slack.wait_for("chat.postMessage",
                            lambda c: c.args.get("thread_ts") == ts and "*Results*" in str(c.args))
        assert len(results(fake_slack, ts)) == 1
        events = [r.event for r in runtime.workflow.audit.records(request_id=request_id)]
        assert events.count("credentials.issued") == 1 and events.count("query.executed") == 1


def test_a_card_posted_as_the_database_fails_is_recorded_once_it_is_back(
        fake_slack: FakeSlack, moto_server: object, orders_table: str, jit_role: str,
        tmp_path: Path) -> None:
    """The request is recorded and its card posted, then the database refuses the write
    that records where the card is. Without that record a reaction on the card finds no
    request and the results would miss the thread; the bot keeps trying until it sticks."""
    path = tmp_path / "jitbot.db"
    with running(fake_slack, f"sqlite:///{path}") as (runtime, server):
        http = SlackHttp(server.url)
        broken = sqlite3.connect(path)
        broken.execute("CREATE TRIGGER jit_test_outage BEFORE UPDATE OF card_ts ON requests "
                       "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        ts, request_id = request_card(http, fake_slack, "1004")
        time.sleep(1.0)  # the database stays out for a while

        def recorded() -> Any:
            return broken.execute("SELECT card_ts FROM requests WHERE id = ?",
                                  (request_id,)).fetchone()[0]

        assert recorded() is None
        # meanwhile the bot knows where the card is: a reaction finds the request, and an
        # approval would answer in the card's thread
        assert runtime.workflow.view(request_id).card_ts == ts
        assert runtime.workflow.find_by_card(OPS_CHANNEL, ts).id == request_id
        broken.execute("DROP TRIGGER jit_test_outage")
        deadline = time.monotonic() + 20
        while recorded() is None:
            assert time.monotonic() < deadline, "the card's place was never recorded"
            time.sleep(0.1)
        broken.close()
        assert runtime.workflow.view(request_id).card_ts == ts
        approve(http, fake_slack, ts, request_id)
        fake_slack.wait_for("chat.postMessage",
                            lambda c: c.args.get("thread_ts") == ts and "*Results*" in str(c.args))
