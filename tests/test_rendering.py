"""Rendering: the exact DynamoDB call and scope, and no parameter value ever in expression text."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.catalog import load_catalog
from bot.core.params import RequestError, bind
from bot.core.queries import render
from bot.core.runbooks import Runbook

ROOT = Path(__file__).resolve().parent.parent
CATALOG = load_catalog(ROOT / "runbooks")


def _runbook(name: str) -> Runbook:
    runbook = CATALOG.get(name)
    assert runbook is not None
    return runbook


def test_get_item_renders_typed_key_and_aliased_projection() -> None:
    rendered = render(bind(_runbook("orders-lookup"), {"order_id": "1001"}, "t"), "eu-west-1")
    call = rendered.call
    assert call.operation == "GetItem"
    assert call.key == {"pk": {"S": "ORDER#1001"}, "sk": {"S": "ORDER"}}
    assert call.projection_expression.startswith("#p0, #p1, #p2")
    assert call.expression_attribute_names["#p0"] == "pk"
    assert call.boto_kwargs() == {
        "TableName": "orders",
        "Key": {"pk": {"S": "ORDER#1001"}, "sk": {"S": "ORDER"}},
        "ProjectionExpression": call.projection_expression,
        "ExpressionAttributeNames": call.expression_attribute_names,
    }
    assert rendered.scope.table_arn == "arn:aws:dynamodb:eu-west-1:123456789012:table/orders"
    assert rendered.scope.leading_keys == ["ORDER#1001"]
    assert {"pk", "sk", "card_number"} <= set(rendered.scope.attributes)


def test_query_renders_key_condition_on_the_index_newest_first() -> None:
    bound = bind(_runbook("customer-orders"), {"customer_id": "42", "month": "2026-11"}, "t")
    rendered = render(bound, "us-east-1")
    kwargs = rendered.call.boto_kwargs()
    assert kwargs["IndexName"] == "by-customer"
    assert kwargs["KeyConditionExpression"] == "#k0 = :v0 AND begins_with(#k1, :v1)"
    assert kwargs["ExpressionAttributeNames"]["#k0"] == "customer_id"
    assert kwargs["ExpressionAttributeValues"] == {":v0": {"S": "CUST#42"}, ":v1": {"S": "2026-11"}}
    assert kwargs["ScanIndexForward"] is False
    assert kwargs["Limit"] == 50
    assert rendered.scope.index_arn is not None
    assert rendered.scope.index_arn.endswith(":table/orders/index/by-customer")
    assert rendered.scope.leading_keys == ["CUST#42"]


def test_scan_has_filter_and_no_leading_keys() -> None:
    rendered = render(bind(_runbook("stuck-orders-scan"), {"status": "STUCK"}, "t"), "us-east-1")
    assert rendered.call.filter_expression == "#f0 = :v0"
    assert rendered.call.expression_attribute_values == {":v0": {"S": "STUCK"}}
    assert rendered.scope.leading_keys == []


def _numeric_runbook() -> Runbook:
    data = _runbook("orders-lookup").model_dump(mode="json")
    data["key"] = {"pk": "{order_no}"}
    data["projection"] = ["pk", "status"]
    data["params"] = {"order_no": {"type": "integer", "min": 1}}
    data["redact"] = {}
    data["triggers"] = []
    return Runbook.model_validate(data)


def test_a_lone_numeric_placeholder_becomes_a_dynamodb_number() -> None:
    rendered = render(bind(_numeric_runbook(), {"order_no": "0042"}, "t"), "us-east-1")
    assert rendered.call.key == {"pk": {"N": "42"}}
    assert rendered.scope.leading_keys == ["42"]


HOSTILE = st.one_of(
    st.text(min_size=1, max_size=64),
    st.sampled_from(['"', "'", "#p0", ":v0", ")", " OR 1=1", "a\nb", "☃", "#", ":", "x" * 10_000,
                     "begins_with(#k1, :v1)", "ORDER#1 OR #p0 = :v0", "<!channel>"]),
)


@settings(max_examples=300, deadline=None)
@given(customer=HOSTILE, month=HOSTILE)
def test_no_parameter_value_ever_reaches_expression_text(customer: str, month: str) -> None:
    runbook = _runbook("customer-orders")
    baseline = render(bind(runbook, {"customer_id": "1", "month": "2026-01"}, "t"), "us-east-1")
    unpatterned = {n: p.model_copy(update={"pattern": None}) for n, p in runbook.params.items()}
    loose = runbook.model_copy(update={"params": unpatterned})
    try:
        bound = bind(loose, {"customer_id": customer, "month": month}, "t")
    except RequestError as err:
        assert err.problems and "Usage:" in str(err)  # rejected with a clear message
        return
    rendered = render(bound, "us-east-1")
    # Expression text is a function of the runbook alone: identical whatever the values.
    assert rendered.call.expression_texts() == baseline.call.expression_texts()
    assert rendered.call.expression_attribute_names == baseline.call.expression_attribute_names
    # ...and each value is carried verbatim as a typed value.
    values = rendered.call.expression_attribute_values or {}
    assert values[":v0"] == {"S": f"CUST#{customer}"}
    assert values[":v1"] == {"S": month}
    assert json.loads(rendered.model_dump_json())["call"]["key_condition_expression"] == (
        "#k0 = :v0 AND begins_with(#k1, :v1)"
    )
