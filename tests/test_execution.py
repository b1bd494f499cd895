"""Execution against moto over HTTP: exact values, paging, caps and clear errors."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from bot.core.access import AwsAccess
from bot.core.aws import AwsClients
from bot.core.execution import QueryError, QueryResult, binary_text, execute, plain
from bot.core.grants import Grant, GrantError, assume
from bot.core.runbooks import Runbook
from bot.demo.seed import make_orders
from tests.support.aws import REGION, SEEDED_ORDERS, MotoServer, RequestSpy, rendered, shipped


def _grant(aws: AwsClients, runbook: Runbook, **values: str) -> Grant:
    return assume(rendered(runbook, **values), runbook, request_id="exec-1",
                  requester="U123", approvers=["U456"], aws=aws)


def _run(aws: AwsClients, runbook: Runbook, max_bytes: int = 256_000, **values: str
         ) -> QueryResult:
    return execute(_grant(aws, runbook, **values), rendered(runbook, **values), aws=aws,
                   max_bytes=max_bytes)


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for inner in value.values():
            yield from _walk(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _walk(inner)


@pytest.fixture(autouse=True)
def _aws_ready(jit_role: str, orders_table: str) -> None:
    """Every test here needs the role and the seeded table."""


def test_get_item_returns_the_order_with_exact_numbers(aws_clients: AwsClients) -> None:
    result = _run(aws_clients, shipped("orders-lookup"), order_id="1001")
    assert result.count == result.scanned_count == 1
    assert result.truncated is False
    (item,) = result.items
    assert item["pk"] == "ORDER#1001" and item["status"] == "STUCK"
    assert item["total"] == Decimal("129.99") and isinstance(item["total"], Decimal)
    assert item["shipping"]["phone"] == "+44 20 7946 0958"
    assert set(item) <= set(shipped("orders-lookup").projection)
    assert not any(isinstance(v, float) for v in _walk(result.items))
    assert len(result.request_ids) == 1 and result.request_ids[0]
    assert result.consumed_capacity is not None and result.consumed_capacity > 0
    assert result.bytes == len(json.dumps(item, default=str).encode())


def test_get_item_of_a_missing_order_is_empty_not_an_error(aws_clients: AwsClients) -> None:
    result = _run(aws_clients, shipped("orders-lookup"), order_id="999999")
    assert (result.items, result.count, result.truncated) == ([], 0, False)


def test_query_on_the_index_returns_the_month_newest_first(aws_clients: AwsClients) -> None:
    result = _run(aws_clients, shipped("customer-orders"), customer_id="42", month="2026-11")
    pks = [item["pk"] for item in result.items]
    assert {"ORDER#1001", "ORDER#1002", "ORDER#1003", "ORDER#1004"} <= set(pks)
    assert "ORDER#1005" not in pks  # October
    created = [item["created_at"] for item in result.items]
    assert created == sorted(created, reverse=True)
    assert all(c.startswith("2026-11") and i["customer_id"] == "CUST#42"
               for c, i in zip(created, result.items, strict=True))
    assert result.truncated is False


def test_query_stops_at_the_limit_and_says_it_was_truncated(aws_clients: AwsClients) -> None:
    everything = _run(aws_clients, shipped("customer-orders"), customer_id="42",
                      month="2026-11")
    runbook = shipped("customer-orders", limit=2)
    result = _run(aws_clients, runbook, customer_id="42", month="2026-11")
    assert result.items == everything.items[:2]
    assert everything.count > 2 and everything.truncated is False
    assert result.count == 2 and result.truncated is True


def test_query_exactly_at_the_limit_is_not_truncated(aws_clients: AwsClients) -> None:
    everything = _run(aws_clients, shipped("customer-orders"), customer_id="42",
                      month="2026-11")
    exact = _run(aws_clients, shipped("customer-orders", limit=everything.count),
                 customer_id="42", month="2026-11")
    assert exact.items == everything.items and exact.truncated is False


def test_scan_follows_last_evaluated_key_across_pages(aws_clients: AwsClients,
                                                      moto_server: MotoServer) -> None:
    # What the table holds, read with plain boto3 (other tests may add orders).
    pages = moto_server.client("dynamodb").get_paginator("scan").paginate(TableName="orders")
    everything = [item for page in pages for item in page["Items"]]
    stuck = [i["pk"]["S"] for i in everything if i["status"]["S"] == "STUCK"]
    assert {o["pk"] for o in make_orders(SEEDED_ORDERS) if o["status"] == "STUCK"} <= set(stuck)
    runbook = shipped("stuck-orders-scan", limit=len(stuck) + 5)
    result = _run(aws_clients, runbook, status="STUCK")
    assert sorted(i["pk"] for i in result.items) == sorted(stuck)
    assert result.scanned_count == len(everything)
    # Pages of `limit` items each: several requests, each with its own id.
    assert len(result.request_ids) >= SEEDED_ORDERS // runbook.limit
    assert len(set(result.request_ids)) == len(result.request_ids)
    assert result.truncated is False


def test_scan_that_finds_more_than_the_limit_is_truncated(aws_clients: AwsClients) -> None:
    result = _run(aws_clients, shipped("stuck-orders-scan", limit=3), status="STUCK")
    assert result.count == 3 and result.truncated is True


def test_the_byte_cap_keeps_whole_items_and_flags_truncation(aws_clients: AwsClients) -> None:
    full = _run(aws_clients, shipped("customer-orders"), customer_id="42", month="2026-11")
    first_two = sum(len(json.dumps(i, default=str).encode()) for i in full.items[:2])
    capped = _run(aws_clients, shipped("customer-orders"), max_bytes=first_two + 1,
                  customer_id="42", month="2026-11")
    assert capped.items == full.items[:2]
    assert capped.bytes == first_two and capped.truncated is True


@pytest.fixture(scope="module")
def archive(moto_server: MotoServer) -> Runbook:
    """A table holding every DynamoDB type, read through a get_item runbook."""
    client = moto_server.client("dynamodb")
    client.create_table(
        TableName="order-archive", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    client.put_item(TableName="order-archive", Item={
        "pk": {"S": "ORDER#001"},
        "amounts": {"NS": ["10", "2.50", "-0.000000000000000000000000000001"]},
        "tags": {"SS": ["gift", "b2b", "priority"]},
        "note": {"B": b"reach me at ada@example.org"},
        "blob": {"B": b"\x89PNG\r\n\x1a\n\x00"},
        "blobs": {"BS": [b"\x01\x02", b"ok"]},
        "paid": {"BOOL": True},
        "refund": {"NULL": True},
        "big": {"N": "12345678901234567890123456789012345678"},
        "history": {"L": [{"M": {"at": {"S": "2026-11-03"}, "total": {"N": "0.1"}}}]},
    })
    return shipped(
        "orders-lookup", table="order-archive", key={"pk": "ORDER#{order_id}"},
        projection=["pk", "amounts", "tags", "note", "blob", "blobs", "paid", "refund",
                    "big", "history"])


def test_every_type_becomes_a_presentable_value(aws_clients: AwsClients, archive: Runbook,
                                                jit_role: str) -> None:
    (item,) = _run(aws_clients, archive, order_id="001").items
    assert item["amounts"] == [Decimal("-1E-30"), Decimal("2.50"), Decimal("10")]
    assert item["tags"] == ["b2b", "gift", "priority"]
    assert item["note"] == "reach me at ada@example.org"  # text, so detectors can see it
    assert item["blob"] == "base64:iVBORw0KGgoA"
    assert item["blobs"] == ["base64:AQI=", "ok"]
    assert item["paid"] is True and item["refund"] is None
    assert item["big"] == Decimal("12345678901234567890123456789012345678")
    assert item["history"] == [{"at": "2026-11-03", "total": Decimal("0.1")}]
    assert not any(isinstance(v, float | set | bytes) for v in _walk(item))


def test_plain_refuses_an_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown DynamoDB type"):
        plain({"X": "1"})
    assert binary_text(b"") == "base64:"


# --- errors -----------------------------------------------------------------------------

def test_moto_http_403_is_access_denied(aws_clients: AwsClients, moto_server: MotoServer
                                        ) -> None:
    iam = moto_server.client("iam")
    iam.create_role(RoleName="jit-no-rights", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"]}]}))
    runbook = shipped("orders-lookup",
                      role_arn="arn:aws:iam::123456789012:role/jit-no-rights")
    grant = _grant(aws_clients, runbook, order_id="1001")
    with moto_server.iam_enforced(), pytest.raises(QueryError) as caught:
        execute(grant, rendered(runbook, order_id="1001"), aws=aws_clients)
    assert caught.value.kind == "access_denied"
    assert "not authorized to perform: dynamodb:GetItem" in caught.value.user_message
    assert "<" not in caught.value.user_message  # moto's XML body reduced to its message


class _Answering(AwsClients):
    """Clients whose DynamoDB calls get a fixed HTTP answer; counts the attempts."""

    def __init__(self, url: str, status: int, body: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(REGION, endpoint_url=url, **kwargs)
        self.status, self.body, self.attempts = status, body, 0

    def dynamodb_for(self, grant: Grant) -> Any:
        client = super().dynamodb_for(grant)
        client.meta.events.register("before-send.dynamodb", self._answer)
        return client

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        self.attempts += 1
        return AWSResponse(request.url, self.status,
                           {"Content-Type": "application/x-amz-json-1.0"},
                           _Body(json.dumps(self.body).encode()))


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.data


def test_access_denied_exception_is_access_denied(aws_clients: AwsClients,
                                                  moto_server: MotoServer) -> None:
    answering = _Answering(moto_server.url, 400, {
        "__type": "com.amazonaws.dynamodb.v20120810#AccessDeniedException",
        "message": "User: arn:aws:sts::123456789012:assumed-role/jit-orders-read/jit-1 is "
                   "not authorized to perform: dynamodb:GetItem because no session policy "
                   "allows the dynamodb:GetItem action"})
    runbook = shipped("orders-lookup")
    grant = _grant(aws_clients, runbook, order_id="1001")
    with pytest.raises(QueryError) as caught:
        execute(grant, rendered(runbook, order_id="1001"), aws=answering)
    assert caught.value.kind == "access_denied"
    assert "no session policy allows" in caught.value.user_message
    assert "dynamodb:GetItem on the table" in caught.value.user_message


@pytest.mark.parametrize("code", ["ThrottlingException",
                                  "ProvisionedThroughputExceededException"])
def test_throttling_is_retried_then_a_clear_error(aws_clients: AwsClients,
                                                  moto_server: MotoServer, code: str) -> None:
    answering = _Answering(moto_server.url, 400, {
        "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
        "message": "Rate of requests exceeds the allowed throughput."}, max_attempts=2)
    runbook = shipped("orders-lookup")
    grant = _grant(aws_clients, runbook, order_id="1001")
    with pytest.raises(QueryError) as caught:
        execute(grant, rendered(runbook, order_id="1001"), aws=answering)
    assert caught.value.kind == "throttled"
    assert "Run again" in caught.value.user_message
    assert answering.attempts == 2  # botocore's standard retry mode tried again


def test_a_missing_table_is_not_found(aws_clients: AwsClients) -> None:
    runbook = shipped("orders-lookup", table="orders-gone")
    with pytest.raises(QueryError) as caught:
        _run(aws_clients, runbook, order_id="1001")
    assert caught.value.kind == "not_found"
    assert "table orders-gone does not exist in us-east-1" in caught.value.user_message


def test_a_server_that_never_answers_is_a_timeout(aws_clients: AwsClients) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        host, port = silent.getsockname()
        slow = AwsClients(REGION, endpoint_url=f"http://{host}:{port}", read_timeout=0.3,
                          max_attempts=1)
        runbook = shipped("orders-lookup")
        grant = _grant(aws_clients, runbook, order_id="1001")
        with pytest.raises(QueryError) as caught:
            execute(grant, rendered(runbook, order_id="1001"), aws=slow)
    finally:
        silent.close()
    assert caught.value.kind == "timeout"
    assert "did not answer in time" in caught.value.user_message


def test_a_request_outside_the_grant_is_a_scope_error_and_nothing_is_sent(
    aws_clients: AwsClients
) -> None:
    runbook = shipped("orders-lookup")
    grant = _grant(aws_clients, runbook, order_id="1001")
    client = aws_clients.dynamodb_for(grant)
    spy = RequestSpy(client)
    with pytest.raises(QueryError) as caught:
        execute(grant, rendered(runbook, order_id="1002"), aws=aws_clients, client=client)
    assert caught.value.kind == "scope"
    assert "ORDER#1002" in caught.value.user_message
    assert spy.sent == []


def test_an_expired_grant_sends_nothing(aws_clients: AwsClients) -> None:
    runbook = shipped("orders-lookup")
    grant = _grant(aws_clients, runbook, order_id="1001")
    expired = replace(grant, expiration=datetime.now(UTC) - timedelta(minutes=1))
    client = aws_clients.dynamodb_for(expired)
    spy = RequestSpy(client)
    with pytest.raises(GrantError) as caught:
        execute(expired, rendered(runbook, order_id="1001"), aws=aws_clients, client=client)
    assert caught.value.kind == "expired"
    assert spy.sent == []


# --- the port the workflow uses -----------------------------------------------------------

class _Counting(AwsClients):
    def __init__(self, url: str) -> None:
        super().__init__(REGION, endpoint_url=url)
        self.built = 0

    def dynamodb_for(self, grant: Grant) -> Any:
        self.built += 1
        return super().dynamodb_for(grant)


def test_access_runs_again_with_the_same_client_until_the_session_ends(
    moto_server: MotoServer
) -> None:
    aws = _Counting(moto_server.url)
    access = AwsAccess(aws)
    runbook = shipped("orders-lookup")
    request = rendered(runbook, order_id="1001")
    grant = access.grant(request, runbook, request_id="port-1", requester="U123",
                         approvers=["U456"])
    first, second = access.run(grant, request), access.run(grant, request)
    assert first.items == second.items and first.count == 1
    assert first.request_ids != second.request_ids
    assert aws.built == 1
    access.end(grant)
    access.run(grant, request)
    assert aws.built == 2
