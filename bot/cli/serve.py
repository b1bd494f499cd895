"""`jitbot serve`: run the bot, in Socket Mode when SLACK_APP_TOKEN is set, else over HTTP."""

from __future__ import annotations

import gc
import logging
import signal
from dataclasses import dataclass
from types import FrameType
from urllib.error import URLError

import typer
from slack_bolt import App
from slack_bolt.error import BoltError
from sqlalchemy import Engine, text

from bot.cli.common import catalog_or_exit, fail, settings_or_exit
from bot.core.access import AwsAccess
from bot.core.aws import AwsClients
from bot.core.catalog import Catalog
from bot.core.workflow import Workflow
from bot.db.engine import Database, DatabaseError
from bot.db.migrate import open_database
from bot.jobs import Timer
from bot.logs import configure_logging
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.app import MeteredWebClient, SlackConfigError, build_app, build_client
from bot.slack.deps import SlackDeps
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import SlackNotifier
from bot.slack.socket_mode import socket_mode_handler
from bot.slack.wiring import connect
from bot.slack.workers import AcksInFlight, WorkerPool
from bot.web import HealthCheck, JitbotWeb, make_server

log = logging.getLogger("bot.serve")


@dataclass
class Runtime:
    """Everything one serving process holds, built once from the settings."""

    settings: Settings
    catalog: Catalog
    metrics: Metrics
    workers: WorkerPool
    client: MeteredWebClient
    deps: SlackDeps
    app: App
    database: Database
    workflow: Workflow
    timer: Timer
    notifier: SlackNotifier

    @property
    def socket_mode(self) -> bool:
        return bool(self.settings.slack_app_token)

    def web(self) -> JitbotWeb:
        checks: dict[str, HealthCheck] = {"database": database_check(self.database.engine)}
        return JitbotWeb(None if self.socket_mode else self.app, checks, self.metrics,
                         acks=self.workers.acks)

    def start(self) -> None:
        """Start the clock: overdue sessions end now, the rest are scheduled."""
        report = self.timer.start()
        log.info("timer started", extra={"ended_at_start": len(report.ended),
                                         "expired_at_start": len(report.expired)})

    def close(self) -> None:
        self.timer.stop()
        self.workflow.close()
        self.workers.shutdown(wait=True)
        self.notifier.close()  # the last replies and card updates the workers made
        self.database.dispose()


def build_runtime(settings: Settings, catalog: Catalog, workers: int = 8, *,
                  migrate: bool = True) -> Runtime:
    """Wire the process; raises SlackConfigError, BoltError or URLError on bad Slack setup,
    DatabaseError when the database cannot be reached or upgraded."""
    metrics = Metrics()
    # the pool queues a burst rather than refusing it (its defaults), and works the backlog
    # off once the burst's acks are out; a burst is half the HTTP threads answering Slack
    # at once (`workers` is serve's --threads), and web() gives the web layer these `acks`
    pool = WorkerPool(workers=workers, on_rejected=metrics.worker_rejections.inc,
                      acks=AcksInFlight(busy_at=max(1, workers // 2)))
    client = build_client(settings, metrics)
    deps = SlackDeps(catalog=catalog, client=client, workers=pool, metrics=metrics)
    try:
        app = build_app(settings, deps)
        database = open_database(settings.database_url, migrate=migrate)
    except BaseException:
        pool.shutdown(wait=False)
        raise
    directory = SlackDirectory(client)
    access = AwsAccess(AwsClients(settings.aws_region))
    notifier = SlackNotifier(client, metrics)
    workflow = Workflow.from_settings(settings, database, catalog, access=access,
                                      directory=directory, notifier=notifier)
    metrics.sessions_active.set_function(lambda: len(workflow.credentials))
    connect(deps, workflow, directory)
    timer = Timer(workflow)
    return Runtime(settings, catalog, metrics, pool, client, deps, app, database, workflow,
                   timer, notifier)


def settle_heap() -> None:
    """Move everything built at start-up (modules, runbooks, the app, SQLAlchemy's
    mappers: well over 100,000 objects) out of the cyclic garbage collector's reach.
    They live as long as the process, yet every full collection would walk them again,
    holding the interpreter lock for about 100 ms, on whatever thread happens to
    trigger it, while acks wait."""
    gc.collect()
    gc.freeze()


def database_check(engine: Engine) -> HealthCheck:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check


def serve(
    host: str = typer.Option("0.0.0.0", "--host", help="Address to listen on."),
    threads: int = typer.Option(8, "--threads", min=1, help="HTTP threads and workers."),
    log_level: str = typer.Option("INFO", "--log-level", envvar="JITBOT_LOG_LEVEL",
                                  help="DEBUG, INFO, WARNING or ERROR."),
    migrate: bool = typer.Option(True, "--migrate/--no-migrate",
                                 help="Upgrade the database on start (default)."),
) -> None:
    """Run the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on JITBOT_PORT
    (POST /slack/events, GET /healthz, GET /metrics)."""
    configure_logging(log_level)
    settings = settings_or_exit()
    if not settings.slack_bot_token:
        raise fail("SLACK_BOT_TOKEN is not set; give the bot token (xoxb-...) from the "
                   "Slack app's OAuth & Permissions page", 2)
    if not settings.slack_app_token and not settings.slack_signing_secret:
        raise fail("SLACK_SIGNING_SECRET is not set; HTTP mode needs the signing secret from "
                   "the Slack app's Basic Information page (or set SLACK_APP_TOKEN for "
                   "Socket Mode)", 2)
    catalog = catalog_or_exit(None, settings)
    try:
        runtime = build_runtime(settings, catalog, workers=threads, migrate=migrate)
    except SlackConfigError as exc:
        raise fail(str(exc), 2) from None
    except BoltError as exc:
        raise fail(f"Slack refused SLACK_BOT_TOKEN ({exc}); check the token and that the "
                   "app is installed in the workspace", 2) from None
    except DatabaseError as exc:
        raise fail(f"{exc}; check JITBOT_DATABASE_URL", 2) from None
    except (URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise fail(f"cannot reach Slack at SLACK_API_URL={settings.slack_api_url} "
                   f"({reason}); check the URL and the network", 2) from None

    try:
        server = make_server(runtime.web(), host, settings.port, threads=threads)
    except OSError as exc:
        runtime.close()
        raise fail(f"cannot listen on {host}:{settings.port} ({exc.strerror}); "
                   "set JITBOT_PORT to a free port", 2) from None
    runtime.start()
    settle_heap()
    handler = None
    if runtime.socket_mode:
        handler = socket_mode_handler(runtime.app, settings.slack_app_token or "")
        handler.connect()
    signal.signal(signal.SIGTERM, _exit_on_signal)
    log.info("jitbot serving", extra={
        "mode": "socket" if handler else "http",
        "host": host,
        "port": int(server.effective_port),
        "runbooks": len(catalog),
    })
    try:
        server.run()
    finally:
        log.info("jitbot stopping")
        if handler is not None:
            handler.close()
        server.close()
        runtime.close()


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # waitress stops its loop on SystemExit; cleanup runs in finally


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
