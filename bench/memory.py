"""Memory: resident set size of `jitbot serve`, idle and after 1000 requests.

    python -m bench.memory [--requests 1000]

`jitbot serve` (HTTP, fake Slack, moto server, SQLite, the shipped runbooks, default
thread count) is started and left idle for a few seconds; its RSS is read from /proc.
Then it gets the ack benchmark's mix of signed `/jit` requests (cards, help, status, bad
input), paced at RATE a second so the worker pool keeps up and every request does its
work, plus approvals of APPROVALS of the cards (by reaction, APPROVAL_RATE a second),
so sessions run real queries; once the fake Slack has heard nothing for two seconds the
RSS is read again.
Goal: idle at most 120 MB.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.ack_latency import mix
from bench.harness import (
    Figure,
    Signed,
    Stack,
    card_calls,
    card_request_id,
    quiet,
    reaction,
    rss_mb,
    send,
    table,
)
from bot.demo.fake_slack import BOB, CAROL, OPS_CHANNEL, Call

NAME = "memory"
GOAL_IDLE_MB = 120.0
IDLE_SECONDS = 5.0
APPROVALS = 100
RATE = 50.0  # commands a second
APPROVAL_RATE = 20.0  # each starts a session: grant, query, results


def approver(card: Call) -> str:
    """An eligible approver who is not the card's requester."""
    return CAROL if f"<@{BOB}>" in json.dumps(card.args) else BOB


def results_posted(stack: Stack) -> list[Call]:
    """Results the bot posted: a message, or a file shared with a comment."""
    return [c for c in stack.fake.calls()
            if c.method in ("chat.postMessage", "files.completeUploadExternal") and c.ok
            and "*Results*" in json.dumps(c.args)]


def run(requests: int = 1000) -> list[Figure]:
    with Stack("memory") as stack:
        bot = stack.serve("jitbot")
        assert bot.process is not None
        time.sleep(IDLE_SECONDS)
        idle = rss_mb(bot.process.pid)
        commands = [Signed(r.body, r.headers, at=i / RATE) for i, (_, r) in enumerate(
            mix(requests - APPROVALS, stack.fake.response_url("bench"), seed=5))]
        answered = send(bot.url, commands, concurrency=10, paced=True)
        quiet(stack.fake, 2.0, 120)
        cards = card_calls(stack.fake)[:APPROVALS]
        approvals = [Signed(r.body, r.headers, at=i / APPROVAL_RATE) for i, r in enumerate(
            reaction("white_check_mark", approver(card), OPS_CHANNEL,
                     str(card.response["ts"]), f"EvMem{card_request_id(card)}")
            for card in cards)]
        send(bot.url, approvals, concurrency=10, paced=True)
        quiet(stack.fake, 2.0, 120)
        loaded = rss_mb(bot.process.pid)
        sessions = len(results_posted(stack))
        sent = len(commands) + len(approvals)
    busy = sum(1 for r in answered if "busy" in r.body)
    print(f"{NAME}: jitbot serve idle {idle:.1f} MB after {IDLE_SECONDS:.0f} s; "
          f"{loaded:.1f} MB after {sent} requests ({len(commands)} commands at {RATE:.0f}/s, "
          f"{busy} answered 'busy'; {len(approvals)} approvals, {sessions} sessions ran "
          "their query)")
    return [
        Figure(NAME, "RSS idle", f"{idle:.1f} MB", f"<= {GOAL_IDLE_MB:.0f} MB",
               idle <= GOAL_IDLE_MB),
        Figure(NAME, f"RSS after {sent} requests", f"{loaded:.1f} MB"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    print(table(run(args.requests)))


if __name__ == "__main__":
    main()
