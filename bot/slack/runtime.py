"""One serving process, assembled: the Slack app and its worker pool, the database, AWS
access, the workflow and the timer. `jitbot serve` and `jitbot demo` both run exactly
this; the web layer (bot/web.py) or Socket Mode carries Slack's traffic to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_bolt import App
from slack_bolt.error import BoltError
from sqlalchemy import Engine, text

from bot.core.access import AwsAccess
from bot.core.aws import AwsClients
from bot.core.catalog import Catalog
from bot.core.workflow import Workflow
from bot.db.engine import Database
from bot.db.migrate import open_database
from bot.jobs import Timer
from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.app import MeteredWebClient, SlackConfigError, build_app, build_client
from bot.slack.deps import SlackDeps, urgent_threads
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import SlackNotifier
from bot.slack.wiring import connect
from bot.slack.workers import AcksInFlight, WorkerPool
from bot.web import HealthCheck, JitbotWeb

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
        self.deps.shutdown(wait=True)
        self.notifier.close()  # the last replies and card updates the workers made
        self.database.dispose()


def build_runtime(settings: Settings, catalog: Catalog, workers: int = 8, *,
                  migrate: bool = True) -> Runtime:
    """Wire the process; raises SlackConfigError or URLError on bad Slack setup (a token
    Slack refuses included), DatabaseError when the database cannot be reached or
    upgraded."""
    metrics = Metrics()
    # the pool queues a burst rather than refusing it (its defaults), and works the backlog
    # off once the burst's acks are out; a burst is half the HTTP threads answering Slack
    # at once (`workers` is serve's --threads) or a flood of requests (AcksInFlight), and
    # web() gives the web layer these `acks`
    acks = AcksInFlight(busy_at=max(1, workers // 2))
    metrics.slack_requests_in_flight.set_function(lambda: acks.count)
    pool = WorkerPool(workers=workers, on_rejected=metrics.worker_rejections.inc, acks=acks)
    client = build_client(settings, metrics)
    deps = SlackDeps(catalog=catalog, client=client, workers=pool, metrics=metrics,
                     urgent=urgent_threads(acks))

    try:
        app = build_app(settings, deps)
        database = open_database(settings.database_url, migrate=migrate)
    except BoltError as exc:  # auth.test refused the token
        deps.shutdown(wait=False)  # the start failed: nothing was queued yet
        raise SlackConfigError(f"Slack refused SLACK_BOT_TOKEN ({exc}); check the token and "
                               "that the app is installed in the workspace") from None
    except BaseException:
        deps.shutdown(wait=False)
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


def database_check(engine: Engine) -> HealthCheck:
    def check() -> None:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    return check
