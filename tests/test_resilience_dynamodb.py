"""DynamoDB throttling and AWS access denied, end to end: a clear message in the thread,
the right session state afterwards, and the failure in the audit trail.

`jitbot serve` runs as a real process against the fake Slack and moto server, as its own
IAM user (allowed to assume two of the roles below, not the third). How the faults are
made, honestly:

* throttling: moto never throttles, so the bot's AWS traffic goes through a fault proxy
  (tests/faults.py) that answers DynamoDB GetItem with HTTP 400 ThrottlingException — the
  answer DynamoDB gives — for as long as the test says; everything else reaches moto.
* access denied: moto's own IAM enforcement (`MotoServer.iam_enforced()`) gives real 403s,
  once for a GetItem by a role without DynamoDB rights, once for an AssumeRole the bot's
  user is not allowed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.audit import AuditTrail
from bot.db.engine import Database
from bot.db.models import RequestRow
from bot.demo.fake_slack import ALICE, CAROL, OPS_CHANNEL, Call, FakeSlack
from tests.e2e_surfaces import (
    approve_card,
    card_request_id,
    request_card,
    runbooks_copy,
    text_of,
    thread_posts,
    wait_thread,
)
from tests.faults import FaultProxy, Seen
from tests.support.aws import ACCOUNT, ROLE_ARN, MotoServer
from tests.support.slack import ServeProcess, serve_env

THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException",
             "message": "Rate of requests exceeds the allowed throughput."}
AMZ_JSON = {"Content-Type": "application/x-amz-json-1.0"}


def get_item(seen: Seen) -> bool:
    return seen.headers.get("x-amz-target") == "DynamoDB_20120810.GetItem"


def lookup_as(name: str, role: str) -> dict[str, Any]:
    """orders-lookup under another name and role (no alert triggers)."""
    return {"name": name, "description": f"orders-lookup as {role}", "table": "orders",
            "role_arn": f"arn:aws:iam::{ACCOUNT}:role/{role}", "action": "get_item",
            "key": {"pk": "ORDER#{order_id}", "sk": "ORDER"}, "limit": 1,
            "projection": ["pk", "sk", "status", "total"],
            "params": {"order_id": {"type": "string", "pattern": "^[0-9]{3,12}$",
                                    "example": "1001"}},
            "reason": "required", "approval": {"approvers": ["@oncall-leads"], "required": 1},
            "session": {"duration": "15m"}}


@pytest.fixture(scope="module")
def bot_user(moto_server: MotoServer, jit_role: str) -> dict[str, str]:
    """The bot's own IAM user, and two roles whose trust policies name it: `jit-no-rights`
    (no DynamoDB rights) and `jit-locked` (the user's policy does not let it assume)."""
    iam = moto_server.client("iam")
    suffix = uuid.uuid4().hex[:8]
    user = f"jitbot-{suffix}"
    user_arn = iam.create_user(UserName=user)["User"]["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]}]}
    roles = {kind: f"jit-{kind}-{suffix}" for kind in ("no-rights", "locked")}
    for role in roles.values():
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_user_policy(UserName=user, PolicyName="assume-jit-roles", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
            "Resource": [ROLE_ARN, f"arn:aws:iam::{ACCOUNT}:role/{roles['no-rights']}"]}]}))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {"key": key["AccessKeyId"], "secret": key["SecretAccessKey"], **roles}


