"""Bring a database to the newest schema with Alembic, from the CLI or at start-up.

The migration scripts live in `migrations/` at the repository root (DESIGN §5). They are
found, in order, at `JITBOT_MIGRATIONS_DIR`, next to the `bot` package (a source tree or
an editable install, the Docker image copies both), or in `./migrations`.
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import URL

import bot
from bot.db.engine import Database, DatabaseError

MIGRATIONS_ENV = "JITBOT_MIGRATIONS_DIR"
_UPGRADE_LOCK = 0x6A697462  # "jitb": one replica migrates at a time on PostgreSQL


def migrations_dir() -> Path:
    candidates: list[Path] = []
    if os.environ.get(MIGRATIONS_ENV):
        candidates.append(Path(os.environ[MIGRATIONS_ENV]))
    candidates.append(Path(bot.__file__).resolve().parent.parent / "migrations")
    candidates.append(Path.cwd() / "migrations")
    for folder in candidates:
        if (folder / "env.py").is_file():
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise DatabaseError(
        f"cannot find jitbot's migrations folder (tried {tried}); "
        f"set {MIGRATIONS_ENV} to the migrations/ folder of the jitbot source"
    )


def alembic_config(url: str | URL | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        config.attributes["url"] = str(url)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the project always ships revisions
        raise DatabaseError("the migrations folder holds no revisions")
    return head


def current_revision(database: Database) -> str | None:
    with database.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database, revision: str = "head") -> str | None:
    """Upgrade in one transaction; concurrent callers wait and then find nothing to do."""
    config = alembic_config(database.url)
    with database.engine.begin() as connection:
        if database.is_postgres:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return MigrationContext.configure(connection).get_current_revision()


def open_database(url: str | URL, *, migrate: bool = True) -> Database:
    """The database the bot runs on: upgraded first, unless told not to, in which case
    it must already be at the newest revision."""
    database = Database(url)
    try:
        if migrate:
            upgrade(database)
            return database
        current, head = current_revision(database), head_revision()
    except DatabaseError:
        database.dispose()
        raise
    except Exception as exc:
        database.dispose()
        raise DatabaseError(
            f"cannot open the database {database.url.render_as_string(hide_password=True)}: "
            f"{type(exc).__name__}: {exc}; check JITBOT_DATABASE_URL and that the server is up"
        ) from exc
    if current != head:
        database.dispose()
        raise DatabaseError(
            f"the database is at revision {current or '(empty)'} but jitbot needs {head}; "
            "run `jitbot db upgrade` (or start without --no-migrate)"
        )
    return database
