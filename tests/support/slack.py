"""Slack fixtures: the fake Slack Web API, a local Socket Mode server, an in-process bot
over real HTTP, and `jitbot serve` as a real subprocess.

    fake_slack          the session's FakeSlack, reset for each test (tests/fakeslack.py)
    fake_socket_mode    a FakeSocketMode whose URL the fake's apps.connections.open returns
    slack_settings      Settings pointing at the fake (bot token, signing secret, runbooks)
    jitbot_http         an in-process bot (Bolt + bot/web.py on waitress) on a free port,
                        shared by the session; its submissions and hooks reset per test
    serve_process       a factory: `serve_process(env={...})` starts `jitbot serve`
                        against the fake and returns a running ServeProcess
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App
from sqlalchemy import create_engine

from bot.core.catalog import Catalog, load_catalog
from bot.metrics import Metrics
from bot.settings import Settings, load_settings
from bot.slack.app import build_app, build_client
from bot.slack.deps import Rejection, RequestSubmission, SlackDeps
from bot.slack.runtime import database_check
from bot.slack.workers import WorkerPool
from bot.web import HealthCheck, JitbotWeb, ServerThread
from tests.fake_socket_mode import FakeSocketMode
from tests.fakeslack import FakeSlack
from tests.slack_signing import SIGNING_SECRET, Reply, SlackHttp, http_request

REPO = Path(__file__).resolve().parents[2]
RUNBOOKS = REPO / "runbooks"
BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-1-test"


# ------------------------------------------------------------------ the fakes


@pytest.fixture(scope="session")
def fake_slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack(fake_slack_server: FakeSlack) -> Iterator[FakeSlack]:
    fake_slack_server.reset()
    yield fake_slack_server
    fake_slack_server.socket_mode_url = None


@pytest.fixture
def fake_socket_mode(fake_slack: FakeSlack) -> Iterator[FakeSocketMode]:
    server = FakeSocketMode()
    fake_slack.socket_mode_url = server.url
    try:
        yield server
    finally:
        server.stop()


def settings_for(fake: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_app_token": None,
        "slack_api_url": fake.url,
        "database_url": "sqlite://",
        "runbooks_dir": RUNBOOKS,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def slack_settings(fake_slack: FakeSlack) -> Settings:
    return settings_for(fake_slack)


# ------------------------------------------------------------------ in-process HTTP


class WebServer:
    """bot/web.py's WSGI app on waitress, in a thread, on a free 127.0.0.1 port."""

    def __init__(self, web: JitbotWeb, threads: int = 4) -> None:
        self._served = ServerThread(web, threads=threads)
        self.url = self._served.url

    def get(self, path: str) -> Reply:
        return http_request("GET", self.url + path)

    def stop(self) -> None:
        self._served.stop()


class Recorder:
    """Collects what the bot hands to a hook, and lets a test wait for it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.items: list[Any] = []

    def __call__(self, item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def wait(self, count: int = 1, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.items) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"got {len(self.items)} of {count} within {timeout}s")
                self._cond.wait(remaining)
            return list(self.items)

    def clear(self) -> None:
        with self._cond:
            self.items.clear()


@dataclass
class BotUnderTest:
    """An in-process jitbot over real HTTP, wired to the fake Slack."""

    url: str
    slack: SlackHttp
    app: App
    deps: SlackDeps
    settings: Settings
    server: WebServer
    submissions: Recorder = field(default_factory=Recorder)
    rejections: Recorder = field(default_factory=Recorder)
    # what the test wants done with each submission (runs on the worker pool)
    on_submission: Callable[[RequestSubmission], None] | None = None

    def get(self, path: str) -> Reply:
        return self.server.get(path)

    def reset(self) -> None:
        # work a previous test started must not reach the fake Slack during the next one
        assert self.deps.wait_idle(30), "the bot's urgent threads or workers are still busy"
        self.submissions.clear()
        self.rejections.clear()
        self.on_submission = None
        self.deps.may_request = None


def start_bot(
    fake: FakeSlack,
    *,
    catalog: Catalog | None = None,
    checks: Mapping[str, HealthCheck] | None = None,
    workers: WorkerPool | None = None,
    **settings: Any,
) -> BotUnderTest:
    """Build the real Slack app and HTTP server against `fake`; stop with `.server.stop()`."""
    config = settings_for(fake, **settings)
    metrics = Metrics()
    deps = SlackDeps(
        catalog=catalog or load_catalog(RUNBOOKS),
        client=build_client(config, metrics),
        workers=workers or WorkerPool(workers=4, queue_size=16),
        metrics=metrics,
    )
    app = build_app(config, deps)
    if checks is None:
        checks = {"database": database_check(create_engine("sqlite://"))}
    server = WebServer(JitbotWeb(app, checks, metrics, acks=deps.workers.acks))
    bot = BotUnderTest(server.url, SlackHttp(server.url), app, deps, config, server)

    def submitted(submission: RequestSubmission) -> None:
        bot.submissions(submission)
        if bot.on_submission is not None:
            bot.on_submission(submission)

    def rejected(rejection: Rejection) -> None:
        bot.rejections(rejection)

    deps.requests = submitted
    deps.rejections = rejected
    return bot


@pytest.fixture(scope="session")
def jitbot_http_server(fake_slack_server: FakeSlack) -> Iterator[BotUnderTest]:
    bot = start_bot(fake_slack_server)
    try:
        yield bot
    finally:
        bot.server.stop()
        bot.deps.shutdown(wait=True)


@pytest.fixture
def jitbot_http(jitbot_http_server: BotUnderTest, fake_slack: FakeSlack) -> BotUnderTest:
    jitbot_http_server.reset()
    return jitbot_http_server


def command_answer(slack: SlackHttp, fake: FakeSlack, text: str,
                   **fields: Any) -> dict[str, Any]:
    """Send `/jit <text>`: Slack gets an empty ack at once, then the person's answer is
    posted to the command's response_url; returns that answer, checked to be theirs alone."""
    url = fake.response_url("answer")
    reply = slack.command(text, response_url=url, **fields)
    assert (reply.status, reply.body) == (200, ""), reply.body
    return private_answer(fake, url)


