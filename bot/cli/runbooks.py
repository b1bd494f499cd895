"""Runbook commands: validate, runbooks, render, schema."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.common import catalog_or_exit, fail, request_from_argv, settings_or_exit
from bot.core.durations import format_duration
from bot.core.params import RequestError, RequestTextError, bind
from bot.core.queries import render as render_request
from bot.core.schema import runbook_schema_text

DirOption = typer.Option(None, "--dir", help="Runbook folder (default: JITBOT_RUNBOOKS_DIR).")


def validate(folder: Path | None = typer.Argument(None, help="Runbook folder.")) -> None:
    """Check every runbook in a folder; list all problems and exit 1 if there are any."""
    settings = settings_or_exit()
    catalog = catalog_or_exit(folder, settings)
    typer.echo(f"ok: {len(catalog)} runbook(s) valid: {', '.join(catalog.names)}")


def runbooks(folder: Path | None = DirOption) -> None:
    """List the runbooks: action, table, approvers, session length."""
    settings = settings_or_exit()
    catalog = catalog_or_exit(folder, settings)
    table = Table("name", "action", "table", "approvers", "needs", "session")
    for rb in catalog:
        table.add_row(
            rb.name,
            rb.action.value + (f" ({rb.query.index})" if rb.query and rb.query.index else ""),
            rb.table,
            ", ".join(rb.approval.approvers),
            str(rb.approval.required),
            format_duration(rb.session.duration),
        )
    Console(width=140).print(table)


def render(
    runbook: str = typer.Argument(..., help="Runbook name."),
    values: list[str] = typer.Argument(None, help='name=value pairs, reason="..." optional'),
    folder: Path | None = DirOption,
) -> None:
    """Print the exact DynamoDB request and scope for a request, without calling AWS."""
    settings = settings_or_exit()
    catalog = catalog_or_exit(folder, settings)
    rb = catalog.get(runbook)
    if rb is None:
        raise fail(f"unknown runbook {runbook!r}; known: {', '.join(catalog.names)}")
    try:
        text = request_from_argv(runbook, values)
        # A preview needs no reason; the real request will still ask for one.
        bound = bind(rb, text.values, text.reason or "(render preview)")
    except (RequestTextError, RequestError) as exc:
        raise fail(str(exc)) from None
    rendered = render_request(bound, settings.aws_region)
    typer.echo(json.dumps(rendered.model_dump(mode="json", exclude_none=True), indent=2))


def schema() -> None:
    """Print the JSON Schema of the runbook format."""
    typer.echo(runbook_schema_text(), nl=False)



def register(app: typer.Typer) -> None:
    app.command()(validate)
    app.command("runbooks")(runbooks)
    app.command()(render)
    app.command()(schema)
