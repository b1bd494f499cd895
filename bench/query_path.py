"""The query path: jitbot's assume + guarded query + redact vs raw boto3 on one moto server.

    python -m bench.query_path [--iterations 200]

Both paths run against the same ThreadedMotoServer (over HTTP), alternating, after a
warm-up. jitbot's path is what a session does after approval: AssumeRole with the session
policy, source identity and tags; a GetItem through the scope guard; deserialisation;
redaction with the runbook's rules. The raw path is AssumeRole + GetItem with plain boto3.
Goal: jitbot's median within 30 ms of raw boto3's.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bot.core.access import AwsAccess
from bot.core.aws import AwsClients
from bot.core.catalog import load_catalog
from bot.core.params import bind
from bot.core.queries import render
from bot.core.redaction import Redactor
from bot.demo.seed import create_orders_table, seed_orders

REGION = "us-east-1"
ROLE = "jit-orders-read"
GOAL_MS = 30.0
RUNBOOKS = Path(__file__).resolve().parent.parent / "runbooks"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                          AWS_DEFAULT_REGION=REGION)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        role_arn = _setup(url)
        jitbot, raw = _paths(url, role_arn)
        for i in range(args.warmup):
            jitbot(i)
            raw(i)
        jit_ms: list[float] = []
        raw_ms: list[float] = []
        for i in range(args.iterations):
            jit_ms.append(_timed(jitbot, i))
            raw_ms.append(_timed(raw, i))
    finally:
        server.stop()
    _report(args.iterations, jit_ms, raw_ms)


def _setup(url: str) -> str:
    dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=url)
    create_orders_table(dynamodb)
    seed_orders(dynamodb, 300)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]}]}
    iam = boto3.client("iam", region_name=REGION, endpoint_url=url)
    return str(iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))
               ["Role"]["Arn"])


def _paths(url: str, role_arn: str) -> tuple[Callable[[int], Any], Callable[[int], Any]]:
    runbook = load_catalog(RUNBOOKS).get("orders-lookup")
    assert runbook is not None
    rendered = render(bind(runbook, {"order_id": "1001"}, "benchmark"), REGION)
    access = AwsAccess(AwsClients(REGION, endpoint_url=url))
    redactor = Redactor(runbook.redact, secrets.token_bytes(32))

    def jitbot(i: int) -> Any:
        grant = access.grant(rendered, runbook, request_id=f"bench-{i}", requester="U123",
                             approvers=["U456"])
        result = access.run(grant, rendered)
        access.end(grant)
        assert result.count == 1
        return redactor.redact(result.items)

    session = boto3.session.Session(region_name=REGION)
    sts = session.client("sts", endpoint_url=url)
    kwargs = rendered.call.boto_kwargs()

    def raw(i: int) -> Any:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"raw-{i}")[
            "Credentials"]
        dynamodb = session.client(
            "dynamodb", endpoint_url=url, aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"])
        item = dynamodb.get_item(**kwargs)["Item"]
        assert item
        return item

    return jitbot, raw


def _timed(path: Callable[[int], Any], i: int) -> float:
    started = time.perf_counter()
    path(i)
    return (time.perf_counter() - started) * 1000


def _report(iterations: int, jit_ms: list[float], raw_ms: list[float]) -> None:
    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20, method="inclusive")[18]

    jit_median, raw_median = statistics.median(jit_ms), statistics.median(raw_ms)
    difference = jit_median - raw_median
    print(f"query path, {iterations} iterations each (GetItem of one order, moto server)")
    print(f"  jitbot (assume + guarded query + redact): median {jit_median:7.2f} ms   "
          f"p95 {p95(jit_ms):7.2f} ms")
    print(f"  raw boto3 (assume_role + get_item):       median {raw_median:7.2f} ms   "
          f"p95 {p95(raw_ms):7.2f} ms")
    print(f"  difference: median {difference:+.2f} ms, p95 {p95(jit_ms) - p95(raw_ms):+.2f} ms "
          f"(goal: median within {GOAL_MS:.0f} ms: {'met' if difference <= GOAL_MS else 'MISSED'})")


if __name__ == "__main__":
    main()
