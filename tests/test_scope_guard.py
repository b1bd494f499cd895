"""The scope guard refuses every call outside the grant before anything is sent.

Each refusal runs against the moto server with the grant's own credentials; a spy on the
client's HTTP send proves nothing left the process. moto evaluates neither session
policies nor conditions, so without the guard these calls would succeed (last test).
"""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.aws import AwsClients
from bot.core.grants import Grant, assume
from bot.core.scope_guard import ScopeGuard, ScopeViolation, attribute_heads
from tests.support.aws import MotoServer, RequestSpy, rendered, shipped

ORDER_KEY = {"pk": {"S": "ORDER#1001"}, "sk": {"S": "ORDER"}}


def _grant(aws: AwsClients, name: str, **values: str) -> Grant:
    runbook = shipped(name)
    return assume(rendered(runbook, **values), runbook, request_id=f"guard-{name}",
                  requester="U123", approvers=["U456"], aws=aws)


@pytest.fixture(scope="module")
def lookup_grant(aws_clients: AwsClients, jit_role: str, orders_table: str) -> Grant:
    return _grant(aws_clients, "orders-lookup", order_id="1001")


@pytest.fixture(scope="module")
def customer_grant(aws_clients: AwsClients, jit_role: str, orders_table: str) -> Grant:
    return _grant(aws_clients, "customer-orders", customer_id="42", month="2026-11")


@pytest.fixture(scope="module")
def scan_grant(aws_clients: AwsClients, jit_role: str, orders_table: str) -> Grant:
    return _grant(aws_clients, "stuck-orders-scan", status="STUCK")


class Guarded:
    """A grant's guarded client with a spy on what it sends."""

    def __init__(self, aws: AwsClients, grant: Grant) -> None:
        self.client = aws.dynamodb_for(grant)
        self.spy = RequestSpy(self.client)

    def refused(self, method: str, **kwargs: Any) -> str:
        with pytest.raises(ScopeViolation) as caught:
            getattr(self.client, method)(**kwargs)
        assert self.spy.sent == [], "the refused call reached the network"
        assert caught.value.kind == "scope"
        assert caught.value.user_message.startswith("refused before sending: ")
        return caught.value.user_message


@pytest.fixture
def lookup(aws_clients: AwsClients, lookup_grant: Grant) -> Guarded:
    return Guarded(aws_clients, lookup_grant)


@pytest.fixture
def customer(aws_clients: AwsClients, customer_grant: Grant) -> Guarded:
    return Guarded(aws_clients, customer_grant)


@pytest.fixture
def scanner(aws_clients: AwsClients, scan_grant: Grant) -> Guarded:
    return Guarded(aws_clients, scan_grant)


def _lookup_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs = rendered(shipped("orders-lookup"), order_id="1001").call.boto_kwargs()
    kwargs.update(changes)
    return {k: v for k, v in kwargs.items() if v is not None}


def _customer_kwargs(**changes: Any) -> dict[str, Any]:
    kwargs = rendered(shipped("customer-orders"), customer_id="42",
                      month="2026-11").call.boto_kwargs()
    kwargs.update(changes)
    return {k: v for k, v in kwargs.items() if v is not None}


# --- what the grant allows goes through -------------------------------------------------

def test_the_granted_get_item_is_sent(lookup: Guarded) -> None:
    response = lookup.client.get_item(**_lookup_kwargs())
    assert response["Item"]["pk"] == {"S": "ORDER#1001"}
    assert lookup.spy.sent == ["DynamoDB_20120810.GetItem"]


def test_the_granted_query_and_a_nested_projection_are_sent(customer: Guarded,
                                                             lookup: Guarded) -> None:
    assert customer.client.query(**_customer_kwargs())["Count"] >= 4
    nested = lookup.client.get_item(**_lookup_kwargs(
        ProjectionExpression="#s.phone, pk", ExpressionAttributeNames={"#s": "shipping"}))
    assert set(nested["Item"]) == {"shipping", "pk"}
    assert customer.spy.sent == ["DynamoDB_20120810.Query"]


