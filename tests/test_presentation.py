"""Presentation of redacted items: columns, table, CSV, JSON lines, summary."""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.presentation import (
    cell_text,
    columns_for,
    fits_in_message,
    summary_line,
    table_text,
    to_csv,
    to_jsonl,
)

ITEMS: list[dict[str, Any]] = [
    {"pk": "ORDER#1001", "status": "SHIPPED", "total": Decimal("12.50"),
     "shipping": {"city": "Leeds", "phone": "••••"}},
    {"pk": "ORDER#1002", "total": Decimal("1003.00"), "gift": True, "status": None},
]


def display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_columns_follow_the_projection_then_first_appearance() -> None:
    columns = columns_for(ITEMS, ["total", "pk", "missing", "pk"])
    assert columns == ["total", "pk", "status", "shipping", "gift"]
    assert columns_for([], ["pk"]) == []


def test_cells_are_exact_and_plain() -> None:
    assert cell_text(None) == ""
    assert cell_text(True) == "true"
    assert cell_text(Decimal("12.50")) == "12.50"
    assert cell_text(Decimal("1E+3")) == "1000"
    assert cell_text(Decimal("1E+100")) == "1E+100"  # not a hundred zeros in a cell
    assert cell_text(7) == "7"
    assert cell_text({"b": [1, Decimal("0.1")], "a": None}) == '{"a":null,"b":[1,0.1]}'


def test_table_lays_out_a_small_result() -> None:
    text = table_text(ITEMS, ["pk", "status", "total", "gift"])
    assert text.splitlines() == [
        "pk          status   total    gift",
        "----------  -------  -------  ----",
        "ORDER#1001  SHIPPED    12.50",
        "ORDER#1002           1003.00  true",
    ]


def test_table_clips_long_cells_and_neutralises_control_text() -> None:
    items = [{"note": "x" * 60, "raw": "line one\nline two\t```code```"}]
    lines = table_text(items, ["note", "raw"], max_cell=20).splitlines()
    assert lines[2].startswith("x" * 19 + "…")
    assert "\n" not in lines[2] and "\t" not in lines[2] and "```" not in lines[2]
    assert "line one⏎line two⇥" in lines[2]


def test_table_respects_the_width_and_names_what_it_leaves_out() -> None:
    items = [{f"column_{i}": f"value number {i} " * 3 for i in range(12)}]
    columns = list(items[0])
    text = table_text(items, columns, max_width=60)
    lines = text.splitlines()
    assert all(display_width(line) <= 60 for line in lines[:-1])
    assert lines[-1].startswith("(") and "more not shown" in lines[-1]
    assert "column_11" in lines[-1]


def test_table_counts_wide_characters_as_two_columns() -> None:
    items = [{"name": "東京タワー", "n": 1}, {"name": "Leeds", "n": 22}]
    lines = table_text(items, ["name", "n"]).splitlines()
    assert {display_width(line) for line in lines[1:]} == {14}
    assert lines[2] == "東京タワー   1"
    assert lines[3] == "Leeds       22"


def test_table_of_nothing() -> None:
    assert table_text([], []) == "(no items)"
    assert table_text([{}], []) == "(no attributes)"
    assert table_text([], ["pk"]).splitlines() == ["pk", "--"]


def test_csv_round_trips_and_keeps_numbers_exact() -> None:
    columns = ["pk", "total", "shipping", "gift", "status"]
    rows = list(csv.reader(io.StringIO(to_csv(ITEMS, columns))))
    assert rows == [
        columns,
        ["ORDER#1001", "12.50", '{"city":"Leeds","phone":"••••"}', "", "SHIPPED"],
        ["ORDER#1002", "1003.00", "", "true", ""],
    ]


def test_csv_keeps_multiline_text_in_one_cell_and_defuses_formulas() -> None:
    items = [{"a": "=HYPERLINK(\"x\")", "b": "two\nlines", "c": -5, "d": "@cmd", "e": "-1"}]
    rows = list(csv.reader(io.StringIO(to_csv(items, ["a", "b", "c", "d", "e"]))))
    assert rows[1] == ["'=HYPERLINK(\"x\")", "two\nlines", "-5", "'@cmd", "'-1"]


def test_jsonl_is_exact_sorted_and_one_object_per_line() -> None:
    items = [{"z": Decimal("12345678901234567890.123456789"), "a": [Decimal("0.1"), None]},
             {"nan": Decimal("NaN"), "s": "東京\n"}]
    text = to_jsonl(items)
    lines = text.splitlines()
    assert len(lines) == 2 and text.endswith("\n")
    assert lines[0] == '{"a":[0.1,null],"z":12345678901234567890.123456789}'
    assert json.loads(lines[0], parse_float=Decimal) == items[0]
    assert json.loads(lines[1]) == {"nan": "NaN", "s": "東京\n"}
    assert to_jsonl([]) == ""


def test_jsonl_escapes_characters_that_readers_take_for_line_breaks() -> None:
    text = to_jsonl([{"a": "x\u2028y\u2029z\x85", "b\u2028": 1}])
    assert text.count("\n") == 1 and len(text.splitlines()) == 1
    assert json.loads(text) == {"a": "x\u2028y\u2029z\x85", "b\u2028": 1}


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"count": 3, "redacted": 2, "truncated": False, "milliseconds": 41.2},
         "3 items · 2 values redacted · complete · 41 ms"),
        ({"count": 1, "redacted": 1, "truncated": True, "milliseconds": 999.4},
         "1 item · 1 value redacted · truncated · 999 ms"),
        ({"count": 0, "redacted": 0, "truncated": False, "milliseconds": 2500},
         "0 items · nothing redacted · complete · 2.5 s"),
    ],
)
def test_summary_line(kwargs: dict[str, Any], expected: str) -> None:
    assert summary_line(**kwargs) == expected


def test_fits_in_message_by_length_and_count() -> None:
    assert fits_in_message("x" * 2900, count=20)
    assert not fits_in_message("x" * 2901, count=1)
    assert not fits_in_message("short", count=21)
    assert fits_in_message("x" * 50, max_chars=50, max_items=2, count=2)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30)
    | st.decimals(allow_nan=False, allow_infinity=False, places=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=6,
)
items_strategy = st.lists(st.dictionaries(st.sampled_from(["pk", "sk", "a", "b", "note"]),
                                          values, max_size=5), max_size=6)


@settings(max_examples=60, deadline=None)
@given(items_strategy, st.integers(20, 120), st.integers(6, 40))
def test_table_never_exceeds_its_width(items: list[dict[str, Any]], width: int,
                                       cell: int) -> None:
    columns = columns_for(items, ["pk", "sk"])
    lines = table_text(items, columns, max_width=width, max_cell=cell).splitlines()
    for line in lines:
        if "more not shown" not in line:
            assert display_width(line) <= width


@settings(max_examples=60, deadline=None)
@given(items_strategy)
def test_jsonl_round_trips_exactly(items: list[dict[str, Any]]) -> None:
    lines = to_jsonl(items).splitlines()
    assert len(lines) == len(items)
    for line, item in zip(lines, items, strict=True):
        assert json.loads(line, parse_float=Decimal) == item
