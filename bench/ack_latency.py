"""Ack latency: how fast `jitbot serve` answers Slack, next to a bare Bolt app.

    python -m bench.ack_latency [--requests 2000] [--concurrency 50] [--threads 8] [--rounds 3]

The same signed `/jit` requests go, from a separate load-generator process over
keep-alive connections, to a bare Bolt app that only acks (bot/web.py on waitress, same
thread count) and to `jitbot serve` (HTTP, fake Slack, moto server, SQLite). The mix is
what an incident channel sends: valid requests that create cards, help, status and bad
input. Both get a warm-up of the same mix first. Slack gives up on an ack after 3 seconds.
jitbot acks every command empty and answers help, status and bad input through the
command's response_url right after: those answers are counted (each exactly once) and
timed from the command's sending to their arrival at the fake Slack.

The p99 of one 2,000-request burst swings by a third from one burst to the next on a
shared machine, whichever server is measured, so the bursts alternate, bare then jitbot,
for `--rounds` rounds (each jitbot burst only once jitbot has posted every card of the one
before: its backlog shares the server's CPU with the next bare burst otherwise), and each
server's figures are those of its median round by p99; every round's ratio is printed.
Goal: jitbot's p99 at most 1.2x the bare app's, and no ack at or over 3 s.
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
    TimedFakeSlack,
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


def mix(count: int, response_url: str, seed: int = 8,
        first_id: int = 10_000) -> list[tuple[str, Signed]]:
    """`count` signed commands: (kind, request). About 45% valid requests that create a
    card, 25% help, 5% status, 25% bad input (one in seven of those from someone who may
    not request the runbook, found out on the worker, and one in seven leaving a
    parameter out, which opens a form). Command `i` has the response_url
    `<response_url>/<i>` and the trigger id `<i>.bench`, so its answer can be told from
    the others'. Valid request `i` asks for order or customer `first_id + i`: jitbot
    refuses the same request from the same person while it is pending, so every load
    that should make cards needs ids of its own."""
    rng = random.Random(seed)
    out: list[tuple[str, Signed]] = []
    for i in range(count):
        user, name = rng.choice(PEOPLE)
        roll = rng.random()
        if roll < 0.40:
            kind, text = "request", (f"orders-lookup order_id={first_id + i} "
                                     f'reason="INC-{4000 + i} customer says the order is stuck"')
        elif roll < 0.45:
            kind, text = "request", (f"customer-orders customer_id={first_id + i} "
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
            if "no id" in text:
                kind = "form"
        out.append((kind, command(text, user, name, f"{response_url}/{i}",
                                  trigger_id=f"{i}.bench")))
    return out


def summary(results: Sequence[Sent]) -> dict[str, float]:
    seconds = [r.seconds for r in results]
    return {"p50": percentile(seconds, 50), "p99": percentile(seconds, 99),
            "max": max(seconds), "slow": sum(1 for s in seconds if s >= SLACK_TIMEOUT)}


def run(requests: int = 2000, concurrency: int = 50, threads: int = 8,
        rounds: int = 3) -> list[Figure]:
    bare_rounds: list[list[Sent]] = []
    jit_rounds: list[list[Sent]] = []
    answer_delays: list[list[tuple[str, float | None]]] = []  # per round: (kind, delay)
    cards = 0
    with Stack("ack") as stack:
        response_url = stack.fake.response_url("bench")
        warmup = [r for _, r in mix(WARMUP, response_url, seed=1, first_id=1_000)]
        # the same mix each round, with requests for other orders and customers
        loads = [mix(requests, response_url, first_id=10_000 + n * requests)
                 for n in range(rounds)]
        measured = loads[0]
        bare = stack.bare("bare", threads=threads)
        jitbot = stack.serve("jitbot", threads=threads)
        send(bare.url, warmup, concurrency=concurrency)
        send(jitbot.url, warmup, concurrency=concurrency)
        quiet(stack.fake, 1.0, 60)
        for mixed in loads:
            load = [r for _, r in mixed]
            bare_rounds.append(send(bare.url, load, concurrency=concurrency))
            cards_before, since = len(card_calls(stack.fake)), len(stack.fake.log)
            jit_rounds.append(send(jitbot.url, load, concurrency=concurrency))
            quiet(stack.fake, 2.0, 120)
            cards += len(card_calls(stack.fake)) - cards_before
            answer_delays.append(answered_after(stack.fake, since, mixed, jit_rounds[-1]))
        bare.stop()

    jit_all = [r for burst in jit_rounds for r in burst]
    statuses = Counter(r.status for r in jit_all) | Counter(
        r.status for burst in bare_rounds for r in burst)
    busy = sum(1 for r in jit_all if "busy" in r.body)
    accepted = rounds * sum(1 for (kind, _), r in zip(measured, jit_rounds[0], strict=True)
                            if kind == "request" and r.status == 200 and not r.body)
    raw_each = [summary(burst) for burst in bare_rounds]
    jit_each = [summary(burst) for burst in jit_rounds]
    raw, jit = _median_round(raw_each), _median_round(jit_each)
    ratio = jit["p99"] / raw["p99"]
    print(f"{NAME}: {rounds} rounds of {requests} signed /jit requests at concurrency "
          f"{concurrency}, bare and jitbot alternating, {threads} server threads, after "
          f"{WARMUP} warm-up requests")
    print(f"  mix: {dict(Counter(kind for kind, _ in measured))}")
    print(f"  HTTP statuses: {dict(statuses)}")
    for n, (b, j) in enumerate(zip(raw_each, jit_each, strict=True), 1):
        print(f"  round {n}: p99 bare {ms(b['p99'])}, jitbot {ms(j['p99'])}: "
              f"{j['p99'] / b['p99']:.2f}x")
    for label, figures in (("bare Bolt app", raw), ("jitbot serve", jit)):
        print(f"  {label:14} p50 {ms(figures['p50']):>9}  p99 {ms(figures['p99']):>9}  "
              f"max {ms(figures['max']):>9}  (median round)")
    print(f"  p99 ratio jitbot/bare (median rounds): {ratio:.2f}x; acks saying 'busy': "
          f"{busy}; cards posted for {cards} of {accepted} accepted requests")
    delays = [d for burst in answer_delays for _, d in burst]
    got = [d for d in delays if d is not None]
    answers = (f"{len(got)} / {len(delays)}; p50 {ms(percentile(got, 50))}, p99 "
               f"{ms(percentile(got, 99))}" if got else f"0 / {len(delays)}")
    print(f"  help, status, refusals and forms: answered / commands; time from sending: "
          f"{answers}")
    for kind in sorted({kind for burst in answer_delays for kind, _ in burst}):
        of_kind = [d for burst in answer_delays for k, d in burst if k == kind]
        timed = [d for d in of_kind if d is not None]
        if timed:
            print(f"    {kind:10} {len(timed)} / {len(of_kind)}; p50 "
                  f"{ms(percentile(timed, 50))}, p99 {ms(percentile(timed, 99))}")
    each = ", ".join(f"{j['p99'] / b['p99']:.2f}x"
                     for b, j in zip(raw_each, jit_each, strict=True))
    slow_jit = sum(int(f["slow"]) for f in jit_each)
    slow_raw = sum(int(f["slow"]) for f in raw_each)
    return [
        Figure(NAME, "bare Bolt app p50 / p99 / max",
               f"{ms(raw['p50'])} / {ms(raw['p99'])} / {ms(raw['max'])}"),
        Figure(NAME, "jitbot p50 / p99 / max",
               f"{ms(jit['p50'])} / {ms(jit['p99'])} / {ms(jit['max'])}"),
        Figure(NAME, f"p99 jitbot / bare (each round: {each})",
               f"{ratio:.2f}x", f"<= {GOAL_RATIO}x", ratio <= GOAL_RATIO),
        Figure(NAME, "acks at or over 3 s (jitbot, bare)",
               f"{slow_jit}, {slow_raw}", "0", slow_jit + slow_raw == 0),
        Figure(NAME, "cards posted / requests accepted (busy acks)",
               f"{cards} / {accepted} ({busy})", "all", cards == accepted),
        Figure(NAME, "help, status, refusals, forms answered; p50, p99 after sending", answers,
               "all", len(got) == len(delays)),
    ]


def answered_after(fake: TimedFakeSlack, since: int, measured: Sequence[tuple[str, Signed]],
                   burst: Sequence[Sent]) -> list[tuple[str, float | None]]:
    """For each command of the burst but valid requests (which get a card): its kind and
    the seconds from sending it to its answer's arrival at the fake Slack (a post to its
    response_url, or the form opened with its trigger id), or None when no answer came,
    or more than one."""
    arrivals: dict[str, list[float]] = {}
    for call in fake.log[since:]:
        if call.method == "response":
            index = call.path.rsplit("/", 1)[-1]
        elif call.method == "views.open":
            index = str(call.args.get("trigger_id", "")).removesuffix(".bench")
        else:
            continue
        arrivals.setdefault(index, []).append(fake.arrived(call))
    delays: list[tuple[str, float | None]] = []
    for index, ((kind, _), sent) in enumerate(zip(measured, burst, strict=True)):
        if kind != "request":
            seen = arrivals.get(str(index), [])
            delays.append((kind, seen[0] - sent.sent_at if len(seen) == 1 else None))
    return delays


def _median_round(rounds: Sequence[dict[str, float]]) -> dict[str, float]:
    """The round whose p99 is the median (the lower middle one of an even number)."""
    ordered = sorted(rounds, key=lambda figures: figures["p99"])
    return ordered[(len(ordered) - 1) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(table(run(args.requests, args.concurrency, args.threads, args.rounds)))


if __name__ == "__main__":
    main()
