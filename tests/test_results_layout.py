"""How results are laid out for posting: a few items as records, more as a table, big as a file."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

from bot.core.catalog import load_catalog
from bot.core.execution import QueryResult
from bot.core.results import build_output

RUNBOOK = load_catalog(Path(__file__).resolve().parent.parent / "runbooks").get("orders-lookup")
KEY = b"k" * 32


def _result(items: list[dict]) -> QueryResult:
    return QueryResult(items=items, count=len(items), scanned_count=len(items), truncated=False,
                       bytes=100, consumed_capacity=None, request_ids=["r1"], milliseconds=12.0)


def _order(n: int) -> dict:
    return {"pk": f"ORDER#{n}", "sk": "ORDER", "status": "STUCK", "total": Decimal("129.99"),
            "customer_email": "ada.lovelace@example.org", "card_number": "4111 1111 1111 1111",
            "shipping": {"city": "London", "phone": "+44 20 7946 0958"}}


def test_one_item_is_shown_whole_one_attribute_per_line() -> None:
    assert RUNBOOK is not None
    output = build_output(RUNBOOK, _result([_order(1001)]), KEY)
    assert output.text is not None and output.file_content is None
    lines = output.text.splitlines()
    assert lines[0].split() == ["pk", "ORDER#1001"]
    assert any(line.split()[:2] == ["total", "129.99"] for line in lines)
    assert "ada.lovelace" not in output.text and "@example.org" in output.text
    assert "4111 1111 1111 1111" not in output.text and "7946" not in output.text
    assert output.sha256 == hashlib.sha256(output.text.encode()).hexdigest()
    assert output.redacted_count == 3


def test_many_items_become_a_table_and_a_complete_file() -> None:
    assert RUNBOOK is not None
    output = build_output(RUNBOOK, _result([_order(n) for n in range(1000, 1030)]), KEY)
    assert output.file_content is not None and output.file_format == "jsonl"
    assert output.sha256 == hashlib.sha256(output.file_content).hexdigest()
    assert b"ORDER#1029" in output.file_content and b"ada.lovelace" not in output.file_content
