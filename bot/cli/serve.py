"""`jitbot serve`: run the bot, in Socket Mode when SLACK_APP_TOKEN is set, else over HTTP."""

from __future__ import annotations

import gc
import logging
import signal
from types import FrameType
from urllib.error import URLError

import typer

from bot.cli.common import catalog_or_exit, fail, settings_or_exit
from bot.db.engine import DatabaseError
from bot.logs import configure_logging
from bot.slack.app import SlackConfigError
from bot.slack.runtime import build_runtime
from bot.slack.socket_mode import socket_mode_handler
from bot.web import make_server

log = logging.getLogger("bot.serve")


def settle_heap() -> None:
    """Move everything built at start-up (modules, runbooks, the app, SQLAlchemy's
    mappers: well over 100,000 objects) out of the cyclic garbage collector's reach.
    They live as long as the process, yet every full collection would walk them again,
    holding the interpreter lock for about 100 ms, on whatever thread happens to
    trigger it, while acks wait."""
    gc.collect()
    gc.freeze()


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