def private_answer(fake: FakeSlack, response_url: str) -> dict[str, Any]:
    """What the bot posted to `response_url`, checked to be for the person alone."""
    answer = fake.wait_for("response", lambda call: response_url.endswith(call.path)).args
    assert answer["response_type"] == "ephemeral", answer
    return answer


# ------------------------------------------------------------------ `jitbot serve`


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jitbot_command() -> list[str]:
    script = Path(sys.executable).with_name("jitbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import main; main()"]


class ServeProcess:
    """`jitbot serve` as a real process; `start()` returns once /healthz answers 200."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path = REPO,
                 args: tuple[str, ...] = ("--host", "127.0.0.1", "--threads", "4")) -> None:
        self.env = dict(env)
        self.port = int(self.env["JITBOT_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.slack = SlackHttp(self.url, self.env.get("SLACK_SIGNING_SECRET", SIGNING_SECRET))
        self.log_path = log_path
        self.cwd = cwd
        self.args = args
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> ServeProcess:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*jitbot_command(), "serve", *self.args], cwd=self.cwd, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"jitbot serve exited with {self.process.returncode}:\n"
                                     f"{self.logs()}")
            with contextlib.suppress(OSError):
                if self.get("/healthz").status == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"jitbot serve did not become healthy in {timeout}s:\n{self.logs()}")

    def get(self, path: str) -> Reply:
        return http_request("GET", self.url + path, timeout=5)

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines (other lines, e.g. a crash before logging starts, skipped)."""
        records = []
        for line in self.logs().splitlines():
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if isinstance(parsed, dict):
                    records.append(parsed)
        return records

    def stop(self, timeout: float = 10.0) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode


def serve_env(fake: FakeSlack, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `jitbot serve` against the fake; `extra` adds or overrides
    (an empty string removes a variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "JITBOT_"))}
    env.update({
        "SLACK_API_URL": fake.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "JITBOT_PORT": str(free_port()),
        "JITBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'jitbot.db'}",
        "JITBOT_RUNBOOKS_DIR": str(RUNBOOKS),
        "JITBOT_LOG_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    })
    for key, value in extra.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    return env


@pytest.fixture
def serve_process(fake_slack: FakeSlack, tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start `jitbot serve` processes: `serve_process(env={"AWS_ENDPOINT_URL": ...})`.

    Every process started is stopped (SIGTERM) at the end of the test.
    """
    started: list[ServeProcess] = []

    def start(env: Mapping[str, str] | None = None, timeout: float = 30.0) -> ServeProcess:
        process = ServeProcess(serve_env(fake_slack, tmp_path, **dict(env or {})),
                               tmp_path / f"serve-{len(started)}.log")
        started.append(process)
        return process.start(timeout)

    yield start
    for process in started:
        process.stop()


def run_serve(fake: FakeSlack, tmp_path: Path, timeout: float = 30.0,
              **env: str) -> subprocess.CompletedProcess[str]:
    """Run `jitbot serve` expecting it to exit by itself (bad configuration)."""
    return subprocess.run(
        [*jitbot_command(), "serve", "--host", "127.0.0.1"], cwd=REPO,
        env=serve_env(fake, tmp_path, **env), capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL)
