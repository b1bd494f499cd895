"""Audit trail commands: list, show, export, verify (DESIGN §5)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TextIO

import typer

from bot.cli.common import fail, settings_or_exit
from bot.core.audit import (
    CSV_COLUMNS,
    AuditRecord,
    AuditTrail,
    canonical_json,
    csv_row,
    export_jsonl,
    iso,
)
from bot.core.durations import parse_duration
from bot.db.engine import Database, DatabaseError
from bot.db.migrate import open_database

audit_app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


@contextmanager
def _trail() -> Iterator[AuditTrail]:
    settings = settings_or_exit()
    database: Database | None = None
    try:
        # Reading the trail never changes the schema; an old database is reported.
        database = open_database(settings.database_url, migrate=False)
        yield AuditTrail(database)
    except DatabaseError as exc:
        raise fail(str(exc), 2) from None
    finally:
        if database is not None:
            database.dispose()


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`1h`, `30m`, `2d` (that long ago) or an ISO date/time (UTC unless it says)."""
    try:
        return (now or datetime.now(UTC)) - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (90s, 15m, 1h, 2d) nor an ISO time "
            "(2026-11-26 or 2026-11-26T09:30:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _line(record: AuditRecord) -> str:
    return "  ".join([
        f"{record.seq:>6}",
        iso(record.at)[:23] + "Z",
        f"{record.request_id or '-':<8}",
        f"{record.actor:<12}",
        f"{record.event:<20}",
        canonical_json(record.details),
    ])


@audit_app.command("list")
def list_command(
    request: str | None = typer.Option(None, "--request", help="Only this request's rows."),
    since: str | None = typer.Option(None, "--since", help="1h, 30m, 2d or an ISO time."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many rows."),
) -> None:
    """List audit rows, oldest first."""
    moment = parse_since(since) if since else None
    with _trail() as trail:
        records = trail.records(request_id=request, since=moment, limit=limit)
    if not records:
        typer.echo("no audit rows match", err=True)
        return
    typer.echo("   seq  at                       request   actor         event"
               "                 details")
    for record in records:
        typer.echo(_line(record))


@audit_app.command("show")
def show_command(
    ident: str = typer.Argument(..., metavar="ID", help="A row number, or a request id."),
) -> None:
    """Show one audit row in full (by row number), or every row of a request (by id)."""
    with _trail() as trail:
        if ident.isdigit():
            found = trail.get(int(ident))
            records = [found] if found is not None else []
        else:
            records = trail.records(request_id=ident)
    if not records:
        raise fail(f"no audit row or request {ident!r}; `jitbot audit list` shows the rows")
    for record in records:
        typer.echo(json.dumps(record.as_json(), indent=2, ensure_ascii=False, sort_keys=True))


@audit_app.command("export")
def export_command(
    format: ExportFormat = typer.Option(ExportFormat.jsonl, "--format", help="jsonl or csv."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default: stdout)."),
    request: str | None = typer.Option(None, "--request", help="Only this request's rows."),
    since: str | None = typer.Option(None, "--since", help="1h, 30m, 2d or an ISO time."),
) -> None:
    """Export audit rows with their hashes, for archiving or another tool."""
    moment = parse_since(since) if since else None
    with _trail() as trail:
        records = trail.records(request_id=request, since=moment)
    if output is None:
        _write(sys.stdout, format, records)
        return
    with output.open("w", encoding="utf-8", newline="") as stream:
        _write(stream, format, records)
    typer.echo(f"ok: {len(records)} row(s) written to {output}", err=True)


def _write(stream: TextIO, format: ExportFormat, records: list[AuditRecord]) -> None:
    if format is ExportFormat.jsonl:
        for line in export_jsonl(records):
            stream.write(line + "\n")
        return
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerow(csv_row(record))


@audit_app.command("verify")
def verify_command() -> None:
    """Check the hash chain; exit 1 naming the first row that breaks it."""
    with _trail() as trail:
        report = trail.verify()
    if report.problem is not None:
        problem = report.problem
        raise fail(f"audit trail broken at row {problem.seq} ({problem.kind}): "
                   f"{problem.message}")
    typer.echo(f"ok: {report.rows} audit row(s), hash chain intact")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
