"""The session policy: golden JSON per action, IAM lint, and the STS size limit everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import parliament
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.params import RequestError
from bot.core.queries import Scope
from bot.core.runbook_rules import check_runbook
from bot.core.session_policy import (
    MAX_POLICY_CHARS,
    PolicyTooLarge,
    ensure_request_fits,
    policy_text,
    session_policy,
)
from tests.support.aws import SHIPPED, rendered, shipped

GOLDEN = Path(__file__).resolve().parent / "golden"
SEVERITIES = ["MUTE", "INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
TABLE_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"
EXAMPLES = {
    "orders-lookup": {"order_id": "1001"},
    "customer-orders": {"customer_id": "42", "month": "2026-11"},
    "stuck-orders-scan": {"status": "STUCK"},
}


def lint(policy: str) -> list[tuple[str, str, object]]:
    """parliament's findings above LOW severity."""
    analyzed = parliament.analyze_policy_string(policy)
    findings = [parliament.enhance_finding(f) for f in analyzed.findings]
    return [(f.issue, f.severity, f.detail) for f in findings
            if SEVERITIES.index(f.severity) > SEVERITIES.index("LOW")]


@pytest.mark.parametrize(("runbook", "golden"), [
    ("orders-lookup", "policy_get_item.json"),
    ("customer-orders", "policy_query_index.json"),
    ("stuck-orders-scan", "policy_scan.json"),
])
def test_policy_matches_golden_json(runbook: str, golden: str) -> None:
    scope = rendered(shipped(runbook), **EXAMPLES[runbook]).scope
    expected = json.loads((GOLDEN / golden).read_text())
    assert session_policy(scope) == expected
    text = policy_text(scope)
    assert json.loads(text) == expected
    assert " " not in text.replace("Jit", "")  # minified: no whitespace between tokens
    assert len(text) < MAX_POLICY_CHARS


def test_query_policy_names_only_the_index_and_guards_leading_keys() -> None:
    policy = session_policy(rendered(shipped("customer-orders"), **EXAMPLES["customer-orders"])
                            .scope)
    (statement,) = policy["Statement"]
    assert statement["Action"] == "dynamodb:Query"
    assert statement["Resource"] == f"{TABLE_ARN}/index/by-customer"
    assert statement["Condition"]["Null"] == {"dynamodb:LeadingKeys": "false"}
    assert statement["Condition"]["ForAllValues:StringEquals"]["dynamodb:LeadingKeys"] == [
        "CUST#42"]


