"""Alert storm: 1000 alerts in 10 seconds into a trigger channel.

    python -m bench.alert_storm [--alerts 1000] [--seconds 10]

`jitbot serve` (HTTP, fake Slack, moto server, SQLite) gets the alerts as Slack sends
them: each is first stored in the fake Slack as a post in #alerts-orders (by a person, by
a monitoring app, or by a classic integration whose text sits only in an attachment),
then its signed `message` event goes to /slack/events, paced evenly over the period from
a separate load-generator process. Each alert names an order that is stuck, which the
orders-lookup trigger matches. Measured per alert: from sending its event to the bot's
reply arriving in the alert's thread at the fake Slack. Goal: every alert answered,
exactly once, p99 under 2 s.
"""

from __future__ import annotations

import argparse
import random
from collections import Counter

from bench.harness import Figure, Signed, Stack, event, ms, percentile, quiet, send, table
from bot.demo.fake_slack import ALERTS_CHANNEL, ALICE, BOB, CAROL
from tests.slack_signing import message_event

NAME = "alert storm"
GOAL_P99 = 2.0
WARMUP = 20
MONITOR_BOT = "B0MONITOR"


def alerts(stack: Stack, count: int, seconds: float, first: int,
           seed: int = 11) -> tuple[list[Signed], list[str]]:
    """Store `count` alerts in the fake Slack; their signed events (paced over `seconds`)
    and their ts, in sending order."""
    rng = random.Random(seed + first)
    requests, stamps = [], []
    for i in range(count):
        order = rng.randint(1001, 2290)
        text = f"order {order} is stuck in PAYMENT_PENDING for 45 minutes"
        kind = rng.random()
        if kind < 0.4:  # a person
            user = rng.choice([ALICE, BOB, CAROL])
            stored = stack.fake.post_as(ALERTS_CHANNEL, text, user=user)
            payload = message_event(text, user=user, channel=ALERTS_CHANNEL, ts=stored["ts"])
        elif kind < 0.8:  # a monitoring app
            fields = {"subtype": "bot_message", "username": "monitor"}
            stored = stack.fake.post_as(ALERTS_CHANNEL, text, bot_id=MONITOR_BOT, **fields)
            payload = message_event(text, user=None, channel=ALERTS_CHANNEL,
                                    ts=stored["ts"], bot_id=MONITOR_BOT, **fields)
        else:  # a classic integration: everything in an attachment
            fields = {"subtype": "bot_message", "username": "pager",
                      "attachments": [{"fallback": text, "color": "danger",
                                       "title": "Orders alert", "text": text}]}
            stored = stack.fake.post_as(ALERTS_CHANNEL, "", bot_id=MONITOR_BOT, **fields)
            payload = message_event("", user=None, channel=ALERTS_CHANNEL, ts=stored["ts"],
                                    bot_id=MONITOR_BOT, **fields)
        signed = event(payload, f"EvStorm{first + i:07d}")
        requests.append(Signed(signed.body, signed.headers, at=i * seconds / count))
        stamps.append(str(stored["ts"]))
    return requests, stamps


def replies(stack: Stack, stamps: set[str]) -> dict[str, list[float]]:
    """Alert ts -> arrival times of the bot's replies in its thread."""
    found: dict[str, list[float]] = {}
    for call in stack.fake.calls("chat.postMessage"):
        thread = str(call.args.get("thread_ts") or "")
        if call.ok and call.args.get("channel") == ALERTS_CHANNEL and thread in stamps:
            found.setdefault(thread, []).append(stack.fake.arrived(call))
    return found


def run(count: int = 1000, seconds: float = 10.0, threads: int = 8) -> list[Figure]:
    with Stack("storm") as stack:
        bot = stack.serve("jitbot", threads=threads)
        warm, warm_ts = alerts(stack, WARMUP, 1.0, first=0)
        send(bot.url, warm, concurrency=10, paced=True)
        quiet(stack.fake, 1.0, 30)
        load, stamps = alerts(stack, count, seconds, first=WARMUP)
        sent = send(bot.url, load, concurrency=50, paced=True)
        wanted = set(stamps)
        quiet(stack.fake, 3.0, 60 + seconds)
        answered = replies(stack, wanted)
        warm_answered = len(replies(stack, set(warm_ts)))

    by_ts = {ts: result for ts, result in zip(stamps, sent, strict=True)}
    latencies = [arrivals[0] - by_ts[ts].sent_at for ts, arrivals in answered.items()]
    twice = sum(1 for arrivals in answered.values() if len(arrivals) > 1)
    share = len(answered) / count
    span = max(r.sent_at for r in sent) - min(r.sent_at for r in sent)
    acks = [r.seconds for r in sent]
    p50 = percentile(latencies, 50) if latencies else float("nan")
    p99 = percentile(latencies, 99) if latencies else float("nan")
    print(f"{NAME}: {count} alerts sent over {span:.1f} s into #alerts-orders "
          f"(after {WARMUP} warm-up alerts, {warm_answered} answered)")
    print(f"  HTTP statuses: {dict(Counter(r.status for r in sent))}; "
          f"ack p99 {ms(percentile(acks, 99))}")
    print(f"  answered {len(answered)} of {count} ({share:.1%}); answered twice: {twice}")
    print(f"  event sent -> reply in the thread: p50 {ms(p50)}, p99 {ms(p99)}, "
          f"max {ms(max(latencies, default=float('nan')))}")
    return [
        Figure(NAME, f"alerts answered (of {count} in {seconds:.0f} s), twice",
               f"{share:.1%}, {twice}", "100%, 0", len(answered) == count and twice == 0),
        Figure(NAME, "event -> thread reply p50 / p99", f"{ms(p50)} / {ms(p99)}",
               f"p99 < {GOAL_P99:.0f} s", p99 < GOAL_P99),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    print(table(run(args.alerts, args.seconds, args.threads)))


if __name__ == "__main__":
    main()
