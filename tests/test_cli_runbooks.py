"""The runbook commands of the `jitbot` CLI, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot import __version__
from bot.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args), env={"JITBOT_RUNBOOKS_DIR": str(ROOT / "runbooks")})


def test_version() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"jitbot {__version__}"


def test_validate_ok_and_broken() -> None:
    ok = _run("validate")
    assert ok.exit_code == 0
    assert "3 runbook(s) valid" in ok.output
    broken = _run("validate", str(ROOT / "tests" / "fixtures" / "broken_runbooks"))
    assert broken.exit_code == 1
    assert "bad-name.yaml:2: name:" in broken.output
    assert "problem(s) in the runbooks" in broken.output


def test_runbooks_table() -> None:
    result = _run("runbooks")
    assert result.exit_code == 0
    for word in ["orders-lookup", "get_item", "query (by-customer)", "@oncall-leads", "15m"]:
        assert word in result.output


def test_render_prints_request_and_scope() -> None:
    result = _run("render", "orders-lookup", "order_id=1001")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["call"]["key"] == {"pk": {"S": "ORDER#1001"}, "sk": {"S": "ORDER"}}
    assert data["scope"]["leading_keys"] == ["ORDER#1001"]


def test_render_rejects_hostile_value_cleanly() -> None:
    result = _run("render", "orders-lookup", 'order_id=1001" OR 1=1')
    assert result.exit_code == 1
    assert "does not match" in result.output
    assert "Usage: /jit orders-lookup" in result.output
    assert "Traceback" not in result.output


def test_render_unknown_runbook() -> None:
    result = _run("render", "nope")
    assert result.exit_code == 1
    assert "unknown runbook 'nope'; known: customer-orders, orders-lookup" in result.output


def test_schema_command_matches_committed_file() -> None:
    result = _run("schema")
    assert result.output == (ROOT / "runbooks" / "runbook.schema.json").read_text()


def test_bad_setting_is_a_clean_error() -> None:
    result = runner.invoke(app, ["validate"], env={"JITBOT_REQUEST_TTL": "later"})
    assert result.exit_code == 2
    assert "JITBOT_REQUEST_TTL='later'" in result.output