@pytest.fixture(scope="module")
def proxy(moto_server: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server.url)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def bot(fake_slack_server: FakeSlack, proxy: FaultProxy, orders_table: str,
        bot_user: dict[str, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[ServeProcess]:
    runbooks = runbooks_copy(tmp_path_factory.mktemp("runbooks"), extra={
        "orders-peek": lookup_as("orders-peek", bot_user["no-rights"]),
        "orders-locked": lookup_as("orders-locked", bot_user["locked"]),
    })
    home = tmp_path_factory.mktemp("serve")
    env = serve_env(fake_slack_server, home, JITBOT_RUNBOOKS_DIR=str(runbooks),
                    AWS_ENDPOINT_URL=proxy.url, AWS_ACCESS_KEY_ID=bot_user["key"],
                    AWS_SECRET_ACCESS_KEY=bot_user["secret"])
    process = ServeProcess(env, home / "serve.log")
    process.start()
    yield process
    assert process.stop() == 0, process.logs()
    assert "Traceback" not in process.logs(), process.logs()


@pytest.fixture(scope="module")
def database(bot: ServeProcess) -> Iterator[Database]:
    database = Database(bot.env["JITBOT_DATABASE_URL"])
    yield database
    database.dispose()


@pytest.fixture
def slack(bot: ServeProcess, proxy: FaultProxy, fake_slack: FakeSlack) -> Iterator[FakeSlack]:
    proxy.clear()
    yield fake_slack
    proxy.clear()


def approve(bot: Any, slack: FakeSlack, card: Call) -> str:
    return approve_card(bot, slack, card, CAROL)


def state(database: Database, request_id: str) -> str:
    with database.transaction() as session:
        return str(session.execute(
            select(RequestRow.state).where(RequestRow.id == request_id)).scalar_one())


def audited(database: Database, request_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(r.event, r.details) for r in AuditTrail(database).records(request_id=request_id)]


def test_throttled_reads_are_explained_and_the_session_can_run_again(
        bot: ServeProcess, slack: FakeSlack, proxy: FaultProxy, database: Database) -> None:
    card = request_card(bot, slack, 'orders-lookup order_id=1001 reason="throttle drill"', ALICE)
    request_id = card_request_id(card)
    throttling = proxy.answer(get_item, 400, THROTTLED, headers=AMZ_JSON)
    ts = approve(bot, slack, card)
    told = wait_thread(slack, OPS_CHANNEL, ts, "query failed", timeout=30)
    assert "throttling reads on orders" in text_of(told) and "Run again" in text_of(told)
    assert proxy.count(get_item) >= 2  # botocore retried before giving up
    assert state(database, request_id) == "active"  # the session stays; the query can rerun
    failed = [d for event, d in audited(database, request_id) if event == "query.failed"]
    assert [d["kind"] for d in failed] == ["throttled"]

    throttling.stop()
    reply = bot.slack.action("jit_run_again", request_id, user_id=ALICE, channel_id=OPS_CHANNEL,
                             message_ts=ts, message=slack.message(OPS_CHANNEL, ts))
    assert reply.status == 200
    results = wait_thread(slack, OPS_CHANNEL, ts, "*Results*")
    assert "ORDER#1001" in text_of(results)
    events = [event for event, _ in audited(database, request_id)]
    assert events.count("query.executed") == 1 and events.count("credentials.issued") == 1


def test_a_read_aws_denies_is_explained_and_audited(
        bot: ServeProcess, slack: FakeSlack, moto_server: MotoServer, database: Database) -> None:
    card = request_card(bot, slack, 'orders-peek order_id=1002 reason="denied drill"', ALICE)
    request_id = card_request_id(card)
    with moto_server.iam_enforced():
        ts = approve(bot, slack, card)
        told = wait_thread(slack, OPS_CHANNEL, ts, "query failed", timeout=30)
        assert state(database, request_id) == "active"
    assert "AWS denied the read on orders" in text_of(told)
    assert "not authorized to perform: dynamodb:GetItem" in text_of(told)
    assert "Traceback" not in text_of(told) and "<" not in text_of(told).replace("<@", "")
    assert not [c for c in thread_posts(slack, OPS_CHANNEL, ts) if "*Results*" in text_of(c)]
    events = audited(database, request_id)
    assert [e for e, _ in events].count("credentials.issued") == 1
    assert [d["kind"] for e, d in events if e == "query.failed"] == ["access_denied"]
    assert "query.executed" not in [e for e, _ in events]


def test_a_role_the_bot_may_not_assume_ends_the_request_with_the_reason(
        bot: ServeProcess, slack: FakeSlack, moto_server: MotoServer, database: Database,
        bot_user: dict[str, str]) -> None:
    card = request_card(bot, slack, 'orders-locked order_id=1003 reason="locked drill"', ALICE)
    request_id = card_request_id(card)
    with moto_server.iam_enforced():
        ts = approve(bot, slack, card)
        told = wait_thread(slack, OPS_CHANNEL, ts, "did not start", timeout=30)
    assert "could not get credentials" in text_of(told)
    assert bot_user["locked"] in text_of(told)
    deadline = time.monotonic() + 10
    while state(database, request_id) != "ended" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state(database, request_id) == "ended"
    slack.wait_for("chat.update", lambda c: c.args.get("ts") == ts and "jit_run_again"
                   not in text_of(c) and "Session ended" in text_of(c))
    events = audited(database, request_id)
    assert [d["kind"] for e, d in events if e == "credentials.failed"] == ["denied"]
    assert "credentials.issued" not in [e for e, _ in events]
    assert "session.ended" in [e for e, _ in events]