def test_scan_is_its_own_statement_without_leading_keys() -> None:
    policy = session_policy(rendered(shipped("stuck-orders-scan"), status="STUCK").scope)
    (statement,) = policy["Statement"]
    assert statement["Action"] == "dynamodb:Scan"
    assert "LeadingKeys" not in json.dumps(statement)
    assert statement["Condition"]["StringEqualsIfExists"] == {
        "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}


@pytest.mark.parametrize("name", SHIPPED.names)
def test_every_shipped_runbook_policy_passes_parliament(name: str) -> None:
    assert lint(policy_text(rendered(shipped(name), **EXAMPLES[name]).scope)) == []


def test_lint_catches_a_broken_policy() -> None:
    """The lint is not vacuous: a wrong condition key and a wrong resource are findings."""
    bad = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:aws:s3:::orders",
        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKey": ["x"]}}}]}
    issues = {issue for issue, _, _ in lint(json.dumps(bad))}
    assert {"UNKNOWN_CONDITION_FOR_ACTION", "RESOURCE_MISMATCH"} <= issues


_names = st.text(alphabet=st.characters(codec="utf-8", categories=["L", "N", "P", "Zs"]),
                 min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(
    action=st.sampled_from(["GetItem", "Query", "Scan"]),
    index=st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_.-]{3,30}", fullmatch=True)),
    keys=st.lists(_names, min_size=1, max_size=1),
    attributes=st.lists(_names, min_size=1, max_size=40, unique=True),
)
def test_generated_policies_lint_clean_or_are_refused_as_too_large(
    action: str, index: str | None, keys: list[str], attributes: list[str]
) -> None:
    scope = Scope(
        action=action,  # type: ignore[arg-type]
        table_arn=TABLE_ARN,
        index_arn=f"{TABLE_ARN}/index/{index}" if index and action == "Query" else None,
        leading_keys=[] if action == "Scan" else keys,
        attributes=sorted(attributes),
    )
    try:
        text = policy_text(scope)
    except PolicyTooLarge as exc:
        assert exc.max_length < exc.length or exc.field == "projection"
        return
    assert len(text) < MAX_POLICY_CHARS
    assert lint(text) == []


def test_policy_variable_syntax_in_a_value_is_escaped() -> None:
    scope = rendered(shipped("orders-lookup"), order_id="1001").scope.model_copy(
        update={"leading_keys": ["ORDER#${aws:username}"]})
    keys = session_policy(scope)["Statement"][0]["Condition"]["ForAllValues:StringEquals"]
    assert keys["dynamodb:LeadingKeys"] == ["ORDER#${$}{aws:username}"]


def test_too_long_partition_key_names_the_value_and_its_maximum() -> None:
    scope = rendered(shipped("orders-lookup"), order_id="1001").scope.model_copy(
        update={"leading_keys": ["ORDER#" + "9" * 1800]})
    with pytest.raises(PolicyTooLarge) as caught:
        policy_text(scope)
    assert caught.value.field == "partition key"
    assert caught.value.length == 1806
    assert "partition key value is 1806 characters" in str(caught.value)
    assert f"at most {caught.value.max_length} fit" in str(caught.value)
    # The maximum it names is exact: one character less fits, the maximum itself fits.
    fitting = scope.model_copy(update={"leading_keys": ["X" * caught.value.max_length]})
    assert len(policy_text(fitting)) == MAX_POLICY_CHARS - 1


def test_too_many_attributes_point_at_the_projection() -> None:
    scope = rendered(shipped("orders-lookup"), order_id="1001").scope.model_copy(
        update={"attributes": [f"attribute_with_a_long_name_{i:03}" for i in range(80)]})
    with pytest.raises(PolicyTooLarge, match="projection") as caught:
        policy_text(scope)
    assert caught.value.field == "projection"


def test_request_time_value_too_long_is_a_request_error_naming_the_parameter() -> None:
    runbook = shipped("orders-lookup", projection=[
        "pk", "sk", *[f"attribute_with_a_long_name_{i:03}" for i in range(30)]])
    params = dict(runbook.params)
    params["order_id"] = params["order_id"].model_copy(update={"pattern": None})
    runbook = runbook.model_copy(update={"params": params})
    request = rendered(runbook, order_id="7" * 1000)
    with pytest.raises(RequestError) as caught:
        ensure_request_fits(request, runbook)
    (problem,) = caught.value.problems
    assert problem.startswith("order_id: ")
    assert "at most" in problem and "shorter value" in problem
    assert caught.value.usage == runbook.usage()
    ensure_request_fits(rendered(runbook, order_id="7" * 10), runbook)


def test_validate_reports_a_runbook_whose_policy_cannot_fit() -> None:
    runbook = shipped("customer-orders", projection=[
        "customer_id", "created_at", *[f"a_rather_long_attribute_name_{i:03}" for i in range(60)]])
    findings = dict(check_runbook(runbook))
    assert "projection" in findings
    assert "fewer than 2048" in findings["projection"]


def test_validate_reports_a_partition_template_too_long_at_its_path() -> None:
    runbook = shipped("orders-lookup", key={"pk": "ORDER#" + "x" * 1900 + "{order_id}",
                                            "sk": "ORDER"})
    assert "key.pk" in dict(check_runbook(runbook))


@pytest.mark.parametrize("name", SHIPPED.names)
def test_shipped_runbooks_have_no_policy_size_finding(name: str) -> None:
    assert check_runbook(shipped(name)) == []
