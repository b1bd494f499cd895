"""A fake Slack Web API over real HTTP, for tests and for `jitbot demo`.

It listens on a free 127.0.0.1 port in a background thread and answers the Web API
methods jitbot uses with Slack's documented response shapes, so a stock
`WebClient(base_url=fake.url)` works unchanged. Every call is recorded (method, parsed
arguments, headers, status) and can be awaited from another thread. On demand the next
calls of a method fail with 429 + Retry-After, a 5xx, a Slack error code or a dropped
connection, before or after taking effect.

URLs under `fake.url` (`http://127.0.0.1:<port>/api/`):
  <method>            a Web API method, form, query string or JSON arguments
  response/<anything> a response_url; recorded as method "response"
  upload/<file id>    the upload URL handed out by files.getUploadURLExternal ("upload")

The methods themselves are in bot/demo/fake_slack_methods.py; this module is the server,
the call log, failure injection and what tests read back.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.demo.fake_slack_methods import APP_ID as APP_ID
from bot.demo.fake_slack_methods import BOT_ID as BOT_ID
from bot.demo.fake_slack_methods import BOT_USER_ID as BOT_USER_ID
from bot.demo.fake_slack_methods import (
    METHODS,
    TEAM_ID,
    SlackError,
    WebApiMethods,
    by_ts,
    json_copy,
)

# People, channels and groups every fresh fake knows; tests may add or change them.
ALICE, BOB, CAROL, DAVE, ERIN = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE", "U0ERIN"
OPS_CHANNEL = "C0OPS"
ALERTS_CHANNEL = "C0ALERTS"
PRIVATE_CHANNEL = "G0SECRET"

DEFAULT_USERS = {ALICE: "alice", BOB: "bob", CAROL: "carol", DAVE: "dave", ERIN: "erin",
                 BOT_USER_ID: "jitbot"}
DEFAULT_USERGROUPS = {
    "oncall": [ALICE, BOB, CAROL, ERIN],
    "oncall-leads": [BOB, CAROL],
    "dba": [DAVE],
}
DEFAULT_CHANNELS = {OPS_CHANNEL: "ops", ALERTS_CHANNEL: "alerts-orders",
                    PRIVATE_CHANNEL: "secret-ops"}

_JSON_ARGS = ("blocks", "attachments", "view", "files", "metadata", "users")


@dataclass(frozen=True)
class Call:
    """One request the fake received."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]  # lower-case names
    status: int
    path: str
    body: bytes = field(repr=False)
    response: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def token(self) -> str | None:
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:]
        token = self.args.get("token")
        return str(token) if token else None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok", True) is not False


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: int | None
    after_effect: bool
    where: Callable[[dict[str, Any]], bool] | None


