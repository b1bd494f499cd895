"""Turning redacted items into text people read: a table, CSV, JSON lines, a summary.

Independent of Slack: the Slack layer decides where the text goes (a message code block
for small results, a file for large ones). Numbers stay exact everywhere: Decimals are
written with their own digits, never through float.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

ELLIPSIS = "…"
MIN_COLUMN = 6  # narrowest a column is squeezed to before columns are left out
_GAP = "  "
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# JSON allows these raw inside strings, but line-oriented readers split lines on them.
_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def columns_for(items: Iterable[Mapping[str, Any]], preferred: Sequence[str]) -> list[str]:
    """Columns for `items`: those of `preferred` (the projection) present in any item, in
    its order, then any other attributes in the order they are first met."""
    seen: dict[str, None] = {}
    for item in items:
        seen.update(dict.fromkeys(item))
    ordered = [name for name in dict.fromkeys(preferred) if name in seen]
    listed = set(ordered)
    return ordered + [name for name in seen if name not in listed]


def cell_text(value: Any) -> str:
    """One value as text: nulls empty, booleans and nested values as JSON, numbers exact."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return _number(value)
    return _json(value)


def table_text(
    items: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    *,
    max_width: int = 100,
    max_cell: int = 40,
) -> str:
    """A fixed-width table (for a code block): a header, a rule, a row per item.

    Cells longer than `max_cell` end in "…"; when the table is wider than `max_width`
    the widest columns are narrowed, down to MIN_COLUMN, and if that is not enough the
    last columns are left out and a final line names them. Line breaks and tabs show as
    "⏎" and "⇥", and runs of three backticks are broken up so a cell cannot end the code
    block. Numeric columns are right-aligned. Widths count East Asian wide characters as
    two columns.
    """
    if not columns:
        return "(no attributes)" if items else "(no items)"
    header = [_printable(name) for name in columns]
    rows = [[_printable(cell_text(item.get(name))) for name in columns] for item in items]
    numeric = [
        all(isinstance(item.get(name), int | Decimal) and not isinstance(item.get(name), bool)
            for item in items if item.get(name) is not None)
        for name in columns
    ]
    widths = [
        min(max_cell, max([_width(header[i])] + [_width(row[i]) for row in rows]))
        for i in range(len(columns))
    ]
    shown = _fit(widths, max_width)
    lines = [_line(header, widths[:shown], [False] * shown)]
    lines.append(_GAP.join("-" * width for width in widths[:shown]))
    lines.extend(_line(row, widths[:shown], numeric) for row in rows)
    if shown < len(columns):
        hidden = ", ".join(header[shown:])
        lines.append(f"({len(columns) - shown} more not shown: {hidden})")
    return "\n".join(line.rstrip() for line in lines)


def records_text(
    items: Sequence[Mapping[str, Any]], columns: Sequence[str], *, max_value: int = 300
) -> str:
    """One `attribute  value` line per attribute, items separated by a blank line: how a
    handful of wide items reads best (a table would clip most of their cells).

    Values longer than `max_value` end in "…"; missing attributes are left out.
    """
    if not items:
        return "(no items)"
    width = max(_width(_printable(name)) for name in columns) if columns else 0
    blocks = []
    for item in items:
        lines = [
            _pad(_printable(name), width, False) + _GAP
            + _clip(_printable(cell_text(item[name])), max_value)
            for name in columns if name in item
        ]
        blocks.append("\n".join(line.rstrip() for line in lines) or "(no attributes)")
    return "\n\n".join(blocks)


def to_csv(items: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header row; nested values as compact JSON, missing attributes empty.

    Text cells a spreadsheet would run as a formula (starting with = + - @) get a
    leading apostrophe; numbers are written as they are.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for item in items:
        writer.writerow([_csv_cell(item.get(name)) for name in columns])
    return out.getvalue()


def to_jsonl(items: Iterable[Mapping[str, Any]]) -> str:
    """One JSON object per line, keys sorted, Decimals as exact JSON numbers."""
    return "".join(_json(item) + "\n" for item in items)


def summary_line(*, count: int, redacted: int, truncated: bool, milliseconds: float) -> str:
    """For example "3 items · 2 values redacted · complete · 41 ms"."""
    items = f"{count} item" + ("" if count == 1 else "s")
    values = (
        "nothing redacted" if redacted == 0
        else f"{redacted} value{'' if redacted == 1 else 's'} redacted"
    )
    state = "truncated" if truncated else "complete"
    elapsed = f"{milliseconds:.0f} ms" if milliseconds < 1000 else f"{milliseconds / 1000:.1f} s"
    return " · ".join([items, values, state, elapsed])


def fits_in_message(text: str, *, max_chars: int = 2900, max_items: int = 20, count: int) -> bool:
    """Whether a rendered result is small enough to post inline rather than as a file."""
    return count <= max_items and len(text) <= max_chars


def _number(value: int | Decimal) -> str:
    if isinstance(value, Decimal) and value.is_finite():
        text = format(value, "f")  # never scientific notation in front of people
        return text if len(text) <= 40 else str(value)
    return str(value)


def _json(value: Any) -> str:
    """Compact JSON with sorted keys; Decimals keep their exact digits."""
    if isinstance(value, Mapping):
        body = ",".join(
            f"{_json(str(key))}:{_json(value[key])}"
            for key in sorted(value, key=str)
        )
        return "{" + body + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_json(element) for element in value) + "]"
    if isinstance(value, Decimal):
        # str() of a finite Decimal is a valid JSON number (1E+2 included); NaN is not
        return str(value) if value.is_finite() else json.dumps(str(value))
    return json.dumps(value, ensure_ascii=False).translate(_LINE_BREAKS)


def _csv_cell(value: Any) -> str:
    text = cell_text(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def _printable(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\n", "⏎").replace("\r", "⏎").replace("\t", "⇥")
    while "```" in text:
        text = text.replace("```", "``\u02cb")  # the last as a modifier grave accent
    return "".join(c if c.isprintable() else "�" for c in text)


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _width(text: str) -> int:
    return len(text) if text.isascii() else sum(_char_width(c) for c in text)


def _clip(text: str, width: int) -> str:
    if _width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        char_width = _char_width(char)
        if used + char_width > width - 1:
            break
        kept.append(char)
        used += char_width
    return "".join(kept) + ELLIPSIS


def _pad(text: str, width: int, right: bool) -> str:
    clipped = _clip(text, width)
    fill = " " * (width - _width(clipped))
    return fill + clipped if right else clipped + fill


def _line(cells: Sequence[str], widths: Sequence[int], numeric: Sequence[bool]) -> str:
    return _GAP.join(_pad(cells[i], widths[i], numeric[i]) for i in range(len(widths)))


def _fit(widths: list[int], max_width: int) -> int:
    """How many columns fit in `max_width`; narrows the widest of those (in place)."""
    gaps = len(_GAP)
    shown = len(widths)
    while shown > 1 and sum(min(w, MIN_COLUMN) for w in widths[:shown]) + gaps * (shown - 1) > (
        max_width
    ):
        shown -= 1
    while sum(widths[:shown]) + gaps * (shown - 1) > max_width:
        widest = max(range(shown), key=lambda i: widths[i])
        if widths[widest] <= MIN_COLUMN:
            break
        widths[widest] -= 1
    return shown
