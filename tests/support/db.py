"""Database fixtures: every state test runs on SQLite and, when JITBOT_TEST_POSTGRES_URL
is set, on PostgreSQL too (in a schema of its own per test, dropped afterwards).

Also the doubles the workflow tests share: a directory of user groups, a notifier that
records every call, and an AWS access double whose credentials carry known secrets.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text

from bot.core.catalog import Catalog, load_catalog
from bot.core.execution import QueryResult
from bot.core.grants import Grant
from bot.core.ports import CardRef, DirectoryError
from bot.core.queries import RenderedRequest
from bot.core.runbooks import Runbook, SessionSpec
from bot.db.engine import Database
from bot.db.migrate import open_database

if TYPE_CHECKING:
    from bot.core.workflow import Workflow

POSTGRES_ENV = "JITBOT_TEST_POSTGRES_URL"
RUNBOOKS = Path(__file__).resolve().parents[2] / "runbooks"
REQUESTER = "UREQ00001"
OTHER_REQUESTER = "UREQ00002"
OUTSIDER = "UOUT00001"
APPROVERS = tuple(f"UAPP{n:05d}" for n in range(1, 31))
DBAS = ("UDBA00001", "UDBA00002")
GROUPS = {
    "@oncall": frozenset({REQUESTER, OTHER_REQUESTER, APPROVERS[0]}),
    "@oncall-leads": frozenset(APPROVERS),
    "@dba": frozenset(DBAS),
}
ORDER_ITEM = {
    "pk": "ORDER#1001",
    "sk": "ORDER",
    "status": "SHIPPED",
    "total": Decimal("12.50"),
    "currency": "EUR",
    "customer_email": "jane.doe@example.com",
    "card_number": "4111111111111111",
    "shipping": {"phone": "+1 415 555 0100", "city": "Lyon"},
}


def postgres_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def _with_search_path(url: str, schema: str) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


@dataclass(frozen=True)
class TestDatabase:
    """A migrated, empty database; `url` also works from another process."""

    __test__ = False
    backend: str
    url: str

    def open(self) -> Database:
        return open_database(self.url, migrate=False)


def _backends() -> list[Any]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(
            "postgres",
            id="postgres",
            marks=pytest.mark.skipif(
                postgres_url() is None, reason=f"{POSTGRES_ENV} is not set"
            ),
        ),
    ]


@contextmanager
def _fresh_url(backend: str, folder: Path) -> Iterator[str]:
    """An empty database of one backend, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'jitbot.db'}"
        return
    base = postgres_url()
    assert base is not None
    schema = f"jt_{uuid.uuid4().hex[:12]}"
    admin = create_engine(Database(base).url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(base, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=_backends())
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    """A database with no tables at all (never migrated)."""
    with _fresh_url(request.param, tmp_path) as url:
        yield TestDatabase(request.param, url)


@pytest.fixture(params=_backends())
def test_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestDatabase]:
    """A migrated, empty database."""
    with _fresh_url(request.param, tmp_path) as url:
        open_database(url).dispose()
        yield TestDatabase(request.param, url)


@pytest.fixture
def database(test_db: TestDatabase) -> Iterator[Database]:
    db = test_db.open()
    try:
        yield db
    finally:
        db.dispose()


def tamper(database: Database, *statements: str, **params: Any) -> None:
    """Change the audit table as an attacker with the database owner's rights would:
    switch the append-only triggers off, run the statements, switch them back on."""
    with database.engine.begin() as connection:
        if database.is_postgres:
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
            connection.execute(text("DROP TRIGGER audit_events_no_delete"))
        for statement in statements:
            connection.execute(text(statement), params)
        if database.is_postgres:
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            for verb in ("UPDATE", "DELETE"):
                connection.execute(text(
                    f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} "
                    "ON audit_events BEGIN SELECT RAISE(ABORT, 'append-only'); END"
                ))


def shipped_runbooks() -> Catalog:
    return load_catalog(RUNBOOKS)


def with_session(runbook: Runbook, seconds: float) -> Runbook:
    """A copy with a session shorter than the format allows, so timer tests stay fast."""
    session = SessionSpec.model_construct(duration=timedelta(seconds=seconds))
    return runbook.model_copy(update={"session": session})


def short_catalog(seconds: float) -> Catalog:
    return Catalog(with_session(rb, seconds) for rb in shipped_runbooks())


class StaticDirectory:
    def __init__(self, groups: dict[str, frozenset[str]] | None = None):
        self.groups = dict(GROUPS if groups is None else groups)
        self.failing = False

    def members(self, handle: str) -> frozenset[str]:
        if self.failing:
            raise DirectoryError("usergroups.users.list answered ratelimited")
        return self.groups.get(handle, frozenset())


