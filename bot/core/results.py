"""From a query's items to what gets posted: redacted, then laid out (DESIGN §1, §4).

Redaction fails closed: if it fails, or laying out the redacted items fails, nothing is
posted and `ResultsWithheld` says why (without quoting any value). Small results go in
the message (up to three items one attribute per line, more as a table); large ones, or
ones whose values or columns had to be cut, also go out as a file: CSV for flat items,
JSON lines when values are nested. `sha256` is taken of the file when there is one (the
complete result), else of the text.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.core import presentation
from bot.core.execution import QueryResult
from bot.core.ports import ResultOutput
from bot.core.redaction import RedactionError, Redactor
from bot.core.runbooks import Runbook

RECORDS_UP_TO = 3


class ResultsWithheld(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def build_output(runbook: Runbook, result: QueryResult, hash_key: bytes) -> ResultOutput:
    try:
        redacted = Redactor(runbook.redact, hash_key).redact(result.items)
    except RedactionError as exc:
        reason = str(exc).removesuffix("; nothing was posted")
        raise ResultsWithheld(f"redaction failed: {reason}") from None
    try:
        return _lay_out(runbook, result, redacted.items, redacted.total)
    except Exception as exc:
        raise ResultsWithheld(
            f"the redacted results could not be laid out ({type(exc).__name__})"
        ) from None


def _lay_out(runbook: Runbook, result: QueryResult, items: list[dict[str, Any]],
             redacted: int) -> ResultOutput:
    columns = presentation.columns_for(items, runbook.projection)
    summary = presentation.summary_line(count=len(items), redacted=redacted,
                                        truncated=result.truncated,
                                        milliseconds=result.milliseconds)
    # A handful of items reads best one attribute per line; more, as a table.
    if len(items) <= RECORDS_UP_TO:
        table = presentation.records_text(items, columns)
        rows = table.splitlines()
    else:
        table = presentation.table_text(items, columns)
        rows = table.splitlines()[2:]
    fits = presentation.fits_in_message(table, count=len(items))
    # Long values are clipped and columns that do not fit are left out: then the whole
    # result goes out as a file as well.
    lossy = any(presentation.ELLIPSIS in row for row in rows) or "more not shown:" in table
    file_content = file_format = None
    if not fits or lossy:
        nested = any(isinstance(value, dict | list) for item in items for value in item.values())
        file_format = "jsonl" if nested else "csv"
        body = presentation.to_jsonl(items) if nested else presentation.to_csv(items, columns)
        file_content = body.encode("utf-8")
    posted = file_content if file_content is not None else table.encode("utf-8")
    return ResultOutput(
        execution=0,
        summary=summary,
        text=table if fits else None,
        file_name=f"{runbook.name}.{file_format}" if file_format else None,
        file_content=file_content,
        file_format=file_format,
        sha256=hashlib.sha256(posted).hexdigest(),
        item_count=len(items),
        redacted_count=redacted,
        truncated=result.truncated,
        milliseconds=round(result.milliseconds),
    )
