"""A small HTTP proxy that injects faults between jitbot and one upstream (the fake Slack
or moto server), for the resilience tests.

It forwards every request unchanged (method, path, headers — Host included, so AWS
signatures still match — and body) and returns the upstream's answer, except where a
rule says otherwise: answer some requests itself with an error for a while, or hold them
unanswered until released. It records what it saw, so a test can wait for "the bot is now
in the middle of that call".

    proxy = FaultProxy(moto_url)            # point AWS_ENDPOINT_URL at proxy.url
    rule = proxy.answer(is_get_item, 400, THROTTLED)   # until rule.stop()
    gate = proxy.hold(is_assume_role)       # requests wait until gate.release()
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length"}


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


Match = Callable[[Seen], bool]


@dataclass
class Rule:
    """Answer matching requests with `status`/`body` until `stop()` (or `times` answers,
    or `seconds` after it was made)."""

    match: Match
    status: int
    body: bytes
    headers: dict[str, str]
    times: int | None = None
    until: float | None = None
    answered: int = 0
    stopped: bool = False

    def live(self) -> bool:
        if self.stopped or (self.times is not None and self.answered >= self.times):
            return False
        return self.until is None or time.monotonic() < self.until

    def stop(self) -> None:
        self.stopped = True


@dataclass
class Gate:
    """Matching requests wait here until `release()`; `wait_held()` waits for the first."""

    match: Match
    opened: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    held: int = 0

    def release(self) -> None:
        self.opened.set()

    def wait_held(self, timeout: float = 20.0) -> None:
        if not self.arrived.wait(timeout):
            raise AssertionError(f"no matching request reached the proxy within {timeout}s")


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._gates: list[Gate] = []
        self.seen: list[Seen] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fault-proxy",
                                        daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        for gate in self._gates:
            gate.release()
        self._server.shutdown()
        self._server.server_close()

    def answer(self, match: Match, status: int, body: dict[str, Any] | bytes, *,
               headers: dict[str, str] | None = None, times: int | None = None,
               seconds: float | None = None) -> Rule:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        rule = Rule(match, status, data, dict(headers or {}), times,
                    None if seconds is None else time.monotonic() + seconds)
        with self._lock:
            self._rules.append(rule)
        return rule

    def hold(self, match: Match) -> Gate:
        gate = Gate(match)
        with self._lock:
            self._gates.append(gate)
        return gate

    def clear(self) -> None:
        """Drop every rule, release every gate, forget what was seen."""
        with self._lock:
            gates, self._gates, self._rules = self._gates, [], []
            self.seen = []
        for gate in gates:
            gate.release()

    def count(self, match: Match) -> int:
        with self._lock:
            return sum(1 for seen in self.seen if match(seen))

    # ---- the server side

    def _decide(self, seen: Seen) -> Rule | Gate | None:
        with self._lock:
            self.seen.append(seen)
            for gate in self._gates:
                if not gate.opened.is_set() and gate.match(seen):
                    gate.held += 1
                    gate.arrived.set()
                    return gate
            for rule in self._rules:
                if rule.live() and rule.match(seen):
                    rule.answered += 1
                    return rule
        return None

    def _forward(self, seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port,
                                                timeout=30)
        try:
            headers = {k: v for k, v in seen.headers.items() if k not in HOP_BY_HOP}
            headers["content-length"] = str(len(seen.body))
            connection.request(seen.method, seen.path, body=seen.body, headers=headers)
            response = connection.getresponse()
            return (response.status,
                    [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP],
                    response.read())
        finally:
            connection.close()


def _handler_for(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(self.command, self.path,
                        {k.lower(): v for k, v in self.headers.items()}, body)
            decided = proxy._decide(seen)
            if isinstance(decided, Gate):
                decided.opened.wait(60)
            if isinstance(decided, Rule):
                status, headers, data = (decided.status, list(decided.headers.items()),
                                         decided.body)
                if not any(name.lower() == "content-type" for name, _ in headers):
                    headers.append(("Content-Type", "application/json"))
            else:
                try:
                    status, headers, data = proxy._forward(seen)
                except http.client.RemoteDisconnected:
                    # the upstream hung up without answering: so does the proxy, and the
                    # client sees the dropped connection the upstream meant it to see
                    self.close_connection = True
                    return
                except OSError:
                    status, headers, data = 502, [], b'{"error": "upstream unreachable"}'
            try:
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the client went away (it was killed while its request was held)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
