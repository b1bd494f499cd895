"""Approval to results: from the approving reaction to the redacted results in the thread.

    python -m bench.approval_to_results [--iterations 40]

For each iteration a requester asks `jitbot serve` (HTTP, fake Slack, moto server,
SQLite) for orders-lookup of one order; once its card is up, an approver reacts with
:white_check_mark:. Measured: from sending the signed `reaction_added` event to the
results message arriving in the card's thread at the fake Slack. Everything jitbot does
in between is in it: the event claim, the approval, its thread reply and card update, STS
AssumeRole with the session policy, the guarded GetItem, redaction, the audit rows, the
results post. The floor, on the same moto server in the same run (alternating): raw
boto3 `assume_role` + a DynamoDB client with those credentials + `get_item`.
Goal: jitbot's median at most 30 ms above the floor's.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import boto3

from bench.harness import (
    REGION,
    Figure,
    Stack,
    card_request_id,
    in_thread,
    is_card,
    median,
    ms,
    percentile,
    reaction,
    table,
)
from bot.demo.fake_slack import ALICE, BOB, OPS_CHANNEL
from tests.support.slack import ServeProcess

NAME = "approval to results"
GOAL_MS = 30.0
WARMUP = 3
CARD_SEEN = 0.1  # seconds between the card's arrival and the reaction


def _approve_once(stack: Stack, bot: ServeProcess, order: int, label: str) -> float:
    """One request approved by reaction; seconds from the reaction to the results."""
    fake = stack.fake
    since = len(fake.log)
    reply = bot.slack.command(f'orders-lookup order_id={order} reason="bench {label}"',
                              user_id=ALICE, response_url=fake.response_url("bench"))
    assert reply.status == 200, reply
    card = fake.wait_new(since, is_card, 10)
    if card is None:
        raise RuntimeError(f"no card for order {order}:\n{bot.logs()[-2000:]}")
    ts = str(card.response["ts"])
    # a person sees the card only after the bot has recorded where it is; a reaction
    # sooner than that finds no request (see Workflow.find_by_card)
    time.sleep(CARD_SEEN)
    signed = reaction("white_check_mark", BOB, OPS_CHANNEL, ts,
                      f"EvApprove{card_request_id(card)}")
    since = len(fake.log)
    started = time.time()
    sent = bot.slack.post(signed.body, signed.headers["Content-Type"], headers=signed.headers,
                          signed=False)
    assert sent.status == 200, sent
    results = fake.wait_new(since, in_thread(ts, "*Results*"), 20)
    if results is None:
        raise RuntimeError(f"no results for order {order}:\n{bot.logs()[-2000:]}")
    return fake.arrived(results) - started


def _raw(stack: Stack) -> Callable[[int], float]:
    session = boto3.session.Session(region_name=REGION)
    sts = session.client("sts", endpoint_url=stack.aws_url)

    def once(order: int) -> float:
        started = time.time()
        credentials = sts.assume_role(RoleArn=stack.role_arn,
                                      RoleSessionName=f"raw-{order}")["Credentials"]
        dynamodb = session.client(
            "dynamodb", endpoint_url=stack.aws_url,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"])
        item = dynamodb.get_item(TableName="orders",
                                 Key={"pk": {"S": f"ORDER#{order}"}, "sk": {"S": "ORDER"}})
        assert item.get("Item"), order
        return time.time() - started

    return once


def run(iterations: int = 40) -> list[Figure]:
    rng = random.Random(3)
    with Stack("approval") as stack:
        bot = stack.serve("jitbot")
        raw = _raw(stack)
        for i in range(WARMUP):
            _approve_once(stack, bot, 1001 + i, "warm-up")
            raw(1001 + i)
        jit_s, raw_s = [], []
        for i in range(iterations):
            order = rng.choice([1001, 1002, 1003, 1004, 1005, *range(2000, 2290)])
            jit_s.append(_approve_once(stack, bot, order, str(i)))
            raw_s.append(raw(order))
    jit_median, raw_median = median(jit_s), median(raw_s)
    difference = (jit_median - raw_median) * 1000
    print(f"{NAME}: {iterations} approvals by reaction (after {WARMUP} warm-up), "
          "alternating with raw boto3 on the same moto server")
    print(f"  jitbot reaction -> results: median {ms(jit_median)}, "
          f"p90 {ms(percentile(jit_s, 90))}, max {ms(max(jit_s))}")
    print(f"  raw assume_role + get_item: median {ms(raw_median)}, "
          f"p90 {ms(percentile(raw_s, 90))}, max {ms(max(raw_s))}")
    print(f"  difference of medians: {difference:+.1f} ms")
    return [
        Figure(NAME, "jitbot reaction -> results, median", ms(jit_median)),
        Figure(NAME, "raw boto3 assume_role + get_item, median", ms(raw_median)),
        Figure(NAME, "difference of medians", f"{difference:+.1f} ms",
               f"<= {GOAL_MS:.0f} ms", difference <= GOAL_MS),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=40)
    args = parser.parse_args()
    print(table(run(args.iterations)))


if __name__ == "__main__":
    main()
