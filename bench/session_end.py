"""Session end: how late sessions end after their deadline, live and after a crash.

    python -m bench.session_end [--sessions 100] [--spread 25] [--crashed 20]

Real sessions through the whole workflow: `jitbot serve` (HTTP, fake Slack, moto server,
SQLite) with the shipped runbooks, orders-lookup's session set to the format's minimum of
1m. Each session is requested with `/jit`, approved by a reaction, and runs its query.

* live: `--sessions` approvals spread evenly over `--spread` seconds, so the deadlines
  are staggered; lateness is measured from each session's deadline (its
  `session_ends_at`, from the audit trail) to the "Session ended" reply arriving at the
  fake Slack, and to the `session.ended` audit row.
* crash: before that, a second bot with its own database starts `--crashed` sessions
  and is killed with SIGKILL. It is started again once their deadlines have passed;
  measured is the time from starting the process to each "Session ended" reply.

Goal: live lateness p99 at most 1 s; after the restart every session ended within 5 s.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime

from bench.harness import (
    Figure,
    Stack,
    TimedFakeSlack,
    card_request_id,
    in_thread,
    is_card,
    ms,
    percentile,
    reaction,
    table,
)
from bot.demo.fake_slack import ALICE, BOB, CAROL, OPS_CHANNEL, Call
from tests.support.slack import ServeProcess

NAME = "session end"
SESSION = "1m"
GOAL_LATE = 1.0
GOAL_RESTART = 5.0
ENDED = "Session ended"


def request_card(fake: TimedFakeSlack, bot: ServeProcess, order: int, note: str) -> Call:
    since = len(fake.log)
    reply = bot.slack.command(f'orders-lookup order_id={order} reason="{note}"',
                              user_id=ALICE, response_url=fake.response_url("bench"))
    assert reply.status == 200, reply
    card = fake.wait_new(since, is_card, 10)
    if card is None:
        raise RuntimeError(f"no card for order {order}:\n{bot.logs()[-2000:]}")
    time.sleep(0.05)  # the bot records where its card is just after Slack answers
    return card


def approve(bot: ServeProcess, card: Call, approver: str = BOB) -> None:
    signed = reaction("white_check_mark", approver, OPS_CHANNEL, str(card.response["ts"]),
                      f"EvEnd{card_request_id(card)}")
    reply = bot.slack.post(signed.body, signed.headers["Content-Type"], headers=signed.headers,
                           signed=False)
    assert reply.status == 200, reply


def ended_posts(fake: TimedFakeSlack, cards: list[Call], since: int,
                timeout: float) -> dict[str, Call]:
    """Card ts -> the "Session ended" reply in its thread (waits for all, or timeout)."""
    threads = {str(card.response["ts"]) for card in cards}

    def matches(call: Call) -> bool:
        return (call.method == "chat.postMessage" and call.ok
                and call.args.get("thread_ts") in threads and ENDED in str(call.args))

    found = fake.wait_count(since, matches, len(threads), timeout)
    return {str(call.args["thread_ts"]): call for call in found}


def deadlines(stack: Stack, bot: ServeProcess) -> tuple[dict[str, float], dict[str, float]]:
    """Request id -> session deadline and -> time of its `session.ended` row (epoch s)."""
    due, ended = {}, {}
    for row in stack.audit(bot):
        if row["event"] == "credentials.issued" and not row["details"].get("reissued"):
            due[row["request_id"]] = _epoch(row["details"]["session_ends_at"])
        elif row["event"] == "session.ended":
            ended[row["request_id"]] = _epoch(row["at"])
    return due, ended


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _start_sessions(stack: Stack, bot: ServeProcess, count: int, first_order: int,
                    note: str) -> list[Call]:
    cards = [request_card(stack.fake, bot, first_order + i, note) for i in range(count)]
    since = len(stack.fake.log)
    for card in cards:
        approve(bot, card, CAROL)
    started = stack.fake.wait_count(
        since, lambda c: any(in_thread(str(card.response["ts"]), "*Results*")(c)
                             for card in cards), count, 60)
    if len(started) < count:
        raise RuntimeError(f"only {len(started)} of {count} sessions started")
    return cards


def run(sessions: int = 100, spread: float = 25.0, crashed: int = 20) -> list[Figure]:
    with Stack("session-end") as stack:
        fake = stack.fake
        runbooks = stack.runbooks(**{"orders-lookup": SESSION})

        # the bot that crashes: sessions started, then SIGKILL
        doomed = stack.serve("crashed", runbooks=runbooks)
        crashed_cards = _start_sessions(stack, doomed, crashed, 2100, "crash bench")
        assert doomed.process is not None
        doomed.process.kill()
        doomed.process.wait(10)

        # the live bot: staggered approvals
        bot = stack.serve("live", runbooks=runbooks)
        cards = [request_card(fake, bot, 2000 + i % 290, f"live bench {i}")
                 for i in range(sessions)]
        since = len(fake.log)
        began = time.monotonic()
        for i, card in enumerate(cards):
            time.sleep(max(0.0, began + i * spread / sessions - time.monotonic()))
            approve(bot, card)
        ended = ended_posts(fake, cards, since, 60 + spread + 30)
        due, audited = deadlines(stack, bot)

        # the crashed bot comes back after its sessions' deadlines
        crash_due, _ = deadlines(stack, doomed)
        wait = max(crash_due.values()) + 1 - time.time()
        time.sleep(max(0.0, wait))
        since = len(fake.log)
        restarted_at = time.time()
        stack.restart(doomed)
        healthy_at = time.time()
        after = ended_posts(fake, crashed_cards, since, 30)

    ids = {str(card.response["ts"]): card_request_id(card) for card in cards}
    late = [fake.arrived(call) - due[ids[ts]] for ts, call in ended.items()]
    late_audit = [audited[rid] - due[rid] for rid in ids.values() if rid in audited]
    back = [fake.arrived(call) - restarted_at for call in after.values()]
    spread_seen = max(due.values()) - min(due.values())
    print(f"{NAME}: {sessions} live sessions of {SESSION}, deadlines spread over "
          f"{spread_seen:.1f} s; {crashed} sessions on a bot killed with SIGKILL")
    print(f"  live: {len(ended)} of {sessions} 'Session ended' replies; lateness "
          f"p50 {ms(percentile(late, 50))}, p99 {ms(percentile(late, 99))}, "
          f"max {ms(max(late))} (audit row: p50 {ms(percentile(late_audit, 50))}, "
          f"p99 {ms(percentile(late_audit, 99))})")
    print(f"  crash: restarted {restarted_at - max(crash_due.values()):.1f} s after the last "
          f"deadline; healthy after {healthy_at - restarted_at:.2f} s; {len(after)} of "
          f"{crashed} ended; restart -> ended p50 {percentile(back, 50):.2f} s, "
          f"max {max(back):.2f} s")
    return [
        Figure(NAME, f"lateness p50 / p99 ({len(ended)} of {sessions} sessions)",
               f"{ms(percentile(late, 50))} / {ms(percentile(late, 99))}",
               f"p99 <= {GOAL_LATE:.0f} s",
               len(ended) == sessions and percentile(late, 99) <= GOAL_LATE),
        Figure(NAME, f"after kill -9: restart -> ended, max ({len(after)} of {crashed})",
               f"{max(back):.2f} s", f"<= {GOAL_RESTART:.0f} s",
               len(after) == crashed and max(back) <= GOAL_RESTART),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--spread", type=float, default=25.0)
    parser.add_argument("--crashed", type=int, default=20)
    args = parser.parse_args()
    print(table(run(args.sessions, args.spread, args.crashed)))


if __name__ == "__main__":
    main()
