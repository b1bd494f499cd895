"""`jitbot query`: run a runbook with the local AWS credentials exactly as the bot does
after approval (assume the role with the session policy, guarded query, redaction) and
print the redacted result. For runbook authors checking a runbook against a real account.
"""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
from enum import StrEnum
from pathlib import Path

import typer

from bot.cli.common import catalog_or_exit, fail, settings_or_exit
from bot.core.access import AwsAccess
from bot.core.access_errors import AccessError
from bot.core.aws import AwsClients
from bot.core.params import RequestError, RequestTextError, bind, split_request_text
from bot.core.presentation import columns_for, summary_line, table_text, to_csv, to_jsonl
from bot.core.queries import render
from bot.core.redaction import RedactionError, Redactor
from bot.core.runbooks import USER_ID
from bot.core.session_policy import ensure_request_fits


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def query(
    runbook: str = typer.Argument(..., help="Runbook name."),
    values: list[str] = typer.Argument(None, help='name=value pairs (reason="..." allowed).'),
    requester: str = typer.Option(
        ..., "--requester", help="Slack user ID the session is for (SourceIdentity slack-<id>)."),
    approvers: list[str] = typer.Option(
        [], "--approver", help="Slack user ID recorded as an approver (repeatable)."),
    reason: str | None = typer.Option(None, "--reason", help="Why you need this."),
    output: OutputFormat = typer.Option(OutputFormat.table, "--format", help="Output format."),
    folder: Path | None = typer.Option(
        None, "--dir", help="Runbook folder (default: JITBOT_RUNBOOKS_DIR)."),
) -> None:
    """Run a runbook with your AWS credentials as the bot would after approval; print the
    redacted result (the summary goes to stderr)."""
    for who in [requester, *approvers]:
        if not re.match(USER_ID, who):
            raise fail(f"{who!r} is not a Slack user ID; give one such as U0123ABCD")
    if requester in approvers:
        raise fail("the requester cannot approve their own request; drop that --approver")
    settings = settings_or_exit()
    catalog = catalog_or_exit(folder, settings)
    rb = catalog.get(runbook)
    if rb is None:
        raise fail(f"unknown runbook {runbook!r}; known: {', '.join(catalog.names)}")
    try:
        text = split_request_text(" ".join(shlex.quote(w) for w in [runbook, *(values or [])]))
        bound = bind(rb, text.values, reason if reason is not None else text.reason)
        rendered = render(bound, settings.aws_region)
        ensure_request_fits(rendered, rb)
    except (RequestTextError, RequestError) as exc:
        raise fail(str(exc)) from None

    access = AwsAccess(AwsClients(settings.aws_region))
    try:
        grant = access.grant(rendered, rb, request_id=f"cli-{secrets.token_hex(4)}",
                             requester=requester, approvers=approvers)
        try:
            result = access.run(grant, rendered)
        finally:
            access.end(grant)
        # A one-off key: hashes are stable within this output, not across runs or with
        # what the bot posts (the bot keeps its key in its database).
        redacted = Redactor(rb.redact, secrets.token_bytes(32)).redact(result.items)
    except AccessError as exc:
        raise fail(exc.user_message) from None
    except RedactionError as exc:
        raise fail(str(exc)) from None

    columns = columns_for(redacted.items, rb.projection)
    if output is OutputFormat.json:
        typer.echo(to_jsonl(redacted.items), nl=False)
    elif output is OutputFormat.csv:
        typer.echo(to_csv(redacted.items, columns), nl=False)
    else:
        typer.echo(table_text(redacted.items, columns,
                              max_width=shutil.get_terminal_size().columns))
    typer.echo(summary_line(count=result.count, redacted=redacted.total,
                            truncated=result.truncated, milliseconds=result.milliseconds),
               err=True)


def register(app: typer.Typer) -> None:
    app.command()(query)
