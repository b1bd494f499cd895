"""One `Database` per process: the engine, sessions, and how a write transaction begins.

SQLite: every transaction starts with `BEGIN IMMEDIATE` (the database write lock), and a
process-wide lock queues this process's threads in front of it, so writers never meet
SQLite's lock-upgrade deadlock and the audit chain has one writer at a time.
PostgreSQL: ordinary READ COMMITTED transactions; conditional updates and row locks
(`SELECT ... FOR UPDATE`) decide races, and the audit chain head row serialises appends.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_SECONDS = 30


class DatabaseError(RuntimeError):
    """The database cannot be used; the message names the setting to fix."""


def normalize_url(url: str | URL) -> URL:
    """Accept the URLs people write (`postgresql://`, `postgres://`) and pick the driver
    jitbot ships with (psycopg 3)."""
    text = str(url) if isinstance(url, URL) else url
    if text.startswith("postgres://"):
        text = "postgresql://" + text.removeprefix("postgres://")
    try:
        parsed = make_url(text)
    except Exception as exc:  # sqlalchemy raises ArgumentError with its own wording
        raise DatabaseError(
            f"JITBOT_DATABASE_URL={text!r} is not a database URL ({exc}); "
            "use e.g. sqlite:///jitbot.db or postgresql://user@host/db"
        ) from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise DatabaseError(
            f"JITBOT_DATABASE_URL uses {parsed.get_backend_name()!r}; "
            "jitbot supports sqlite:/// and postgresql:// URLs"
        )
    return parsed


class Database:
    def __init__(self, url: str | URL, *, echo: bool = False):
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        self.engine = _make_engine(self.url, echo)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if self.is_sqlite else contextlib.nullcontext()
        )

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self._write_lock, self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"


def _enable_wal(cursor: Any) -> None:
    """Switch a file database to WAL. The switch takes an exclusive lock and, unlike
    ordinary statements, does not wait on busy_timeout, so connections opening a fresh
    file together (replicas starting at once) retry instead of failing."""
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _make_engine(url: URL, echo: bool) -> Engine:
    if url.get_backend_name() == "postgresql":
        return create_engine(
            url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20
        )
    memory = url.database in (None, "", ":memory:")
    kwargs: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_SECONDS},
    }
    if memory:
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below emit BEGIN, not the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        if not memory:
            _enable_wal(cursor)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
