"""The HTTP face of jitbot: one WSGI app served by waitress in a single process.

POST /slack/events   commands, interactivity and events (Bolt's WSGI adapter)
GET  /healthz        JSON; 200 when every check passes (the database is reachable)
GET  /metrics        Prometheus text format

One process per replica on purpose: session credentials live only in that process's
memory, beside the scheduler that ends sessions. Replicas share state through the
database (see docs/slack-app.md), never through memory.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from waitress import create_server, wasyncore
from waitress.server import BaseWSGIServer

from bot.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from bot.metrics import Metrics
from bot.slack.workers import AcksInFlight

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

SLACK_PATH = "/slack/events"
MAX_BODY_BYTES = 1 << 20  # Slack payloads are a few kilobytes; refuse anything absurd
HealthCheck = Callable[[], None]  # raises when the thing it checks is unavailable

log = logging.getLogger(__name__)


class JitbotWeb:
    """Routes the three endpoints; `bolt_app=None` serves only health and metrics
    (Socket Mode, where Slack's traffic arrives over the WebSocket). `acks` counts the
    Slack requests being answered, so the worker pool can wait out a burst of them."""

    def __init__(
        self,
        bolt_app: App | None,
        checks: Mapping[str, HealthCheck],
        metrics: Metrics,
        acks: AcksInFlight | None = None,
    ) -> None:
        self._slack = SlackRequestHandler(bolt_app, path=SLACK_PATH) if bolt_app else None
        self._checks = dict(checks)
        self._metrics = metrics
        self._acks = acks

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        if path == SLACK_PATH and self._slack is not None:
            if method != "POST":
                return _json(start_response, 405, {"error": "use POST"}, [("Allow", "POST")])
            if self._acks is None:
                return self._slack(environ, start_response)
            with self._acks.answering():
                return self._slack(environ, start_response)
        if path == "/healthz":
            if method not in ("GET", "HEAD"):
                return _json(start_response, 405, {"error": "use GET"}, [("Allow", "GET")])
            return self._health(start_response)
        if path == "/metrics":
            if method not in ("GET", "HEAD"):
                return _json(start_response, 405, {"error": "use GET"}, [("Allow", "GET")])
            body = self._metrics.exposition()
            start_response("200 OK", [("Content-Type", METRICS_CONTENT_TYPE),
                                      ("Content-Length", str(len(body)))])
            return [body]
        return _json(start_response, 404, {"error": f"no such endpoint: {path}"})

    def _health(self, start_response: StartResponse) -> Iterable[bytes]:
        results: dict[str, str] = {}
        healthy = True
        for name, check in self._checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                # the type only: driver messages can carry connection strings
                healthy = False
                results[name] = f"unavailable ({type(exc).__name__})"
                log.warning("health check failed", extra={"check": name,
                                                           "error": type(exc).__name__})
        body = {"status": "ok" if healthy else "unavailable", "checks": results}
        return _json(start_response, 200 if healthy else 503, body)


def _json(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[str, str]] | None = None,
) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed",
              503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(data))), *(headers or [])])
    return [data]


def make_server(app: JitbotWeb, host: str, port: int, threads: int = 8,
                sockets: dict[int, Any] | None = None) -> BaseWSGIServer:
    """A waitress server, not yet running: call `.run()`; `.effective_port` is the port
    really bound (useful with port 0; waitress gives it as text), `.close()` stops it.
    `sockets` is the map its loop serves, given to stop it cleanly (ServerThread)."""
    server = create_server(
        app,
        map=sockets,
        host=host,
        port=port,
        threads=threads,
        ident="jitbot",
        max_request_body_size=MAX_BODY_BYTES,
        clear_untrusted_proxy_headers=True,
    )
    if not isinstance(server, BaseWSGIServer):  # several sockets: not what jitbot asks for
        raise ValueError(f"{host!r} resolves to several addresses; give one host")
    return server


class ServerThread:
    """jitbot's WSGI app served on 127.0.0.1 (a free port) from a thread of its own, for
    `jitbot demo` and the tests; `jitbot serve` runs its server on the main thread."""

    def __init__(self, app: JitbotWeb, threads: int = 4, name: str = "jitbot-web") -> None:
        self._sockets: dict[int, Any] = {}
        self._stopping = threading.Event()
        self.server = make_server(app, "127.0.0.1", 0, threads=threads, sockets=self._sockets)
        self.url = f"http://127.0.0.1:{self.server.effective_port}"
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        adj = self.server.adj
        while self._sockets and not self._stopping.is_set():
            wasyncore.loop(timeout=adj.asyncore_loop_timeout, map=self._sockets,
                           use_poll=adj.asyncore_use_poll, count=1)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop, let requests being answered finish, then close every socket.
        In that order: a socket closed while the loop selects on it, or a wake-up pipe
        closed before the last request thread pulls it, fails on that thread (EBADF)."""
        self._stopping.set()
        self.server.pull_trigger()  # wakes the loop's select
        self._thread.join(timeout)
        self.server.task_dispatcher.shutdown(timeout=timeout)
        wasyncore.close_all(self._sockets)