class FakeSlack(WebApiMethods):
    """Start with `start()` (or `with FakeSlack() as fake:`); stop with `stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        self.socket_mode_url: str | None = None
        self._reset_state()

    # ------------------------------------------------------------ lifecycle

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def url(self) -> str:
        """The Web API base URL: give it to WebClient(base_url=...) or SLACK_API_URL."""
        return self.root + "api/"

    def start(self) -> FakeSlack:
        if self._thread is None:
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            name="fake-slack", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every call, message, view and file; restore the default directory."""
        with self._cond:
            self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._messages: dict[str, dict[str, dict[str, Any]]] = {}  # channel -> ts -> message
        self._ephemerals: list[dict[str, Any]] = []
        self._views: dict[str, dict[str, Any]] = {}
        self._home: dict[str, dict[str, Any]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._counter = itertools.count(1)
        self._rejected_tokens: set[str] = set()
        self.users: dict[str, str] = dict(DEFAULT_USERS)
        self.usergroups: dict[str, list[str]] = {h: list(m) for h, m in DEFAULT_USERGROUPS.items()}
        self.channels: dict[str, str] = dict(DEFAULT_CHANNELS)

    # ------------------------------------------------------------ configuration

    def set_usergroup(self, handle: str, members: Iterable[str]) -> str:
        """Create or replace a user group by handle (no `@`); returns its id."""
        with self._cond:
            self.usergroups[handle.lstrip("@")] = list(members)
        return self.usergroup_id(handle)

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._cond:
            self.channels[channel_id] = name.lstrip("#")

    def add_user(self, user_id: str, name: str) -> None:
        with self._cond:
            self.users[user_id] = name

    def reject_token(self, token: str) -> None:
        """Calls made with this token fail with `invalid_auth`."""
        with self._cond:
            self._rejected_tokens.add(token)

    def fail_next(
        self,
        method: str,
        times: int = 1,
        status: int = 429,
        retry_after: int | None = 1,
        error: str | None = None,
        after_effect: bool = False,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (those whose arguments satisfy `where`)
        fail.

        status 429 answers `{"ok": false, "error": "ratelimited"}` with Retry-After;
        5xx answers a server error; 200 with `error` answers `{"ok": false, "error": ...}`;
        0 closes the connection without an answer. `after_effect` makes the call take
        effect first (the message is posted...), as when Slack acts, then fails to say so.
        """
        if error is None:
            error = {429: "ratelimited"}.get(status, "internal_error")
        with self._cond:
            queue = self._failures.setdefault(method, [])
            queue.extend(_Failure(status, error, retry_after if status == 429 else None,
                                  after_effect, where) for _ in range(times))

    # ------------------------------------------------------------ inspection

    def calls(self, method: str | None = None) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
    ) -> Call:
        """The first recorded call of `method` that satisfies `predicate`; waits for it."""
        return self.wait_calls(method, 1, predicate, timeout)[0]

    def wait_calls(
        self,
        method: str,
        count: int,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
    ) -> list[Call]:
        """At least `count` matching calls of `method`, in arrival order."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [c for c in self._calls
                         if c.method == method and (predicate is None or predicate(c))]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = ", ".join(c.method for c in self._calls) or "nothing"
                    raise AssertionError(
                        f"fake Slack got {len(found)} matching {method} call(s), wanted "
                        f"{count}, within {timeout}s; it received: {seen}")
                self._cond.wait(remaining)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel, oldest first, as they are now."""
        with self._cond:
            stored = self._messages.get(self._channel_id(channel), {})
            return [json_copy(m) for m in by_ts(stored.values()) if not _is_reply(m)]

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies in a thread, oldest first (the parent excluded)."""
        with self._cond:
            stored = self._messages.get(self._channel_id(channel), {})
            return [json_copy(m) for m in by_ts(stored.values())
                    if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def message(self, channel: str, ts: str) -> dict[str, Any]:
        with self._cond:
            found = self._messages.get(self._channel_id(channel), {}).get(ts)
            if found is None:
                raise KeyError(f"no message {ts} in {channel}")
            return json_copy(found)

    def ephemerals(self, user: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [json_copy(e) for e in self._ephemerals if user is None or e["user"] == user]

    def responses(self) -> list[dict[str, Any]]:
        """Bodies posted to response_url addresses, in order."""
        return [dict(c.args, _path=c.path) for c in self.calls("response")]

    def response_url(self, tag: str = "cmd") -> str:
        """A response_url for a slash command or action payload that lands here."""
        return f"{self.url}response/{TEAM_ID}/{next(self._counter)}/{tag}"

    def views(self) -> list[dict[str, Any]]:
        with self._cond:
            return [json_copy(v) for v in self._views.values()]

    def home(self, user: str) -> dict[str, Any] | None:
        with self._cond:
            found = self._home.get(user)
            return json_copy(found) if found else None

    def files(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(f) for f in self._files.values()]

    def all_messages(self) -> list[dict[str, Any]]:
        """Every stored message of every channel, thread replies included, oldest first."""
        with self._cond:
            stored = [m for channel in self._messages.values() for m in channel.values()]
            return [json_copy(m) for m in by_ts(stored)]

    def calls_after(self, seen: int, timeout: float) -> list[Call]:
        """The calls recorded after the first `seen`, waiting up to `timeout` for one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._calls) <= seen:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._cond.wait(remaining)
            return self._calls[seen:]

    # ------------------------------------------------------------ other members of the workspace

    def post_as(
        self,
        channel: str,
        text: str,
        *,
        user: str | None = None,
        bot_id: str | None = None,
        thread_ts: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Store a message someone else posted (a person, or an app with `bot_id`), as
        Slack would before telling the bot; returns it, `ts` and `channel` included."""
        with self._cond:
            cid = self._channel_id(channel)
            message: dict[str, Any] = {"type": "message", "channel": cid, "ts": self._next_ts(),
                                       "team": TEAM_ID, "text": text, **fields}
            if user is not None:
                message["user"] = user
            if bot_id is not None:
                message["bot_id"] = bot_id
            if thread_ts:
                message["thread_ts"] = thread_ts
            self._messages.setdefault(cid, {})[message["ts"]] = message
            return json_copy(message)

    def react_as(self, user: str, channel: str, ts: str, name: str) -> None:
        """Record `user`'s reaction on a stored message (the bot hears of it by event)."""
        with self._cond:
            message = self._messages.get(self._channel_id(channel), {}).get(ts)
            if message is None:
                raise KeyError(f"no message {ts} in {channel}")
            reactions = message.setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    if user not in reaction["users"]:
                        reaction["users"].append(user)
                        reaction["count"] += 1
                    return
            reactions.append({"name": name, "users": [user], "count": 1})

    # ------------------------------------------------------------ the server side

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    def _take_failure(self, method: str, args: dict[str, Any]) -> _Failure | None:
        with self._cond:
            queue = self._failures.get(method) or []
            for index, failure in enumerate(queue):
                if failure.where is None or failure.where(args):
                    return queue.pop(index)
            return None

    def _handle(self, verb: str, path: str, query: str, headers: dict[str, str],
                body: bytes) -> tuple[int, dict[str, str], bytes, dict[str, Any], str, dict]:
        route = path.removeprefix(urlsplit(self.url).path)
        if route.startswith("response/"):
            method = "response"
        elif route.startswith("upload/"):
            method = "upload"
        else:
            method = route.strip("/")
        args = _parse_args(query, headers.get("content-type", ""), body, raw=method == "upload")
        failure = self._take_failure(method, args)
        extra: dict[str, str] = {}
        if failure is None or failure.after_effect:
            try:
                status, payload = 200, self._answer(method, route, args, headers, body)
            except SlackError as exc:
                status, payload = exc.status, {"ok": False, "error": exc.error}
        if failure is not None:
            status, payload = failure.status, {"ok": False, "error": failure.error}
            if failure.retry_after is not None:
                extra["Retry-After"] = str(failure.retry_after)
        return status, extra, json.dumps(payload).encode(), payload, method, args

    def _answer(self, method: str, route: str, args: dict[str, Any], headers: dict[str, str],
                body: bytes) -> dict[str, Any]:
        if method == "response":
            return {"ok": True}
        if method == "upload":
            return self._upload(route.removeprefix("upload/"), body)
        token = _token(headers, args)
        if not token:
            raise SlackError("not_authed")
        with self._cond:
            rejected = token in self._rejected_tokens
        if rejected or not token.startswith(("xoxb-", "xoxp-", "xapp-")):
            raise SlackError("invalid_auth")
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                raise SlackError("not_allowed_token_type")
            if not self.socket_mode_url:
                raise SlackError("no_socket_mode_server")
            return {"ok": True, "url": self.socket_mode_url}
        if token.startswith("xapp-"):
            raise SlackError("not_allowed_token_type")
        handler = METHODS.get(method)
        if handler is None:
            raise SlackError("unknown_method")
        with self._cond:
            return handler(self, args)

def _handler_for(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeSlack/1.0"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, verb: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, data, payload, method, args = fake._handle(
                verb, parts.path, parts.query, headers, body)
            fake._record(Call(method=method, args=args, headers=headers, status=status,
                              path=parts.path, body=body, response=payload))
            if status == 0:  # a dropped connection: no answer at all
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the call log is the record; stderr stays quiet

    return Handler


def _parse_args(query: str, content_type: str, body: bytes, raw: bool) -> dict[str, Any]:
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    if raw:
        args["length"] = len(body)
        return args
    if body:
        if "json" in content_type:
            parsed = json.loads(body.decode("utf-8"))
            if isinstance(parsed, dict):
                args.update(parsed)
        else:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
            args.update({k: v[-1] for k, v in form.items()})
    for key in _JSON_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


def _token(headers: Mapping[str, str], args: Mapping[str, Any]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    token = args.get("token")
    return str(token) if token else None


def _is_reply(message: Mapping[str, Any]) -> bool:
    return bool(message.get("thread_ts")) and message["thread_ts"] != message["ts"]
