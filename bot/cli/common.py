"""What every command needs: settings from the environment, and errors without tracebacks."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer

from bot.core.catalog import Catalog, CatalogError, load_catalog
from bot.core.params import RequestText, split_request_text
from bot.settings import Settings, SettingsError, load_settings


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


def catalog_or_exit(folder: Path | None, settings: Settings) -> Catalog:
    try:
        return load_catalog(folder or settings.runbooks_dir)
    except CatalogError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        raise fail(f"{len(exc.problems)} problem(s) in the runbooks") from None


def request_from_argv(runbook: str, values: list[str] | None) -> RequestText:
    """The words the shell already split, re-quoted so the /jit parser sees the same
    values again (one parser for Slack and the command line). Raises RequestTextError."""
    return split_request_text(" ".join(shlex.quote(w) for w in [runbook, *(values or [])]))
