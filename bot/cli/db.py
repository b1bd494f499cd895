"""Database commands: `jitbot db upgrade`, `jitbot db status`."""

from __future__ import annotations

import typer

from bot.cli.common import fail, settings_or_exit
from bot.db.engine import Database, DatabaseError
from bot.db.migrate import current_revision, head_revision, upgrade

db_app = typer.Typer(help="The bot's database: schema upgrades.", no_args_is_help=True)


def _database() -> Database:
    settings = settings_or_exit()
    try:
        return Database(settings.database_url)
    except DatabaseError as exc:
        raise fail(str(exc), 2) from None


@db_app.command("upgrade")
def upgrade_command(
    revision: str = typer.Option("head", help="Target revision (default: the newest)."),
) -> None:
    """Bring the database (JITBOT_DATABASE_URL) to the newest schema."""
    database = _database()
    try:
        reached = upgrade(database, revision)
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise fail(f"upgrade failed on {database!r}: {type(exc).__name__}: {exc}") from None
    finally:
        database.dispose()
    typer.echo(f"ok: database at revision {reached}")


@db_app.command("status")
def status_command() -> None:
    """Show the database's schema revision and the newest one; exit 1 if behind."""
    database = _database()
    try:
        current, head = current_revision(database), head_revision()
    except DatabaseError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise fail(f"cannot read {database!r}: {type(exc).__name__}: {exc}") from None
    finally:
        database.dispose()
    typer.echo(f"database revision: {current or '(empty)'}; newest: {head}")
    if current != head:
        raise fail("the database needs an upgrade: run `jitbot db upgrade`")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
