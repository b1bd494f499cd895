"""The `jitbot` command line: one typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from bot import __version__
from bot.cli import audit as audit_commands
from bot.cli import db as db_commands
from bot.cli import demo as demo_command
from bot.cli import query as query_command
from bot.cli import runbooks as runbook_commands
from bot.cli import serve as serve_command

app = typer.Typer(
    name="jitbot",
    help="Just-in-time DynamoDB query runbooks in Slack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jitbot {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Just-in-time DynamoDB query runbooks in Slack."""


runbook_commands.register(app)
audit_commands.register(app)
db_commands.register(app)
query_command.register(app)
serve_command.register(app)
demo_command.register(app)


def main() -> None:
    app()
