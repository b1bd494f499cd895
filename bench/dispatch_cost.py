"""Dispatch cost: the CPU one Slack request costs the thread that answers it, in process.

    python -m bench.dispatch_cost [--requests 2000] [--rounds 3]

The ack benchmark's mix of signed `/jit` requests is handed straight to two WSGI apps in
this process: the bare Bolt app that only acks, and jitbot's, built as `jitbot serve`
builds it (fake Slack, moto server, SQLite). Each request's cost is the CPU time of the
calling thread (`time.thread_time_ns`), so neither the HTTP server, nor the load
generator, nor the scheduling of a saturated burst is in it: it is the part of the ack
benchmark's ratio that is jitbot's own work, measured without that benchmark's noise.
Background work is held back while the requests are measured, as during a burst, and
the backlog is worked off between rounds. The apps alternate for `--rounds` rounds; per
kind of request, the lowest median of the rounds counts. No goal: it explains the ack
benchmark's figures.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

from bench.ack_latency import mix
from bench.harness import Figure, Signed, Stack, bare_web_app, table

NAME = "dispatch cost"
App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def environ(request: Signed) -> dict[str, Any]:
    """The WSGI environ waitress would hand the app for `request`."""
    body = request.body.encode()
    env: dict[str, Any] = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/slack/events", "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80",
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": request.headers["Content-Type"],
    }
    for name, value in request.headers.items():
        if name.lower() != "content-type":
            env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


def cpu_per_request(app: App, requests: Sequence[tuple[str, Signed]]) -> dict[str, list[int]]:
    """Nanoseconds of this thread's CPU per request, by kind."""
    spent: dict[str, list[int]] = defaultdict(list)
    statuses: set[str] = set()

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        statuses.add(status)

    for kind, request in requests:
        env = environ(request)
        started = time.thread_time_ns()
        for _ in app(env, start_response):
            pass
        spent[kind].append(time.thread_time_ns() - started)
    if statuses != {"200 OK"}:
        raise RuntimeError(f"requests were not all answered 200: {sorted(statuses)}")
    return spent


@contextmanager
def jitbot_app(stack: Stack) -> Iterator[tuple[App, Callable[[], Any]]]:
    """jitbot's WSGI app in this process, and a context that holds its background work
    back as a burst of acks does."""
    from bot.cli.serve import settle_heap
    from bot.core.catalog import load_catalog
    from bot.logs import configure_logging, stop_logging
    from bot.settings import load_settings
    from bot.slack.runtime import build_runtime
    from tests.support.slack import serve_env

    saved = dict(os.environ)
    os.environ.update(serve_env(stack.fake, stack.folder,
                                JITBOT_DATABASE_URL=f"sqlite:///{stack.folder}/dispatch.db"))
    configure_logging("INFO", stack.folder / "dispatch.log")
    settings = load_settings()
    runtime = build_runtime(settings, load_catalog(settings.runbooks_dir))
    runtime.start()
    settle_heap()  # as `jitbot serve` does once started
    acks = runtime.workers.acks
    assert acks is not None

    @contextmanager
    def burst() -> Iterator[None]:
        with ExitStack() as answering:
            for _ in range(acks.busy_at):
                answering.enter_context(acks.answering())
            yield
        runtime.deps.wait_idle(300)

    try:
        yield runtime.web(), burst
    finally:
        runtime.close()
        stop_logging()
        os.environ.clear()
        os.environ.update(saved)


def run(requests: int = 2000, rounds: int = 3) -> list[Figure]:
    with Stack("dispatch") as stack:
        measured = mix(requests, stack.fake.response_url("bench"))
        bare = bare_web_app(stack.fake.url)
        medians: dict[str, dict[str, list[float]]] = {"bare": defaultdict(list),
                                                      "jitbot": defaultdict(list)}
        with jitbot_app(stack) as (jitbot, burst):
            for app in (bare, jitbot):  # warm-up
                with burst():
                    cpu_per_request(app, measured[:200])
            for _ in range(rounds):
                for app, label in ((bare, "bare"), (jitbot, "jitbot")):
                    with burst():
                        spent = cpu_per_request(app, measured)
                    for kind, times in spent.items():
                        medians[label][kind].append(statistics.median(times) / 1000)
                    medians[label]["all"].append(
                        statistics.median([t for times in spent.values() for t in times]) / 1000)
    best = {label: {kind: min(values) for kind, values in by_kind.items()}
            for label, by_kind in medians.items()}
    kinds = [kind for kind in best["bare"] if kind != "all"] + ["all"]
    print(f"{NAME}: {requests} signed /jit requests handed to each WSGI app in process, "
          f"{rounds} rounds alternating; CPU of the answering thread, median per kind, "
          "best round")
    for kind in kinds:
        print(f"  {kind:10} bare {best['bare'][kind]:6.0f} us   jitbot "
              f"{best['jitbot'][kind]:6.0f} us   {best['jitbot'][kind] / best['bare'][kind]:.2f}x")
    overall_bare, overall_jit = best["bare"]["all"], best["jitbot"]["all"]
    return [
        Figure(NAME, "CPU per request, bare / jitbot (median, in process)",
               f"{overall_bare:.0f} / {overall_jit:.0f} us"),
        Figure(NAME, "jitbot's own CPU per request (help, request, bad input)",
               " / ".join(f"+{best['jitbot'][k] - best['bare'][k]:.0f}"
                          for k in ("help", "request", "bad input")) + " us"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(table(run(args.requests, args.rounds)))


if __name__ == "__main__":
    main()
