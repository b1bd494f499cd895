"""`python -m bench` (`make bench`): every benchmark, one after the other, then one table.

Each benchmark prints its own details as it goes; the table at the end has one row per
figure with its goal and verdict. The query-path and redaction benchmarks run as their
own processes (their printed figures are read back); the others return their figures.
A benchmark that fails shows as one MISSED row with the error, and the rest still run.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable

from bench import (
    ack_latency,
    alert_storm,
    approval_to_results,
    dispatch_cost,
    memory,
    session_end,
)
from bench.harness import REPO, Figure, table

QUERY_PATH_GOAL_MS = 30.0
REDACTION_GOAL = 0.5


def query_path() -> list[Figure]:
    name = "query path"
    out = _module("bench.query_path")
    jit = _number(r"jitbot \(assume.*?median\s+([\d.]+) ms", out)
    raw = _number(r"raw boto3 \(assume.*?median\s+([\d.]+) ms", out)
    difference = jit - raw
    return [
        Figure(name, "jitbot assume + guarded query + redact, median", f"{jit:.1f} ms"),
        Figure(name, "raw boto3 assume_role + get_item, median", f"{raw:.1f} ms"),
        Figure(name, "difference of medians", f"{difference:+.1f} ms",
               f"<= {QUERY_PATH_GOAL_MS:.0f} ms", difference <= QUERY_PATH_GOAL_MS),
    ]


def redaction() -> list[Figure]:
    name = "redaction"
    out = _module("bench.redaction")
    built = "compiled" if "modules: compiled" in out else "interpreted"
    figures = []
    for label in ("free text", "free text, distinct", "ruled only"):
        section = out[out.index(f"[{label}]"):]
        ratio = _number(r"ratio redact/json\.dumps: ([\d.]+)x", section)
        speed = _number(r"Redactor\.redact\s+([\d.]+) MB/s", section)
        goal = f">= {REDACTION_GOAL}x" if label == "free text" else ""
        met = ratio >= REDACTION_GOAL if label == "free text" else None
        figures.append(Figure(name, f"{label} ({built}): throughput vs json.dumps",
                              f"{ratio:.2f}x ({speed:.0f} MB/s)", goal, met))
    return figures


def _module(module: str) -> str:
    result = subprocess.run([sys.executable, "-m", module], cwd=REPO, capture_output=True,
                            text=True, timeout=600, check=True)
    print(result.stdout, end="")
    return result.stdout


def _number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise ValueError(f"no figure matching {pattern!r} in the output")
    return float(found.group(1))


BENCHMARKS: dict[str, Callable[[], list[Figure]]] = {
    "ack_latency": ack_latency.run,
    "dispatch_cost": dispatch_cost.run,
    "alert_storm": alert_storm.run,
    "approval_to_results": approval_to_results.run,
    "session_end": session_end.run,
    "memory": memory.run,
    "query_path": query_path,
    "redaction": redaction,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"run only these ({', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"no benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    figures: list[Figure] = []
    began = time.monotonic()
    for name, run in BENCHMARKS.items():
        if args.names and name not in args.names:
            continue
        print(f"\n=== {name}", flush=True)
        started = time.monotonic()
        try:
            figures += run()
        except Exception as exc:
            traceback.print_exc()
            figures.append(Figure(name.replace("_", " "), "failed to run",
                                  f"{type(exc).__name__}: {str(exc)[:60]}", "runs", False))
        print(f"({time.monotonic() - started:.0f} s)", flush=True)
    print(f"\n=== all figures ({time.monotonic() - began:.0f} s)")
    print(table(figures))
    missed = [f for f in figures if f.met is False]
    print(f"{len(figures)} figures, {sum(1 for f in figures if f.met)} goals met, "
          f"{len(missed)} missed")


if __name__ == "__main__":
    main()
