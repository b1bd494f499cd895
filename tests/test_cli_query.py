"""`jitbot query` against the moto server, as a runbook author runs it."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.support.aws import MotoServer

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


DATABASE: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _aws_ready(moto_server: MotoServer, jit_role: str, orders_table: str,
               tmp_path: Path) -> None:
    """The moto server's environment (AWS_ENDPOINT_URL, keys, region) is what the CLI uses;
    each test audits into its own SQLite file."""
    DATABASE["url"] = f"sqlite:///{tmp_path / 'audit.db'}"


def _query(*args: str, folder: Path | None = None):
    return runner.invoke(app, ["query", *args], env={
        "JITBOT_RUNBOOKS_DIR": str(folder or ROOT / "runbooks"), "COLUMNS": "200",
        "JITBOT_DATABASE_URL": DATABASE["url"]})


def test_a_cli_query_is_audited_without_secrets() -> None:
    result = _query("orders-lookup", "order_id=1001", "--requester", "U123",
                    "--approver", "U456", "--reason", "ticket 4411", "--format", "json")
    assert result.exit_code == 0, result.output
    exported = runner.invoke(app, ["audit", "export", "--format", "jsonl"],
                             env={"JITBOT_DATABASE_URL": DATABASE["url"]})
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    assert [r["event"] for r in rows] == ["credentials.issued", "query.executed"]
    issued, executed = (r["details"] for r in rows)
    assert issued["source"] == "cli" and issued["approvers"] == ["U456"]
    assert issued["source_identity"] == "slack-U123"
    assert issued["role_session_name"].startswith("jit-cli-")
    assert executed["item_count"] == 1 and executed["key"] == ["ORDER#1001"]
    assert "ada.lovelace" not in exported.stdout and "SecretAccessKey" not in exported.stdout
    verify = runner.invoke(app, ["audit", "verify"], env={"JITBOT_DATABASE_URL": DATABASE["url"]})
    assert verify.exit_code == 0, verify.output


def test_json_output_is_the_redacted_item() -> None:
    result = _query("orders-lookup", "order_id=1001", "--requester", "U123",
                    "--approver", "U456", "--reason", "ticket 4411", "--format", "json")
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.splitlines()
    item = json.loads(line)
    assert item["pk"] == "ORDER#1001" and item["status"] == "STUCK"
    assert item["total"] == 129.99
    assert "ada.lovelace" not in result.stdout  # email rule keeps only the domain
    assert "example.org" in item["customer_email"]
    assert "4111 1111 1111 1111" not in result.stdout and item["card_number"].endswith("1111")
    assert "7946 0958" not in result.stdout  # shipping.phone is masked
    assert "1 item" in result.stderr and "redacted" in result.stderr


def test_csv_and_table_output() -> None:
    as_csv = _query("customer-orders", "customer_id=42", "month=2026-11", 'reason=checking',
                    "--requester", "U123", "--format", "csv")
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {"ORDER#1001", "ORDER#1004"} <= {row["pk"] for row in rows}
    assert list(rows[0])[:2] == ["customer_id", "created_at"]  # the projection's order
    table = _query("orders-lookup", "order_id=1001", "--requester", "U123", "--reason", "x")
    assert table.exit_code == 0, table.output
    header, rule, row = table.stdout.splitlines()[:3]
    assert header.split()[:3] == ["pk", "sk", "status"]
    assert set(rule) <= {"-", " "}
    assert "ORDER#1001" in row and "STUCK" in row


@pytest.mark.parametrize(("args", "message"), [
    (["nope", "--requester", "U123"], "unknown runbook 'nope'"),
    (["orders-lookup", "order_id=1001", "--requester", "U123"], "missing reason"),
    (["orders-lookup", "order_id=abc", "--requester", "U123", "--reason", "x"],
     "order_id: 'abc' does not match"),
    (["orders-lookup", "order_id=1001", "--requester", "bob", "--reason", "x"],
     "'bob' is not a Slack user ID"),
    (["orders-lookup", "order_id=1001", "--requester", "U123", "--approver", "U123",
      "--reason", "x"], "cannot approve their own request"),
])
def test_bad_input_is_a_clean_message(args: list[str], message: str) -> None:
    result = _query(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_an_aws_failure_is_a_clean_message(tmp_path: Path) -> None:
    source = (ROOT / "runbooks" / "orders-lookup.yaml").read_text()
    shutil.copy(ROOT / "runbooks" / "runbook.schema.json", tmp_path)
    (tmp_path / "orders-lookup.yaml").write_text(source.replace("table: orders",
                                                                "table: orders-gone"))
    result = _query("orders-lookup", "order_id=1001", "--requester", "U123", "--reason", "x",
                    folder=tmp_path)
    assert result.exit_code == 1
    assert "error: table orders-gone does not exist in us-east-1" in result.stderr
    assert "Traceback" not in result.output
