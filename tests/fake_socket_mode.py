"""A local WebSocket server that speaks Slack's Socket Mode, standing in for Slack.

The fake Web API's `apps.connections.open` hands out `url`; the bot connects, gets a
`hello`, and then receives envelopes (`slash_commands`, `interactive`, `events_api`) and
must ack each one with `{"envelope_id": ...}`, optionally with a response `payload`.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.fakeslack import APP_ID


class FakeSocketMode:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._cond = threading.Condition()
        self._connections: list[ServerConnection] = []
        self._connected_total = 0
        self.acks: dict[str, dict[str, Any]] = {}
        self.frames: list[dict[str, Any]] = []  # everything the bot sent, parsed
        self._server: Server = serve(self._session, host, 0, compression=None,
                                     ping_interval=None)
        self.host = host
        self.port = self._server.socket.getsockname()[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="fake-socket-mode", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}/link/?ticket={uuid.uuid4()}&app_id={APP_ID}"

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------ the bot's side

    def _session(self, connection: ServerConnection) -> None:
        with self._cond:
            self._connections.append(connection)
            self._connected_total += 1
            self._cond.notify_all()
        try:
            connection.send(json.dumps({
                "type": "hello", "num_connections": 1,
                "debug_info": {"host": "applink-fake", "build_number": 1,
                               "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID},
            }))
            for raw in connection:
                frame = json.loads(raw)
                with self._cond:
                    self.frames.append(frame)
                    if "envelope_id" in frame:
                        self.acks[frame["envelope_id"]] = frame
                    self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                self._connections.remove(connection)
                self._cond.notify_all()

    # ------------------------------------------------------------ the test's side

    def wait_connected(self, timeout: float = 10.0) -> None:
        self._wait(lambda: bool(self._connections), timeout, "no Socket Mode connection")

    def send(self, envelope: dict[str, Any]) -> str:
        with self._cond:
            if not self._connections:
                raise AssertionError("the bot is not connected to the fake Socket Mode server")
            connection = self._connections[-1]
        connection.send(json.dumps(envelope))
        return str(envelope["envelope_id"])

    def send_slash_command(self, payload: dict[str, Any]) -> str:
        return self.send({"envelope_id": str(uuid.uuid4()), "payload": payload,
                          "type": "slash_commands", "accepts_response_payload": True})

    def send_interactive(self, payload: dict[str, Any]) -> str:
        return self.send({"envelope_id": str(uuid.uuid4()), "payload": payload,
                          "type": "interactive", "accepts_response_payload": False})

    def send_event(self, envelope: dict[str, Any], retry_attempt: int = 0) -> str:
        return self.send({"envelope_id": str(uuid.uuid4()), "payload": envelope,
                          "type": "events_api", "accepts_response_payload": False,
                          "retry_attempt": retry_attempt, "retry_reason": ""})

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the bot to reconnect, as Slack does every few hours."""
        self.send_raw({"type": "disconnect", "reason": reason,
                       "debug_info": {"host": "applink-fake"}})

    def send_raw(self, frame: dict[str, Any]) -> None:
        with self._cond:
            connection = self._connections[-1]
        connection.send(json.dumps(frame))

    def wait_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        self._wait(lambda: envelope_id in self.acks, timeout,
                   f"no ack for envelope {envelope_id}")
        with self._cond:
            return self.acks[envelope_id]

    @property
    def connections_opened(self) -> int:
        with self._cond:
            return self._connected_total

    def _wait(self, ready: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what} within {timeout}s")
                self._cond.wait(remaining)
