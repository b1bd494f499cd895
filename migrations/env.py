"""Alembic environment for jitbot.

`bot/db/migrate.py` hands over an open connection (config.attributes["connection"]);
run by hand (`alembic upgrade head`), the URL comes from JITBOT_DATABASE_URL.
"""

from __future__ import annotations

from alembic import context

from bot.db.engine import Database
from bot.db.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    from bot.settings import load_settings

    given = config.attributes.get("url")
    return str(given) if given else load_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=str(Database(_url()).url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    database = Database(_url())
    try:
        with database.engine.begin() as own:
            context.configure(
                connection=own, target_metadata=target_metadata, render_as_batch=True
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        database.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
