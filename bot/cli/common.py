"""What every command needs: settings from the environment, and errors without tracebacks."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.core.catalog import Catalog, CatalogError, load_catalog
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
