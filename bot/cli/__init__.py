"""The `jitbot` command line: one typer app; each command group lives in its own module."""

from __future__ import annotations

import typer

from bot import __version__
from bot.cli import runbooks as runbook_commands

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


def main() -> None:
    app()
