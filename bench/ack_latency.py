"""Ack latency: how fast `jitbot serve` answers Slack, next to a bare Bolt app.

    python -m bench.ack_latency [--requests 2000] [--concurrency 50] [--threads 8]

The same signed `/jit` requests go, from a separate load-generator process over
keep-alive connections, first to a bare Bolt app that only acks (bot/web.py on waitress,
same thread count), then to `jitbot serve` (HTTP, fake Slack, moto server, SQLite). The
mix is what an incident channel sends: valid requests that create cards, help, status
and bad input. Both get a warm-up of the same mix first. Slack gives up on an ack after
3 seconds. Goal: jitbot's p99 at most 1.2x the bare app's, and no ack at or over 3 s.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Sequence

from bench.harness import (
    Figure,
    Sent,
    Signed,
    Stack,
    card_calls,
    command,
    ms,
    percentile,
    quiet,
    send,
    table,
)
from bot.demo.fake_slack import ALICE, BOB, CAROL, DAVE, ERIN

NAME = "ack latency"
GOAL_RATIO = 1.2
SLACK_TIMEOUT = 3.0
WARMUP = 100
PEOPLE = [(ALICE, "alice"), (BOB, "bob"), (CAROL, "carol"), (ERIN, "erin")]


def mix(count: int, response_url: str, seed: int = 8) -> list[tuple[str, Signed]]:
    """`count` signed commands: (kind, request). About 45% valid requests that create a
    card, 25% help, 5% status, 25% bad input (one in seven of those from someone who may
    not request the runbook, found out on the worker, not in the listener)."""
    rng = random.Random(seed)
    out: list[tuple[str, Signed]] = []
    for i in range(count):
        user, name = rng.choice(PEOPLE)
        roll = rng.random()
        if roll < 0.40:
            kind, text = "request", (f"orders-lookup order_id={rng.randint(1001, 2290)} "
                                     f'reason="INC-{4000 + i} customer says the order is stuck"')
        elif roll < 0.45:
            kind, text = "request", (f"customer-orders customer_id={rng.randint(1, 150)} "
                                     f'month=2026-{rng.randint(9, 12):02d} reason="refund check"')
        elif roll < 0.70:
            kind, text = "help", rng.choice(["", "help", "help orders-lookup",
                                             "help customer-orders"])
        elif roll < 0.75:
            kind, text = "status", "status"
        else:
            kind = "bad input"
            text = rng.choice([
                "orders-lokup order_id=1001 reason=typo",
                'orders-lookup order_id=12ab reason="bad id"',
                "orders-lookup order_id=1001",
                'orders-lookup reason="no id"',
                'orders-lookup order_id=1001 colour=red reason="unknown parameter"',
                'orders-lookup order_id="1001 reason=unclosed',
                'orders-lookup order_id=1001 reason="not an on-call engineer"',
            ])
            if "not an on-call" in text:
                user, name = DAVE, "dave"
        out.append((kind, command(text, user, name, response_url)))
    return out


def summary(results: Sequence[Sent]) -> dict[str, float]:
    seconds = [r.seconds for r in results]
    return {"p50": percentile(seconds, 50), "p99": percentile(seconds, 99),
            "max": max(seconds), "slow": sum(1 for s in seconds if s >= SLACK_TIMEOUT)}


def run(requests: int = 2000, concurrency: int = 50, threads: int = 8) -> list[Figure]:
    with Stack("ack") as stack:
        response_url = stack.fake.response_url("bench")
        warmup = [r for _, r in mix(WARMUP, response_url, seed=1)]
        measured = mix(requests, response_url)
        load = [r for _, r in measured]

        bare = stack.bare("bare", threads=threads)
        send(bare.url, warmup, concurrency=concurrency)
        bare_results = send(bare.url, load, concurrency=concurrency)
        bare.stop()

        jitbot = stack.serve("jitbot", threads=threads)
        send(jitbot.url, warmup, concurrency=concurrency)
        quiet(stack.fake, 1.0, 60)
        cards_before = len(card_calls(stack.fake))
        jit_results = send(jitbot.url, load, concurrency=concurrency)
        quiet(stack.fake, 2.0, 120)
        cards = len(card_calls(stack.fake)) - cards_before

    statuses = Counter(r.status for r in jit_results) | Counter(r.status for r in bare_results)
    busy = sum(1 for r in jit_results if "busy" in r.body)
    accepted = sum(1 for (kind, _), r in zip(measured, jit_results, strict=True)
                   if kind == "request" and r.status == 200 and not r.body)
    jit, raw = summary(jit_results), summary(bare_results)
    ratio = jit["p99"] / raw["p99"]
    print(f"{NAME}: {requests} signed /jit requests at concurrency {concurrency}, "
          f"{threads} server threads, after {WARMUP} warm-up requests")
    print(f"  mix: {dict(Counter(kind for kind, _ in measured))}")
    print(f"  HTTP statuses: {dict(statuses)}")
    for label, figures in (("bare Bolt app", raw), ("jitbot serve", jit)):
        print(f"  {label:14} p50 {ms(figures['p50']):>9}  p99 {ms(figures['p99']):>9}  "
              f"max {ms(figures['max']):>9}  >= 3 s: {int(figures['slow'])}")
    print(f"  p99 ratio jitbot/bare: {ratio:.2f}x; acks saying 'busy': {busy}; "
          f"cards posted for {cards} of {accepted} accepted requests")
    slow = int(jit["slow"] + raw["slow"])
    return [
        Figure(NAME, "bare Bolt app p50 / p99 / max",
               f"{ms(raw['p50'])} / {ms(raw['p99'])} / {ms(raw['max'])}"),
        Figure(NAME, "jitbot p50 / p99 / max",
               f"{ms(jit['p50'])} / {ms(jit['p99'])} / {ms(jit['max'])}"),
        Figure(NAME, "p99 jitbot / bare", f"{ratio:.2f}x", f"<= {GOAL_RATIO}x",
               ratio <= GOAL_RATIO),
        Figure(NAME, "acks at or over 3 s (jitbot, bare)",
               f"{int(jit['slow'])}, {int(raw['slow'])}", "0", slow == 0),
        Figure(NAME, "cards posted / requests accepted (busy acks)",
               f"{cards} / {accepted} ({busy})", "all", cards == accepted),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    print(table(run(args.requests, args.concurrency, args.threads)))


if __name__ == "__main__":
    main()
