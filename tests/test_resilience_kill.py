"""kill -9 in the middle of a query or of an approval: after a restart no request is left
stuck and no session outlives its deadline.

The bot is `jitbot serve`'s runtime in a child process (run as `python -m
tests.test_resilience_kill`): the same build_runtime, waitress server and timer as
`jitbot serve`, with one difference: every runbook's session lasts SESSION_SECONDS, below
the runbook format's one-minute minimum, so the test need not wait a minute for a
deadline. Its AWS traffic goes through a fault proxy (tests/faults.py) to moto server;
the proxy holds the GetItem, or the AssumeRole, unanswered, so the SIGKILL lands while
the bot is inside that call. Slack is the fake Slack, the database SQLite.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.audit import AuditTrail
from bot.db.engine import Database
from bot.db.models import RequestRow
from bot.demo.fake_slack import ALICE, CAROL, OPS_CHANNEL, Call, FakeSlack
from tests.e2e_surfaces import (
    approve_card,
    card_request_id,
    request_card,
    text_of,
    thread_posts,
    wait_thread,
)
from tests.faults import FaultProxy, Seen
from tests.slack_signing import http_request
from tests.support.slack import REPO, serve_env

SESSION_SECONDS = 8.0


def _serve_short_sessions() -> None:
    """The child: `jitbot serve` (HTTP) with short sessions; settings from the environment."""
    from bot.core.catalog import Catalog, load_catalog
    from bot.logs import configure_logging
    from bot.settings import load_settings
    from bot.slack.runtime import build_runtime
    from bot.web import make_server
    from tests.support.db import with_session

    configure_logging("INFO")
    settings = load_settings()
    catalog = Catalog(with_session(runbook, SESSION_SECONDS)
                      for runbook in load_catalog(settings.runbooks_dir))
    runtime = build_runtime(settings, catalog, workers=4)
    server = make_server(runtime.web(), "127.0.0.1", settings.port, threads=4)
    runtime.start()
    server.run()


class Bot:
    """The child process; `start()` returns once /healthz answers."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.url = f"http://127.0.0.1:{env['JITBOT_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None
        from tests.slack_signing import SlackHttp

        self.slack = SlackHttp(self.url)

    def start(self) -> Bot:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.test_resilience_kill"], cwd=REPO, env=self.env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            with contextlib.suppress(OSError):
                if http_request("GET", self.url + "/healthz", timeout=2).status == 200:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"the bot did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def proxy(moto_server: Any) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def bots(fake_slack: FakeSlack, proxy: FaultProxy, orders_table: str, jit_role: str,
         tmp_path: Path) -> Iterator[Callable[[], Bot]]:
    """Makes the bot of this test: each call gives a process on the same database and port
    (the first start, then the restart)."""
    env = serve_env(fake_slack, tmp_path, AWS_ENDPOINT_URL=proxy.url)
    made: list[Bot] = []

    def make() -> Bot:
        made.append(Bot(env, tmp_path / "bot.log"))
        return made[-1]

    yield make
    proxy.clear()
    for bot in made:
        bot.stop()


def get_item(seen: Seen) -> bool:
    return seen.headers.get("x-amz-target") == "DynamoDB_20120810.GetItem"


def assume_role(seen: Seen) -> bool:
    return b"Action=AssumeRole" in seen.body


def approve(bot: Any, slack: FakeSlack, card: Call) -> str:
    return approve_card(bot, slack, card, CAROL)


def request_row(database: Database, request_id: str) -> RequestRow:
    with database.transaction() as session:
        return session.execute(select(RequestRow).where(RequestRow.id == request_id)).scalar_one()


def audit(database: Database, request_id: str) -> list[tuple[str, datetime, dict[str, Any]]]:
    return [(r.event, r.at, r.details)
            for r in AuditTrail(database).records(request_id=request_id)]


def test_a_kill_during_the_query_leaves_a_session_that_runs_again_and_ends_on_time(
        bots: Callable[[], Bot], fake_slack: FakeSlack, proxy: FaultProxy) -> None:
    slack = fake_slack
    bot = bots().start()
    database = Database(bot.env["JITBOT_DATABASE_URL"])
    try:
        card = request_card(bot, slack, 'orders-lookup order_id=1001 reason="kill drill"',
                            ALICE)
        request_id = card_request_id(card)
        query = proxy.hold(get_item)
        ts = approve(bot, slack, card)
        query.wait_held()
        bot.kill()  # the query is in flight: credentials issued, nothing posted yet
        query.release()
        row = request_row(database, request_id)
        assert row.state == "active" and row.session_ends_at is not None
        assert not [c for c in thread_posts(slack, OPS_CHANNEL, ts) if "*Results*" in text_of(c)]

        bots().start()
        # not stuck: the requester runs the query again within the session
        reply = bot.slack.action("jit_run_again", request_id, user_id=ALICE,
                                 channel_id=OPS_CHANNEL, message_ts=ts,
                                 message=slack.message(OPS_CHANNEL, ts))
        assert reply.status == 200
        results = wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
        assert "ORDER#1001" in text_of(results)
        # and the session still ends at its deadline, which the restart did not move
        wait_thread(slack, OPS_CHANNEL, ts, "Session ended", timeout=SESSION_SECONDS + 15)
        ended = request_row(database, request_id)
        assert ended.state == "ended" and ended.session_ends_at == row.session_ends_at
        events = audit(database, request_id)
        [(_, ended_at, details)] = [e for e in events if e[0] == "session.ended"]
        assert ended_at >= row.session_ends_at.replace(tzinfo=ended_at.tzinfo)
        assert details["why"] == "deadline reached"
        issued = [d for e, _, d in events if e == "credentials.issued"]
        assert [d["reissued"] for d in issued] == [False, True]
        assert [e for e, _, _ in events].count("query.executed") == 1
        assert len([c for c in thread_posts(slack, OPS_CHANNEL, ts)
                    if "*Results*" in text_of(c)]) == 1
    finally:
        database.dispose()


def test_a_kill_during_the_approval_leaves_no_request_waiting(
        bots: Callable[[], Bot], fake_slack: FakeSlack, proxy: FaultProxy) -> None:
    slack = fake_slack
    bot = bots().start()
    database = Database(bot.env["JITBOT_DATABASE_URL"])
    try:
        card = request_card(bot, slack, 'orders-lookup order_id=1002 reason="kill drill"',
                            ALICE)
        request_id = card_request_id(card)
        assume = proxy.hold(assume_role)
        ts = approve(bot, slack, card)
        assume.wait_held()
        bot.kill()  # approved, the role being assumed, no session yet
        assume.release()
        assert request_row(database, request_id).state == "approved"

        bots().start()
        told = wait_thread(slack, OPS_CHANNEL, ts, "did not start", timeout=10)
        assert "the bot stopped before the session could start" in text_of(told)
        assert request_row(database, request_id).state == "ended"
        slack.wait_for("chat.update", lambda c: (c.args.get("ts") == ts
                                                 and "jit_approve" not in text_of(c)
                                                 and "jit_run_again" not in text_of(c)
                                                 and "Session ended" in text_of(c)))
        events = [e for e, _, _ in audit(database, request_id)]
        assert "credentials.issued" not in events and "query.executed" not in events
        assert events[-2:] == ["credentials.failed", "session.ended"]
    finally:
        database.dispose()


if __name__ == "__main__":
    _serve_short_sessions()
