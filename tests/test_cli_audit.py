"""`jitbot audit list|show|export|verify` on a real trail, and verify catching tampering."""

from __future__ import annotations

import csv
import io
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import Result
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.audit import parse_since
from bot.core.audit import AuditTrail, row_hash
from tests.support.db import APPROVERS, REQUESTER, TestDatabase, make_core, tamper


@pytest.fixture
def trail_db(test_db: TestDatabase, monkeypatch: pytest.MonkeyPatch) -> tuple[TestDatabase, str]:
    """A database holding one full flow; the CLI pointed at it."""
    database = test_db.open()
    try:
        core = make_core(database)
        view = core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"},
                                    "ticket 4411", "C1")
        core.workflow.approve(view.id, APPROVERS[1])
        core.workflow.end_session(view.id, REQUESTER)
        core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1002"}, "other", "C1")
    finally:
        database.dispose()
    monkeypatch.setenv("JITBOT_DATABASE_URL", test_db.url)
    return test_db, view.id


def jitbot(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def test_verify_passes_on_an_untouched_trail(trail_db: tuple[TestDatabase, str]) -> None:
    result = jitbot("audit", "verify")
    assert result.exit_code == 0, result.output
    assert "ok: 7 audit row(s), hash chain intact" in result.output


def test_list_filters_by_request_and_time(trail_db: tuple[TestDatabase, str]) -> None:
    _, request_id = trail_db
    everything = jitbot("audit", "list")
    assert everything.exit_code == 0
    assert len(everything.output.strip().splitlines()) == 1 + 7
    mine = jitbot("audit", "list", "--request", request_id)
    lines = mine.output.strip().splitlines()[1:]
    assert len(lines) == 6 and all(request_id in line for line in lines)
    assert "request.created" in lines[0] and "session.ended" in lines[-1]
    recent = jitbot("audit", "list", "--since", "1h")
    assert len(recent.output.strip().splitlines()) == 1 + 7
    future = jitbot("audit", "list", "--since", "2999-01-01")
    assert future.exit_code == 0 and "no audit rows match" in future.output


def test_show_a_row_or_a_request(trail_db: tuple[TestDatabase, str]) -> None:
    _, request_id = trail_db
    one = jitbot("audit", "show", "3")
    assert one.exit_code == 0
    row = json.loads(one.output)
    assert row["seq"] == 3 and row["event"] == "credentials.issued"
    assert row["details"]["role_session_name"] == f"jit-{request_id}"
    whole = jitbot("audit", "show", request_id)
    assert whole.exit_code == 0 and whole.output.count('"seq"') == 6
    missing = jitbot("audit", "show", "999")
    assert missing.exit_code == 1 and "no audit row or request" in missing.output


def test_export_jsonl_and_csv_carry_the_hashes(trail_db: tuple[TestDatabase, str],
                                               tmp_path) -> None:
    jsonl = jitbot("audit", "export", "--format", "jsonl")
    rows = [json.loads(line) for line in jsonl.output.strip().splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, 8))
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(rows))
    target = tmp_path / "audit.csv"
    written = jitbot("audit", "export", "--format", "csv", "--output", str(target))
    assert written.exit_code == 0
    table = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["hash"] for r in table] == [r["hash"] for r in rows]
    assert json.loads(table[0]["details"])["runbook"] == "orders-lookup"


def forged_row(database) -> tuple[str, dict[str, object]]:
    """A row appended behind the bot's back, linked and hashed correctly."""
    last = AuditTrail(database).records()[-1]
    at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    digest = row_hash(last.hash, seq=last.seq + 1, at=at, request_id=None, actor="UEVIL",
                      event="approval.granted", details={})
    statement = ("INSERT INTO audit_events (seq, at, request_id, actor, event, details, "
                 "prev_hash, hash) VALUES (:seq, :at, NULL, 'UEVIL', 'approval.granted', "
                 "'{}', :prev, :hash)")
    return statement, {"seq": last.seq + 1, "prev": last.hash, "hash": digest,
                       "at": at.replace(tzinfo=None) if database.is_sqlite else at}


@pytest.mark.parametrize(("attack", "row", "words"), [
    ("edit", 2, "row 2 was edited"),
    ("delete", 5, "row 5 is missing"),
    ("insert", 8, "row 8 was inserted"),
])
def test_verify_names_the_first_tampered_row(trail_db: tuple[TestDatabase, str],
                                             attack: str, row: int, words: str) -> None:
    test_db, _ = trail_db
    database = test_db.open()
    try:
        if attack == "edit":
            tamper(database, "UPDATE audit_events SET actor = 'UEVIL' WHERE seq = 2")
        elif attack == "delete":
            tamper(database, "DELETE FROM audit_events WHERE seq = 5")
        else:
            statement, params = forged_row(database)
            tamper(database, statement, **params)
    finally:
        database.dispose()
    result = jitbot("audit", "verify")
    assert result.exit_code == 1
    assert f"audit trail broken at row {row}" in result.output and words in result.output


def test_since_takes_durations_and_iso_times() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2026-11-26T09:30:00+01:00", now) == datetime(2026, 11, 26, 8, 30,
                                                                    tzinfo=UTC)
    assert parse_since("2026-11-26", now) == datetime(2026, 11, 26, tzinfo=UTC)