class Recorder:
    """A notifier that keeps every call; `fail_on` names methods that raise."""

    def __init__(self, *, fail_on: Sequence[str] = ()):
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.fail_on = set(fail_on)
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    def _record(self, name: str, *args: Any) -> None:
        with self._lock:
            self.calls.append((name, args))
        if name in self.fail_on:
            raise RuntimeError(f"{name} failed (test notifier)")

    def of(self, name: str) -> list[tuple[Any, ...]]:
        with self._lock:
            return [args for called, args in self.calls if called == name]

    def names(self) -> list[str]:
        with self._lock:
            return [called for called, _ in self.calls]

    def request_created(self, view: Any) -> CardRef:
        self._record("request_created", view)
        return CardRef(view.channel, f"1700000000.{next(self._ts):06d}")

    def request_updated(self, view: Any) -> None:
        self._record("request_updated", view)

    def decision(self, view: Any, actor: str, decision: Any) -> None:
        self._record("decision", view, actor, decision)

    def request_closed(self, view: Any, actor: str, why: str) -> None:
        self._record("request_closed", view, actor, why)

    def results(self, view: Any, output: Any) -> None:
        self._record("results", view, output)

    def failure(self, view: Any, message: str) -> None:
        self._record("failure", view, message)

    def session_ended(self, view: Any, actor: str, why: str) -> None:
        self._record("session_ended", view, actor, why)


class FakeAccess:
    """Grants with known, unmistakable secrets; `run` returns fixed items."""

    def __init__(self, items: Sequence[dict[str, Any]] = (ORDER_ITEM,)):
        self.items = [dict(item) for item in items]
        self.grants: list[Grant] = []
        self.runs: list[str] = []
        self.ended: list[str] = []
        self.grant_error: Exception | None = None
        self.run_error: Exception | None = None
        self.on_grant: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._n = itertools.count(1)

    @property
    def secrets(self) -> set[str]:
        return {g.secret_access_key for g in self.grants} | {g.session_token for g in self.grants}

    def grant(self, rendered: RenderedRequest, runbook: Runbook, *, request_id: str,
              requester: str, approvers: Sequence[str]) -> Grant:
        if self.on_grant is not None:
            self.on_grant()
        if self.grant_error is not None:
            raise self.grant_error
        n = next(self._n)
        grant = Grant(
            role_arn=runbook.role_arn,
            role_session_name=f"jit-{request_id}",
            source_identity=f"slack-{requester}",
            access_key_id=f"ASIAFAKE{n:012d}",
            secret_access_key=f"FAKESECRET{uuid.uuid4().hex}",
            session_token=f"FAKETOKEN{uuid.uuid4().hex}{uuid.uuid4().hex}",
            expiration=datetime.now(UTC) + timedelta(hours=1),
            assumed_role_id=f"AROAFAKE{n:08d}:jit-{request_id}",
            region=rendered.call.region,
            scope=rendered.scope,
            partition_key=(runbook.key_attributes() or [None])[0],
        )
        with self._lock:
            self.grants.append(grant)
        return grant

    def run(self, grant: Grant, rendered: RenderedRequest) -> QueryResult:
        with self._lock:
            self.runs.append(grant.access_key_id)
        if self.run_error is not None:
            raise self.run_error
        items = [dict(item) for item in self.items]
        size = len(json.dumps(items, default=str).encode())
        return QueryResult(items=items, count=len(items), scanned_count=len(items),
                           truncated=False, bytes=size, consumed_capacity=0.5,
                           request_ids=[f"FAKEREQ{len(self.runs):06d}"], milliseconds=3.2)

    def end(self, grant: Grant) -> None:
        with self._lock:
            self.ended.append(grant.access_key_id)


@dataclass
class Core:
    """One workflow wired to its doubles."""

    database: Database
    workflow: Workflow
    notifier: Recorder
    access: Any
    directory: StaticDirectory
    catalog: Catalog


def make_core(
    database: Database,
    *,
    catalog: Catalog | None = None,
    access: Any = None,
    notifier: Recorder | None = None,
    directory: StaticDirectory | None = None,
    **options: Any,
) -> Core:
    # Imported here so this plugin loads even while the workflow module is being edited.
    from bot.core.workflow import Workflow

    catalog = catalog or shipped_runbooks()
    access = access if access is not None else FakeAccess()
    notifier = notifier or Recorder()
    directory = directory or StaticDirectory()
    workflow = Workflow(database, catalog, access=access, directory=directory,
                        notifier=notifier, **options)
    return Core(database, workflow, notifier, access, directory, catalog)


@pytest.fixture
def core(database: Database) -> Core:
    return make_core(database)
