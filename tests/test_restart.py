"""Restart and start-up: a bot killed mid-session ends that session soon after it comes
back; the schema is upgraded on start (or refused when behind); migrations match models.

Run as `python -m tests.test_restart first|second URL` this file is also the bot process
the restart test starts and kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from typer.testing import CliRunner

from bot.cli import app
from bot.core.audit import AuditTrail
from bot.core.states import RequestState
from bot.db.engine import DatabaseError
from bot.db.migrate import current_revision, head_revision, migrations_dir, open_database
from bot.db.models import Base
from tests.support.db import APPROVERS, REQUESTER, TestDatabase

ROOT = Path(__file__).resolve().parents[1]
SESSION_SECONDS = 2.0


def _child(phase: str, url: str) -> None:
    """The bot's state core as a process: `first` starts a session and idles until it is
    killed; `second` starts like the bot does after a restart and idles."""
    from bot.db.migrate import open_database
    from bot.jobs import Timer
    from tests.support.db import make_core, short_catalog

    core = make_core(open_database(url), catalog=short_catalog(SESSION_SECONDS))
    timer = Timer(core.workflow)  # the production sweep interval
    timer.start()
    if phase == "first":
        view = core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "t",
                                    "C1")
        core.workflow.approve(view.id, APPROVERS[1])
        print(f"ACTIVE {view.id}", flush=True)
    else:
        print("STARTED", flush=True)
    threading.Event().wait()


def _spawn(phase: str, url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.test_restart", phase, url],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)


def _line(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    assert line, f"the child exited with {process.poll()} before reporting"
    return line


def test_a_killed_bot_ends_the_overdue_session_within_five_seconds_of_start(
    test_db: TestDatabase,
) -> None:
    first = _spawn("first", test_db.url)
    try:
        request_id = _line(first).removeprefix("ACTIVE ")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    database = test_db.open()
    try:
        trail = AuditTrail(database)
        from tests.support.db import make_core

        reader = make_core(database)
        view = reader.workflow.view(request_id)
        assert view.state is RequestState.active, "killed before its deadline"
        time.sleep(max(0.0, (view.session_ends_at - datetime.now(UTC)).total_seconds()) + 0.3)
        assert reader.workflow.view(request_id).state is RequestState.active

        started = datetime.now(UTC)
        second = _spawn("second", test_db.url)
        try:
            assert _line(second) == "STARTED"
            ended = [r for r in trail.records(request_id=request_id)
                     if r.event == "session.ended"]
            assert len(ended) == 1
            assert ended[0].at - started < timedelta(seconds=5)
            assert ended[0].details["why"] == "deadline reached"
            time.sleep(0.5)  # the restarted timer keeps running: still one end
            assert len([r for r in trail.records(request_id=request_id)
                        if r.event == "session.ended"]) == 1
            assert trail.verify().ok
        finally:
            second.terminate()
            second.wait(timeout=10)
    finally:
        database.dispose()


# ---- schema ------------------------------------------------------------------------


def test_start_up_upgrades_an_empty_database_once(empty_db: TestDatabase) -> None:
    results: list[Any] = []

    def start() -> None:
        try:
            results.append(current_revision(open_database(empty_db.url)))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=start) for _ in range(3)]  # replicas starting together
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [head_revision()] * 3


def test_without_migrating_an_old_database_is_refused(empty_db: TestDatabase) -> None:
    with pytest.raises(DatabaseError, match="jitbot db upgrade"):
        open_database(empty_db.url, migrate=False)


def test_the_migrations_build_exactly_the_models(test_db: TestDatabase) -> None:
    database = test_db.open()
    try:
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": False})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        database.dispose()


def test_jitbot_db_upgrade_and_status(empty_db: TestDatabase,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITBOT_DATABASE_URL", empty_db.url)
    runner = CliRunner()
    behind = runner.invoke(app, ["db", "status"])
    assert behind.exit_code == 1 and "jitbot db upgrade" in behind.output
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at revision {head_revision()}" in upgraded.output
    again = runner.invoke(app, ["db", "upgrade"])
    assert again.exit_code == 0
    status = runner.invoke(app, ["db", "status"])
    assert status.exit_code == 0 and "(empty)" not in status.output


def test_a_bad_database_url_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JITBOT_DATABASE_URL", "mysql://db/jitbot")
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2 and "sqlite:/// and postgresql://" in result.output


def test_the_migrations_are_found_from_the_source_tree_or_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert migrations_dir() == ROOT / "migrations"
    monkeypatch.setenv("JITBOT_MIGRATIONS_DIR", str(tmp_path))
    (tmp_path / "env.py").write_text("")
    assert migrations_dir() == tmp_path


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2])
