"""Parsing the text after /jit and checking values: every error names the fix and the usage."""

from __future__ import annotations

import shlex
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.catalog import load_catalog
from bot.core.params import (
    RequestError,
    RequestTextError,
    bind,
    parse_value,
    shell_words,
    split_request_text,
)
from bot.core.runbooks import Param

CATALOG = load_catalog(Path(__file__).resolve().parent.parent / "runbooks")
LOOKUP = CATALOG.get("orders-lookup")
USAGE = 'Usage: /jit orders-lookup order_id=1001 reason="..."'


def test_split_understands_shell_quoting() -> None:
    text = split_request_text('orders-lookup order_id=1001 reason="ticket 4411: card \'declined\'"')
    assert text.runbook == "orders-lookup"
    assert text.values == {"order_id": "1001"}
    assert text.reason == "ticket 4411: card 'declined'"


# shlex's special characters, its whitespace, other whitespace it does not split on, and
# ordinary text: what a command could hold
SHELL_TEXT = st.text(st.sampled_from(list(' \t\r\n"\'\\=#$;a1-\x0b\xa0\u2003\u200bé')),
                     max_size=24)


@given(SHELL_TEXT)
def test_words_split_exactly_as_shlex_splits_them(text: str) -> None:
    try:
        expected: object = shlex.split(text)
    except ValueError as exc:
        expected = ValueError(str(exc))
    try:
        got: object = shell_words(text)
    except ValueError as exc:
        got = ValueError(str(exc))
    assert repr(got) == repr(expected)


@pytest.mark.parametrize(
    ("text", "needle"),
    [('orders-lookup order_id="1001', "unbalanced quotes"),
     ("orders-lookup order_id", "'order_id' is not name=value"),
     ("orders-lookup =5", "is not name=value"),
     ("orders-lookup order_id=1 order_id=2", "order_id is given twice"),
     ("orders-lookup reason=a reason=b", "reason is given twice"),
     ("", "no runbook given")],
)
def test_split_errors(text: str, needle: str) -> None:
    with pytest.raises(RequestTextError, match=needle):
        split_request_text(text)


def _bind_error(values: dict[str, str], reason: str | None = "ticket 1") -> RequestError:
    assert LOOKUP is not None
    with pytest.raises(RequestError) as caught:
        bind(LOOKUP, values, reason)
    assert str(caught.value).endswith(USAGE)
    return caught.value


def test_unknown_parameter_lists_the_known_ones() -> None:
    err = _bind_error({"order_id": "1001", "orderid": "1"})
    assert err.problems == ["unknown parameter 'orderid'; orders-lookup takes: order_id, reason"]


def test_missing_parameter_is_reported_and_listed_for_the_modal() -> None:
    err = _bind_error({})
    assert err.missing == ["order_id"]
    assert err.problems == ["missing parameter order_id (Numeric order id, e.g. 1001)"]


def test_missing_reason() -> None:
    err = _bind_error({"order_id": "1001"}, reason="  ")
    assert err.problems == ['missing reason; say why you need this, e.g. reason="ticket 4411"']


def test_all_problems_at_once() -> None:
    err = _bind_error({"order_id": "x", "extra": "1"}, reason=None)
    assert len(err.problems) == 3


def test_valid_request_binds_typed_values() -> None:
    assert LOOKUP is not None
    bound = bind(LOOKUP, {"order_id": "1001"}, " ticket 4411 ")
    assert bound.values == {"order_id": "1001"}
    assert bound.reason == "ticket 4411"


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [(Param(type="integer", min=1, max=10), "7", 7),
     (Param(type="decimal"), "12.50", Decimal("12.50")),
     (Param(type="enum", values=["A", "B"]), "B", "B"),
     (Param(type="date"), "2026-11-26", "2026-11-26"),
     (Param(type="string"), "héllo wörld", "héllo wörld")],
)
def test_typed_values(param: Param, raw: str, expected: object) -> None:
    value = parse_value(param, raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("param", "raw", "needle"),
    [(Param(type="integer"), "1.5", "not a whole number"),
     (Param(type="integer", min=1), "0", "below the minimum 1"),
     (Param(type="integer", max=10), "11", "above the maximum 10"),
     (Param(type="decimal"), "1e9", "not a decimal number"),
     (Param(type="decimal"), "NaN", "not a decimal number"),
     (Param(type="enum", values=["A", "B"]), "C", "is not one of: A, B"),
     (Param(type="date"), "26/11/2026", "write YYYY-MM-DD"),
     (Param(type="date"), "2026-02-30", "not a real calendar date"),
     (Param(type="string", pattern="^[0-9]+$"), "1 OR 1=1", r"does not match \^\[0-9\]\+\$"),
     (Param(type="string"), "a\nb", "control or invisible characters"),
     (Param(type="string"), "a\u200bb", "control or invisible characters"),
     (Param(type="string"), "x" * 10_000, "10000 characters long; at most 1024")],
)
def test_bad_values(param: Param, raw: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        parse_value(param, raw)
