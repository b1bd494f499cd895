"""`jitbot query`: run a runbook with the local AWS credentials exactly as the bot does
after approval (assume the role with the session policy, guarded query, redaction) and
print the redacted result. For runbook authors checking a runbook against a real account.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from bot.cli.common import catalog_or_exit, fail, request_from_argv, settings_or_exit
from bot.core.access import AwsAccess
from bot.core.access_errors import AccessError
from bot.core.audit import AuditError, AuditEvent, AuditTrail
from bot.core.aws import AwsClients
from bot.core.executions import grant_details
from bot.core.params import RequestError, RequestTextError, bind
from bot.core.presentation import columns_for, summary_line, table_text, to_csv, to_jsonl
from bot.core.queries import render
from bot.core.redaction import RedactionError, Redactor
from bot.core.runbooks import USER_ID
from bot.core.session_policy import ensure_request_fits
from bot.db.engine import Database, DatabaseError
from bot.db.migrate import open_database
from bot.db.repository import instance_key


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
    redacted result (the summary goes to stderr). Audited in JITBOT_DATABASE_URL's trail."""
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
        text = request_from_argv(runbook, values)
        bound = bind(rb, text.values, reason if reason is not None else text.reason)
        rendered = render(bound, settings.aws_region)
        ensure_request_fits(rendered, rb)
    except (RequestTextError, RequestError) as exc:
        raise fail(str(exc)) from None

    database = _database_or_exit(settings.database_url)
    audit = AuditTrail(database)
    request_id = f"cli-{secrets.token_hex(4)}"
    access = AwsAccess(AwsClients(settings.aws_region))
    try:
        grant = access.grant(rendered, rb, request_id=request_id,
                             requester=requester, approvers=approvers)
        try:
            # Fail closed: credentials nobody recorded are never used.
            _audit(audit, AuditEvent.credentials_issued, requester, request_id,
                   source="cli", runbook=rb.name, approvers=approvers, reason=bound.reason,
                   **grant_details(grant))
            result = access.run(grant, rendered)
        finally:
            access.end(grant)
        # The bot's own key, so hashes match what the bot posts for the same values.
        redacted = Redactor(rb.redact, instance_key(database)).redact(result.items)
    except AccessError as exc:
        raise fail(exc.user_message) from None
    except RedactionError as exc:
        raise fail(str(exc)) from None
    except AuditError as exc:
        raise fail(f"{exc}; nothing was queried") from None

    columns = columns_for(redacted.items, rb.projection)
    if output is OutputFormat.json:
        printed = to_jsonl(redacted.items)
    elif output is OutputFormat.csv:
        printed = to_csv(redacted.items, columns)
    else:
        printed = table_text(redacted.items, columns,
                             max_width=shutil.get_terminal_size().columns) + "\n"
    call = rendered.call
    try:
        _audit(audit, AuditEvent.query_executed, requester, request_id, source="cli",
               execution=1, action=call.operation, table=call.table, index=call.index,
               key=rendered.scope.leading_keys, item_count=result.count, bytes=result.bytes,
               redacted_count=redacted.total, truncated=result.truncated,
               ms=round(result.milliseconds),
               result_sha256=hashlib.sha256(printed.encode()).hexdigest(),
               aws_request_ids=list(result.request_ids))
    except AuditError as exc:
        raise fail(f"{exc}; the result is withheld") from None
    finally:
        database.dispose()
    typer.echo(printed, nl=False)
    typer.echo(summary_line(count=result.count, redacted=redacted.total,
                            truncated=result.truncated, milliseconds=result.milliseconds),
               err=True)


def _database_or_exit(url: str) -> Database:
    try:
        return open_database(url)
    except DatabaseError as exc:
        raise fail(f"{exc}; `jitbot query` records what it does in the audit trail") from None


def _audit(trail: AuditTrail, event: AuditEvent, actor: str, request_id: str,
           **details: Any) -> None:
    try:
        with trail.database.transaction() as session:
            trail.append(session, event=event, actor=actor, request_id=request_id,
                         details=details)
    except AuditError:
        raise
    except Exception as exc:
        raise AuditError(f"the audit trail could not record {event.value} "
                         f"({type(exc).__name__})") from None


def register(app: typer.Typer) -> None:
    app.command()(query)
