"""Everything `jitbot demo` runs, in one process: moto, the fake Slack, SQLite and the real bot.

The bot is built exactly as `jitbot serve` builds it (`build_runtime`, then `make_server`
for the HTTP endpoint, here on a thread of its own), with settings that point
SLACK_API_URL at the fake Slack, AWS_ENDPOINT_URL at moto and JITBOT_DATABASE_URL at a
SQLite file in the demo's folder.
Requests reach it over HTTP on a loopback port, signed with a secret made for this run,
so every Slack payload goes through Bolt's signature check and the production listeners.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot.core.catalog import Catalog
from bot.demo.fake_slack import FakeSlack
from bot.demo.sandbox import FOREIGN_AWS_VARIABLES, REGION, AwsSandbox, environment
from bot.demo.slack_client import SlackHttp
from bot.logs import configure_logging, stop_logging
from bot.settings import load_settings
from bot.slack.runtime import Runtime, build_runtime
from bot.web import SLACK_PATH, ServerThread

BOT_TOKEN = "xoxb-jitbot-demo"
QUIET_SECONDS = 0.4  # no Slack call for this long after the workers go idle: the bot is done


@dataclass
class Stage:
    folder: Path
    fake: FakeSlack
    aws: AwsSandbox
    runtime: Runtime
    server: ServerThread
    slack: SlackHttp
    log_path: Path
    _environ: dict[str, str | None] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def catalog(self) -> Catalog:
        return self.runtime.catalog

    def settle(self, timeout: float = 15.0) -> bool:
        """Wait until the bot has finished what it started (workers idle, Slack quiet)."""
        deadline = time.monotonic() + timeout
        seen = len(self.fake.calls())
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            idle = self.runtime.deps.wait_idle(max(0.0, deadline - time.monotonic()))
            time.sleep(0.05)
            now = len(self.fake.calls())
            if now != seen:
                seen, quiet_since = now, time.monotonic()
            elif idle and time.monotonic() - quiet_since >= QUIET_SECONDS:
                return True
        return False

    def close(self) -> None:
        """Stop the bot first (it may still be posting), then Slack and AWS under it."""
        self.server.stop()
        self.runtime.close()
        self.fake.stop()
        self.aws.stop()
        stop_logging()  # every line written; its file is closed below
        for handler in logging.getLogger().handlers:
            handler.close()
        logging.getLogger().handlers.clear()
        _restore_environment(self._environ)


def start_stage(folder: Path, catalog: Catalog, runbooks_dir: Path, *, orders: int = 300) -> Stage:
    """Start moto, the fake Slack and the bot on `catalog` (loaded from `runbooks_dir`);
    the database and the bot's logs (`jitbot.log`) go to `folder`."""
    log_path = folder / "jitbot.log"
    configure_logging("INFO", log_path)
    aws = AwsSandbox([rb.role_arn for rb in catalog], orders=orders)
    fake: FakeSlack | None = None
    # the person's own AWS settings go first: moto's seeding must not read them either
    previous = _set_environment(environment(None, folder))
    try:
        aws.start()
        os.environ["AWS_ENDPOINT_URL"] = aws.url
        fake = FakeSlack().start()
        secret = secrets.token_hex(16)
        settings = load_settings(
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=secret,
            slack_app_token=None,
            slack_api_url=fake.url,
            database_url=f"sqlite:///{folder / 'jitbot.db'}",
            runbooks_dir=runbooks_dir,
            port=3000,
            request_ttl=timedelta(minutes=30),
            aws_region=REGION,
        )
        runtime = build_runtime(settings, catalog, workers=4)
    except BaseException:
        if fake is not None:
            fake.stop()
        aws.stop()
        _restore_environment(previous)
        raise
    try:
        runtime.start()
        server = ServerThread(runtime.web(), threads=4, name="jitbot-serve")
    except BaseException:
        runtime.close()
        fake.stop()
        aws.stop()
        _restore_environment(previous)
        raise
    return Stage(folder, fake, aws, runtime, server, SlackHttp(server.url, secret, SLACK_PATH),
                 log_path, previous)


def _set_environment(values: dict[str, str]) -> dict[str, str | None]:
    """Point this process's AWS variables at the sandbox; return what was there before."""
    names = [*values, "AWS_ENDPOINT_URL", *FOREIGN_AWS_VARIABLES,
             *(name for name in os.environ if name.startswith("AWS_ENDPOINT_URL_"))]
    previous = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    os.environ.update(values)
    return previous


def _restore_environment(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
