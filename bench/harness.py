"""What the benchmarks share: the real stack on 127.0.0.1, a load generator, the table.

    Stack            fake Slack (arrival times recorded) + moto server (seeded `orders`
                     table, the jit role) + a scratch folder; `serve()` starts `jitbot serve`
                     against both as a subprocess (tests/support/slack.py's ServeProcess)
    Service          another server subprocess, ready once GET /healthz answers 200
    send()           signed requests sent by a separate load-generator process (asyncio,
                     keep-alive connections), so the bench's own threads — the fake Slack
                     serving the bot — never share an interpreter lock with the clock
    Figure, table()  the rows `python -m bench` prints

Everything listens on 127.0.0.1 and every load is bounded in count and time. On a
machine with two or more CPUs the server under test (jitbot, or the bare app it is
compared with) gets the last CPU to itself and everything else (this process with the fake
Slack and moto, the load generator) shares the others, as in production, where Slack and
AWS run elsewhere.
Run as `python -m bench.harness bare|load ...` this module is also those subprocesses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml
from moto.server import ThreadedMotoServer

from bot.demo.fake_slack import BOT_USER_ID, OPS_CHANNEL, Call, FakeSlack
from bot.demo.seed import create_orders_table, seed_orders
from tests.slack_signing import (
    FORM,
    JSON,
    SIGNING_SECRET,
    event_envelope,
    http_request,
    reaction_added_event,
    sign,
    slash_command_body,
)
from tests.support.slack import ServeProcess, free_port, serve_env

REPO = Path(__file__).resolve().parents[1]
RUNBOOKS = REPO / "runbooks"
REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE_NAME = "jit-orders-read"
SEEDED_ORDERS = 300
SLACK_PATH = "/slack/events"

log = logging.getLogger("bench")


# ------------------------------------------------------------------ figures


@dataclass(frozen=True)
class Figure:
    """One row of the table: a measured value, its goal, and whether the goal was met."""

    benchmark: str
    measure: str
    value: str
    goal: str = ""
    met: bool | None = None  # None: a figure without a goal of its own

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: ""}[self.met]


def table(figures: Sequence[Figure]) -> str:
    header = ("benchmark", "measure", "value", "goal", "verdict")
    rows = [header] + [(f.benchmark, f.measure, f.value, f.goal, f.verdict) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows[1:])])


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# ------------------------------------------------------------------ the fake Slack


class TimedFakeSlack(FakeSlack):
    """The fake Slack Web API, also noting when each call arrived (wall clock, so the
    times compare with the load generator's, another process on the same machine).

    `log` keeps every call in arrival order; `wait_new` looks only at calls after a
    given position, so a benchmark waiting for one reply does not rescan thousands of
    earlier calls (that would take the interpreter lock from the fake Slack serving the
    bot, and slow down what is being measured).
    """

    def __init__(self) -> None:
        super().__init__()
        self._arrivals: dict[int, float] = {}
        self._logged = threading.Condition()
        self.log: list[Call] = []

    def _record(self, call: Call) -> None:
        self._arrivals[id(call)] = time.time()
        super()._record(call)
        with self._logged:
            self.log.append(call)
            self._logged.notify_all()

    def arrived(self, call: Call) -> float:
        return self._arrivals[id(call)]

    def wait_new(self, since: int, predicate: Callable[[Call], bool],
                 timeout: float) -> Call | None:
        """The first call at position `since` or later that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self._logged:
            while True:
                for call in self.log[since:]:
                    if predicate(call):
                        return call
                since = len(self.log)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._logged.wait(remaining)

    def wait_count(self, since: int, predicate: Callable[[Call], bool], count: int,
                   timeout: float) -> list[Call]:
        """Calls at position `since` or later that satisfy `predicate`, once there are
        `count` of them or `timeout` has passed (then possibly fewer)."""
        deadline = time.monotonic() + timeout
        found: list[Call] = []
        with self._logged:
            while True:
                found.extend(call for call in self.log[since:] if predicate(call))
                since = len(self.log)
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    return found
                self._logged.wait(remaining)


def is_card(call: Call) -> bool:
    """A request card the bot posted."""
    return (call.method == "chat.postMessage" and call.ok
            and "JIT request" in str(call.args.get("text", "")))


def card_calls(fake: FakeSlack) -> list[Call]:
    """The request cards the bot posted, oldest first."""
    return [c for c in fake.calls("chat.postMessage") if is_card(c)]


def in_thread(ts: str, needle: str) -> Callable[[Call], bool]:
    """Matches a successful post in the thread of `ts` whose arguments contain `needle`
    (a message, or a file shared with a comment)."""

    def matches(call: Call) -> bool:
        return (call.method in ("chat.postMessage", "files.completeUploadExternal")
                and call.ok and call.args.get("thread_ts") == ts
                and needle in json.dumps(call.args))

    return matches


def card_request_id(call: Call) -> str:
    """The request id a card's buttons carry."""
    for block in call.args.get("blocks") or []:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    raise ValueError("the card has no buttons")


def wait_until(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def quiet(fake: FakeSlack, seconds: float, timeout: float) -> None:
    """Wait until the fake Slack has received nothing for `seconds` (the bot is done)."""
    deadline = time.monotonic() + timeout
    seen = len(fake.calls())
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = len(fake.calls())
        if now != seen:
            seen, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return


# ------------------------------------------------------------------ AWS


def aws_environment(url: str, folder: Path) -> dict[str, str]:
    """The standard AWS_* variables pointing every client at the moto server."""
    nowhere = str(folder / "no-aws-config")
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": nowhere, "AWS_SHARED_CREDENTIALS_FILE": nowhere}


def create_jit_role(iam: Any) -> str:
    """The role the shipped runbooks name: assumable by the account, reads `orders`."""
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]}]}
    read = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"],
        "Resource": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders",
                     f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders/index/*"]}]}
    role = iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust),
                           MaxSessionDuration=43_200)["Role"]
    iam.put_role_policy(RoleName=ROLE_NAME, PolicyName="orders-read",
                        PolicyDocument=json.dumps(read))
    return str(role["Arn"])


# ------------------------------------------------------------------ processes


class Service:
    """A server subprocess of this repository; `start()` returns once /healthz is 200."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], port: int,
                 log_path: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> Service:
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(self.args, cwd=REPO, env=self.env, stdout=output,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if not wait_until(lambda: self._healthy(), timeout, 0.1):
            self.stop()
            raise RuntimeError(f"{self.args} did not become healthy:\n"
                               f"{self.log_path.read_text(errors='replace')[-3000:]}")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.args} exited with {self.process.returncode}:\n"
                               f"{self.log_path.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            return http_request("GET", self.url + "/healthz", timeout=2).status == 200
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def rss_mb(pid: int) -> float:
    """Resident set size of a process, in MB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def cpus() -> tuple[set[int], set[int]]:
    """(the CPU the server under test gets to itself, the CPUs for everything else).

    On a small machine the fake Slack and the load generator would otherwise take CPU
    from the bot (and only from the bot: the bare app makes no Slack calls), which is not
    what production looks like, where Slack runs elsewhere. With one CPU, no split."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return set(available), set(available)
    return {available[-1]}, set(available[:-1])


def pin(pid: int, allowed: set[int]) -> None:
    """Keep every thread of a process on `allowed` CPUs (threads it starts later inherit
    the affinity of the thread that starts them)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.sched_setaffinity(int(task.name), allowed)


class Stack:
    """The fake Slack, a seeded moto server and a scratch folder; `with Stack(): ...`.

    The AWS_* variables of this process point at moto while the stack is open, so boto3
    here and every `jitbot serve` started by `serve()` use it.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.processes: list[ServeProcess | Service] = []
        self._saved_env: dict[str, str | None] = {}

    def __enter__(self) -> Stack:
        self.server_cpus, self.driver_cpus = cpus()
        pin(os.getpid(), self.driver_cpus)
        self._scratch = tempfile.TemporaryDirectory(prefix=f"jitbot-bench-{self.name}-")
        self.folder = Path(self._scratch.name)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.fake = TimedFakeSlack().start()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.aws_url = f"http://{host}:{port}"
        # moto keeps its state per interpreter, not per server: start from nothing
        http_request("POST", f"{self.aws_url}/moto-api/reset")
        environment = aws_environment(self.aws_url, self.folder)
        for name in [*environment, "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"]:
            self._saved_env[name] = os.environ.get(name)
            os.environ.pop(name, None)
        os.environ.update(environment)
        dynamodb = self.client("dynamodb")
        create_orders_table(dynamodb)
        seed_orders(dynamodb, SEEDED_ORDERS)
        self.role_arn = create_jit_role(self.client("iam"))
        return self

    def __exit__(self, *exc: object) -> None:
        for process in reversed(self.processes):
            with contextlib.suppress(Exception):
                process.stop()
        self.moto.stop()
        self.fake.stop()
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._scratch.cleanup()

    def client(self, service: str, **kwargs: Any) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.aws_url, **kwargs)

    def runbooks(self, **durations: str) -> Path:
        """A copy of the shipped runbooks; `durations` sets sessions, e.g.
        `runbooks(**{"orders-lookup": "1m"})`."""
        folder = self.folder / f"runbooks-{len(list(self.folder.glob('runbooks-*')))}"
        folder.mkdir()
        for file in RUNBOOKS.glob("*.yaml"):
            shutil.copy(file, folder / file.name)
        for name, duration in durations.items():
            path = folder / f"{name}.yaml"
            data = yaml.safe_load(path.read_text())
            data["session"]["duration"] = duration
            path.write_text(yaml.safe_dump(data, sort_keys=False))
        return folder

    def serve(self, label: str, *, threads: int = 8, runbooks: Path | None = None,
              database: str | None = None, **env: str) -> ServeProcess:
        """Start `jitbot serve` (HTTP, SQLite in the scratch folder unless `database`)."""
        extra = dict(env)
        if runbooks is not None:
            extra["JITBOT_RUNBOOKS_DIR"] = str(runbooks)
        extra["JITBOT_DATABASE_URL"] = database or f"sqlite:///{self.folder / label}.db"
        process = ServeProcess(serve_env(self.fake, self.folder, **extra),
                               self.folder / f"{label}.log",
                               args=("--host", "127.0.0.1", "--threads", str(threads)))
        self.processes.append(process)
        process.start(60)
        assert process.process is not None
        pin(process.process.pid, self.server_cpus)
        return process

    def restart(self, process: ServeProcess) -> ServeProcess:
        """Start `jitbot serve` again with the environment (database, port) it had."""
        again = ServeProcess(process.env, process.log_path, args=process.args)
        self.processes.append(again)
        again.start(60)
        assert again.process is not None
        pin(again.process.pid, self.server_cpus)
        return again

    def bare(self, label: str, *, threads: int = 8) -> Service:
        """The bare Bolt app (acks `/jit`, nothing else) on jitbot's server stack."""
        port = free_port()
        service = Service(
            [sys.executable, "-m", "bench.harness", "bare", "--port", str(port),
             "--threads", str(threads), "--slack-url", self.fake.url],
            os.environ, port, self.folder / f"{label}.log")
        self.processes.append(service)
        service.start()
        pin(service.pid, self.server_cpus)
        return service

    def audit(self, process: ServeProcess) -> list[dict[str, Any]]:
        """The process's audit trail, through `jitbot audit export`."""
        from tests.support.slack import jitbot_command

        result = subprocess.run([*jitbot_command(), "audit", "export", "--format", "jsonl"],
                                env=process.env, cwd=REPO, capture_output=True, text=True,
                                timeout=120, check=True)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------------ Slack-shaped requests


@dataclass(frozen=True)
class Signed:
    """One request as Slack would send it: body and headers, signed."""

    body: str
    headers: dict[str, str]
    at: float = 0.0  # seconds after the load starts (paced loads only)


def command(text: str, user: str, user_name: str, response_url: str,
            channel: str = OPS_CHANNEL, secret: str = SIGNING_SECRET,
            trigger_id: str | None = None) -> Signed:
    body = slash_command_body(text, user_id=user, user_name=user_name,
                              response_url=response_url, channel_id=channel,
                              trigger_id=trigger_id)
    return Signed(body, {"Content-Type": FORM, **sign(secret, body)})


def event(payload: dict[str, Any], event_id: str, *, retry: int | None = None,
          secret: str = SIGNING_SECRET) -> Signed:
    body = json.dumps(event_envelope(payload, event_id=event_id))
    headers = {"Content-Type": JSON, **sign(secret, body)}
    if retry:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return Signed(body, headers)


def reaction(name: str, user: str, channel: str, ts: str, event_id: str) -> Signed:
    return event(reaction_added_event(name, user=user, channel=channel, ts=ts,
                                      item_user=BOT_USER_ID), event_id)


@dataclass(frozen=True)
class Sent:
    """What the load generator saw for one request."""

    sent_at: float  # wall clock when the first byte went out
    seconds: float  # until the whole response had arrived
    status: int
    body: str  # the first 300 characters


def send(url: str, requests: Sequence[Signed], *, concurrency: int,
         paced: bool = False, timeout: float = 600.0) -> list[Sent]:
    """Send the requests from a separate process, `concurrency` connections at once;
    `paced` holds each request until its `at` offset. Results are in request order."""
    with tempfile.TemporaryDirectory(prefix="jitbot-load-") as scratch:
        given, taken = Path(scratch) / "requests.json", Path(scratch) / "results.json"
        given.write_text(json.dumps([asdict(r) for r in requests]))
        drivers = cpus()[1]
        subprocess.run(
            [sys.executable, "-m", "bench.harness", "load", "--url", url, "--input", str(given),
             "--output", str(taken), "--concurrency", str(concurrency),
             *(["--paced"] if paced else [])],
            cwd=REPO, check=True, timeout=timeout,
            preexec_fn=lambda: os.sched_setaffinity(0, drivers))
        return [Sent(**row) for row in json.loads(taken.read_text())]


# ------------------------------------------------------------------ the load generator


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                break
        body = b"".join(chunk[:-2] for chunk in chunks)
    else:
        body = await reader.read()
    return status, headers, body


async def _load(url: str, requests: list[dict[str, Any]], concurrency: int,
                paced: bool) -> list[dict[str, Any]]:
    host, _, rest = url.removeprefix("http://").partition(":")
    port = int(rest.split("/")[0])
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(requests)):
        queue.put_nowait(index)
    results: list[dict[str, Any] | None] = [None] * len(requests)
    origin = time.monotonic()

    def raw(request: dict[str, Any]) -> bytes:
        body = request["body"].encode()
        head = [f"POST {SLACK_PATH} HTTP/1.1", f"Host: {host}:{port}",
                f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in request["headers"].items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    async def worker() -> None:
        reader: asyncio.StreamReader | None = None
        writer: asyncio.StreamWriter | None = None
        while True:
            try:
                index = queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            request = requests[index]
            if paced:
                await asyncio.sleep(max(0.0, origin + request["at"] - time.monotonic()))
            data = raw(request)
            sent_at, started = time.time(), time.perf_counter()
            for attempt in range(2):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    assert reader is not None
                    writer.write(data)
                    await writer.drain()
                    status, headers, body = await asyncio.wait_for(_read_response(reader), 60)
                    break
                except (ConnectionError, asyncio.IncompleteReadError):
                    # the server closed an idle keep-alive connection: open a new one once
                    writer = None
                    if attempt:
                        raise
            seconds = time.perf_counter() - started
            if headers.get("connection", "").lower() == "close":
                assert writer is not None
                writer.close()
                writer = None
            results[index] = {"sent_at": sent_at, "seconds": seconds, "status": status,
                              "body": body[:300].decode("utf-8", "replace")}
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [r for r in results if r is not None]


# ------------------------------------------------------------------ the bare Bolt app


def bare_web_app(slack_url: str) -> Any:
    """A Bolt app whose `/jit` only acks, in jitbot's WSGI app (bot/web.py), built with the
    Bolt options jitbot's build_app uses (signature checks on, process_before_response
    on: the listener runs on the HTTP thread)."""
    from slack_bolt import Ack, App
    from slack_sdk import WebClient

    from bot.metrics import Metrics
    from bot.web import JitbotWeb

    app = App(name="bare", client=WebClient(token="xoxb-bench", base_url=slack_url),
              signing_secret=SIGNING_SECRET, token_verification_enabled=False,
              process_before_response=True)

    @app.command("/jit")
    def jit(ack: Ack) -> None:
        ack()

    return JitbotWeb(app, {}, Metrics())


def run_bare_app(port: int, threads: int, slack_url: str) -> None:
    """The bare app on jitbot's HTTP stack (waitress), for the ack benchmark."""
    from bot.web import make_server

    server = make_server(bare_web_app(slack_url), "127.0.0.1", port, threads=threads)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.run()
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="bench subprocesses")
    commands = parser.add_subparsers(dest="role", required=True)
    bare = commands.add_parser("bare", help="the bare Bolt app")
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--threads", type=int, default=8)
    bare.add_argument("--slack-url", required=True)
    load = commands.add_parser("load", help="the load generator")
    load.add_argument("--url", required=True)
    load.add_argument("--input", type=Path, required=True)
    load.add_argument("--output", type=Path, required=True)
    load.add_argument("--concurrency", type=int, default=50)
    load.add_argument("--paced", action="store_true")
    args = parser.parse_args()
    if args.role == "bare":
        run_bare_app(args.port, args.threads, args.slack_url)
        return
    requests = json.loads(args.input.read_text())
    results = asyncio.run(_load(args.url, requests, args.concurrency, args.paced))
    args.output.write_text(json.dumps(results))


if __name__ == "__main__":
    main()
