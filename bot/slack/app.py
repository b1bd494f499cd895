"""The one Bolt App, built from Settings; HTTP (bot/web.py) and Socket Mode adapt it."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.web.slack_response import SlackResponse

from bot.metrics import Metrics
from bot.settings import Settings
from bot.slack.deps import SlackDeps
from bot.slack.listeners import register_all

API_TIMEOUT_SECONDS = 15


class SlackConfigError(ValueError):
    """A setting the Slack app cannot run without; the message names it and the fix."""


class MeteredWebClient(WebClient):
    """A WebClient that counts the calls that still fail after the retry handlers."""

    def __init__(self, *args: Any, metrics: Metrics | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metrics = metrics

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:  # type: ignore[override]
        try:
            return super().api_call(api_method, **kwargs)  # type: ignore[return-value]
        except SlackApiError as exc:
            self._count(api_method, str(exc.response.get("error") or exc.response.status_code))
            raise
        except (SlackRequestError, OSError) as exc:
            self._count(api_method, type(exc).__name__)
            raise

    def _count(self, method: str, error: str) -> None:
        if self.metrics is not None:
            self.metrics.slack_api_errors.labels(method, error).inc()


def build_client(settings: Settings, metrics: Metrics | None = None) -> MeteredWebClient:
    """The bot's WebClient: SLACK_API_URL as base, retrying rate limits and server errors."""
    if not settings.slack_bot_token:
        raise SlackConfigError("SLACK_BOT_TOKEN is not set; give the bot token (xoxb-...) "
                               "from the Slack app's OAuth & Permissions page")
    return MeteredWebClient(
        token=settings.slack_bot_token,
        base_url=settings.slack_api_url,
        timeout=API_TIMEOUT_SECONDS,
        metrics=metrics,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


class _BoltLogHygiene(logging.Filter):
    """Keeps request payloads and one piece of noise out of Bolt's log lines.

    Bolt copies this filter onto each of its own loggers when the App is built.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        # jitbot gives Bolt a client holding SLACK_BOT_TOKEN on purpose
        if "`token` will be unused" in message:
            return False
        # Bolt would log the whole refused body: parameter values and a live response_url
        if message.startswith("Invalid request signature detected"):
            record.msg, record.args = "Invalid request signature detected; refused with 401", None
        return True


BOLT_LOGGER = logging.getLogger("bot.slack.bolt")
BOLT_LOGGER.addFilter(_BoltLogHygiene())


def build_app(settings: Settings, deps: SlackDeps, *, token_verification: bool = True) -> App:
    """Bolt App over `deps.client` with every jitbot listener registered.

    `token_verification` calls auth.test now, so a wrong token fails at start-up rather
    than on the first request. Listeners run on the thread that received the request
    (`process_before_response=True`) and Slack gets the ack as soon as the listener
    returns: every listener only parses, acks and hands off (to the worker pool, or to
    `deps.urgent` for what must happen at once: `/jit` hands its command over unread),
    so nothing slow sits in front of an ack.
    Bolt's default instead runs each listener on a thread of its own and looks for the
    ack every 10 ms, which added up to 10 ms to every ack and capped a server's acks at
    about 100 a second per thread. Bolt checks signatures and the 5-minute timestamp
    window on HTTP requests and skips them for Socket Mode, where there is no signature.
    """
    socket_mode = bool(settings.slack_app_token)
    if not socket_mode and not settings.slack_signing_secret:
        raise SlackConfigError("SLACK_SIGNING_SECRET is not set; HTTP mode needs the signing "
                               "secret from the Slack app's Basic Information page "
                               "(or set SLACK_APP_TOKEN to use Socket Mode)")
    app = App(
        name="jitbot",
        client=deps.client,
        signing_secret=settings.slack_signing_secret or "",
        token_verification_enabled=token_verification,
        process_before_response=True,
        logger=BOLT_LOGGER,
    )
    register_all(app, deps)
    return app