# --- one test per refusal ----------------------------------------------------------------

def test_another_table_is_refused(lookup: Guarded) -> None:
    message = lookup.refused("get_item", **_lookup_kwargs(TableName="customers"))
    assert "only read table orders" in message


def test_another_index_is_refused(customer: Guarded) -> None:
    message = customer.refused("query", **_customer_kwargs(IndexName="by-status"))
    assert "index by-customer" in message


def test_the_table_itself_is_refused_when_the_grant_is_for_an_index(customer: Guarded) -> None:
    kwargs = _customer_kwargs()
    del kwargs["IndexName"]
    assert "not the table itself" in customer.refused("query", **kwargs)


@pytest.mark.parametrize(("method", "kwargs"), [
    ("put_item", {"TableName": "orders", "Item": {**ORDER_KEY, "status": {"S": "PAID"}}}),
    ("delete_item", {"TableName": "orders", "Key": ORDER_KEY}),
    ("update_item", {"TableName": "orders", "Key": ORDER_KEY,
                     "UpdateExpression": "SET #s = :v",
                     "ExpressionAttributeNames": {"#s": "status"},
                     "ExpressionAttributeValues": {":v": {"S": "PAID"}}}),
    ("batch_get_item", {"RequestItems": {"orders": {"Keys": [ORDER_KEY]}}}),
    ("batch_write_item", {"RequestItems": {"orders": [{"DeleteRequest": {"Key": ORDER_KEY}}]}}),
    ("transact_get_items", {"TransactItems": [{"Get": {"TableName": "orders", "Key": ORDER_KEY}}]}),
    ("transact_write_items", {"TransactItems": [{"Delete": {"TableName": "orders",
                                                            "Key": ORDER_KEY}}]}),
    ("describe_table", {"TableName": "orders"}),
    ("query", _lookup_kwargs()),
])
def test_another_operation_is_refused(lookup: Guarded, method: str, kwargs: dict[str, Any]) -> None:
    message = lookup.refused(method, **{k: v for k, v in kwargs.items() if k != "Key"}
                             if method == "query" else kwargs)
    assert "may only run GetItem on table orders" in message


def test_a_scan_is_refused_on_a_query_grant(customer: Guarded) -> None:
    message = customer.refused("scan", TableName="orders", IndexName="by-customer",
                               ProjectionExpression="pk")
    assert "may only run Query" in message


@pytest.mark.parametrize(("method", "kwargs"), [
    ("execute_statement", {"Statement": "SELECT * FROM orders WHERE pk = 'ORDER#1001'"}),
    ("batch_execute_statement", {"Statements": [{"Statement": "SELECT * FROM orders"}]}),
    ("execute_transaction", {"TransactStatements": [{"Statement": "SELECT * FROM orders"}]}),
])
def test_partiql_is_refused(lookup: Guarded, method: str, kwargs: dict[str, Any]) -> None:
    assert "PartiQL" in lookup.refused(method, **kwargs)


def test_another_partition_key_is_refused_for_get_item(lookup: Guarded) -> None:
    message = lookup.refused("get_item", **_lookup_kwargs(
        Key={"pk": {"S": "ORDER#1002"}, "sk": {"S": "ORDER"}}))
    assert "partition pk = 'ORDER#1001'" in message and "'ORDER#1002'" in message


def test_a_get_item_without_the_partition_key_is_refused(lookup: Guarded) -> None:
    lookup.refused("get_item", **_lookup_kwargs(Key={"sk": {"S": "ORDER"}}))


def test_another_partition_key_is_refused_for_query(customer: Guarded) -> None:
    kwargs = _customer_kwargs()
    kwargs["ExpressionAttributeValues"] = {**kwargs["ExpressionAttributeValues"],
                                           ":v0": {"S": "CUST#43"}}
    assert "'CUST#43'" in customer.refused("query", **kwargs)


def test_a_partition_key_compared_other_than_by_equality_is_refused(customer: Guarded) -> None:
    kwargs = _customer_kwargs(KeyConditionExpression="begins_with(#k0, :v0)")
    kwargs["ExpressionAttributeValues"] = {":v0": {"S": "CUST#4"}}
    assert "compared with = only" in customer.refused("query", **kwargs)


def test_another_partition_as_exclusive_start_key_is_refused(customer: Guarded) -> None:
    start = {"customer_id": {"S": "CUST#43"}, "created_at": {"S": "2026-11-01"},
             "pk": {"S": "ORDER#2000"}, "sk": {"S": "ORDER"}}
    customer.refused("query", **_customer_kwargs(ExclusiveStartKey=start))


def test_attributes_outside_the_projection_are_refused(customer: Guarded) -> None:
    kwargs = _customer_kwargs()
    kwargs["ProjectionExpression"] += ", #x"
    kwargs["ExpressionAttributeNames"] = {**kwargs["ExpressionAttributeNames"],
                                          "#x": "card_number"}
    assert "card_number are outside this session" in customer.refused("query", **kwargs)


def test_an_unaliased_attribute_outside_the_projection_is_refused(lookup: Guarded) -> None:
    kwargs = _lookup_kwargs(ProjectionExpression="pk, lines[0].sku")
    assert "lines" in lookup.refused("get_item", **kwargs)


def test_a_missing_projection_is_refused(lookup: Guarded) -> None:
    kwargs = _lookup_kwargs()
    del kwargs["ProjectionExpression"], kwargs["ExpressionAttributeNames"]
    assert "names no attributes" in lookup.refused("get_item", **kwargs)


def test_select_all_attributes_is_refused(scanner: Guarded) -> None:
    assert "Select=ALL_ATTRIBUTES" in scanner.refused(
        "scan", TableName="orders", Select="ALL_ATTRIBUTES")


def test_a_filter_on_an_attribute_outside_the_scope_is_refused(scanner: Guarded) -> None:
    message = scanner.refused(
        "scan", TableName="orders", ProjectionExpression="pk, #s",
        FilterExpression="#s = :s AND begins_with(customer_id, :c)",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "STUCK"}, ":c": {"S": "CUST#4"}})
    assert "customer_id" in message


def test_legacy_attributes_to_get_is_refused(lookup: Guarded) -> None:
    assert "AttributesToGet" in lookup.refused(
        "get_item", TableName="orders", Key=ORDER_KEY, AttributesToGet=["pk"])


def test_an_undefined_alias_is_refused(lookup: Guarded) -> None:
    kwargs = _lookup_kwargs(ProjectionExpression="#nope")
    assert "#nope is not defined" in lookup.refused("get_item", **kwargs)


# --- the guard is what protects: moto alone would answer --------------------------------

def test_without_the_guard_moto_would_answer_out_of_scope_calls(
    moto_server: MotoServer, lookup_grant: Grant
) -> None:
    raw = moto_server.client(
        "dynamodb", aws_access_key_id=lookup_grant.access_key_id,
        aws_secret_access_key=lookup_grant.secret_access_key,
        aws_session_token=lookup_grant.session_token)
    other = raw.get_item(TableName="orders", Key={"pk": {"S": "ORDER#1002"}, "sk": {"S": "ORDER"}})
    assert other["Item"]["card_number"]["S"]


# --- the expression reader ---------------------------------------------------------------

def test_attribute_heads_skips_functions_keywords_values_and_nested_members() -> None:
    names = {"#a": "status", "#b": "shipping", "#c": "phone"}
    expression = ("#a IN (:x, :y) AND NOT attribute_exists(total) OR size(#b.#c) > :n "
                  "AND lines[2].sku BETWEEN :lo AND :hi")
    assert attribute_heads(expression, names) == ["status", "total", "shipping", "lines"]


def test_an_expression_the_guard_cannot_read_is_refused() -> None:
    scope = rendered(shipped("orders-lookup"), order_id="1001").scope
    guard = ScopeGuard(scope, "pk")
    with pytest.raises(ScopeViolation, match="could not be checked"):
        guard.check("GetItem", {"TableName": "orders", "Key": ORDER_KEY,
                                "ProjectionExpression": "pk; DROP"})
