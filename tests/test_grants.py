"""Grants: STS AssumeRole as DESIGN §1 asks, clear errors, and credentials never exposed."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber

from bot.core.aws import AwsClients
from bot.core.grants import Grant, GrantError, assume, ensure_live, sts_name, tag_value
from bot.core.session_policy import policy_text
from tests.support.aws import REGION, MotoServer, rendered, shipped

STS_NAME = re.compile(r"^[\w+=,.@-]{2,64}$", re.ASCII)
TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]{0,256}$")


def _assume(aws: AwsClients, runbook_name: str = "orders-lookup", **kwargs: Any) -> Grant:
    runbook = shipped(runbook_name)
    values = {"orders-lookup": {"order_id": "1001"},
              "customer-orders": {"customer_id": "42", "month": "2026-11"},
              "stuck-orders-scan": {"status": "STUCK"}}[runbook_name]
    options: dict[str, Any] = {"request_id": "r-7", "requester": "U123",
                               "approvers": ["U456", "U789"], **kwargs}
    return assume(rendered(runbook, **values), runbook, aws=aws, **options)


@pytest.fixture
def fresh_aws(moto_server: MotoServer) -> AwsClients:
    """Clients of their own, so a spy or stub on them touches no other test."""
    return AwsClients(REGION, endpoint_url=moto_server.url)


def _record_assume_role(aws: AwsClients) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    aws.sts().meta.events.register(
        "provide-client-params.sts.AssumeRole", lambda params, **_: calls.append(dict(params)))
    return calls


def test_assume_role_carries_session_name_source_identity_tags_and_policy(
    fresh_aws: AwsClients, jit_role: str
) -> None:
    calls = _record_assume_role(fresh_aws)
    grant = _assume(fresh_aws)
    (call,) = calls
    request = rendered(shipped("orders-lookup"), order_id="1001")
    assert call["RoleArn"] == jit_role
    assert call["RoleSessionName"] == "jit-r-7"
    assert call["SourceIdentity"] == "slack-U123"
    assert call["Tags"] == [
        {"Key": "jit-request", "Value": "r-7"},
        {"Key": "jit-runbook", "Value": "orders-lookup"},
        {"Key": "jit-approvers", "Value": "U456:U789"},
    ]
    assert call["DurationSeconds"] == 900  # the runbook's 15m session
    assert call["Policy"] == policy_text(request.scope)
    assert grant.role_session_name == "jit-r-7"
    assert grant.source_identity == "slack-U123"
    assert grant.scope == request.scope
    assert grant.partition_key == "pk"
    assert grant.region == REGION
    assert grant.assumed_role_id.endswith(":jit-r-7")


def test_the_credentials_are_the_role_session_at_sts(
    fresh_aws: AwsClients, moto_server: MotoServer, jit_role: str
) -> None:
    grant = _assume(fresh_aws)
    identity = moto_server.client(
        "sts", aws_access_key_id=grant.access_key_id,
        aws_secret_access_key=grant.secret_access_key,
        aws_session_token=grant.session_token).get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::123456789012:assumed-role/jit-orders-read/jit-r-7"
    assert identity["UserId"] == grant.assumed_role_id


@pytest.mark.parametrize(("duration", "seconds"), [
    (None, 1800),  # customer-orders: 30m
    (timedelta(minutes=1), 900),  # STS's minimum
    (timedelta(hours=2, seconds=1), 7201),
])
def test_duration_is_the_session_length_but_at_least_900_seconds(
    fresh_aws: AwsClients, jit_role: str, duration: timedelta | None, seconds: int
) -> None:
    calls = _record_assume_role(fresh_aws)
    before = datetime.now(UTC)
    grant = _assume(fresh_aws, "customer-orders", duration=duration)
    assert calls[0]["DurationSeconds"] == seconds
    assert grant.expiration.tzinfo is not None
    assert grant.expiration - before >= timedelta(seconds=seconds - 5)
    assert not grant.expired()


def test_names_and_tags_are_cleaned_to_what_sts_accepts(
    fresh_aws: AwsClients, jit_role: str
) -> None:
    calls = _record_assume_role(fresh_aws)
    approvers = [f"U{i:09}" for i in range(40)]
    grant = _assume(fresh_aws, request_id="req 12/ü*" + "x" * 80, requester="U1 <bad>",
                    approvers=approvers)
    call = calls[0]
    assert STS_NAME.match(call["RoleSessionName"]) and STS_NAME.match(call["SourceIdentity"])
    assert call["RoleSessionName"].startswith("jit-req-12-")
    assert call["SourceIdentity"] == "slack-U1--bad-"
    for tag in call["Tags"]:
        assert TAG_VALUE.match(tag["Value"]), tag
    assert call["Tags"][0]["Value"].startswith("req 12/ü_")
    assert len(call["Tags"][2]["Value"]) == 256
    assert grant.role_session_name == call["RoleSessionName"]
    assert sts_name("") == "--" and tag_value("a\nb") == "a_b"


def test_secret_and_token_never_appear_in_repr_str_or_audit(
    fresh_aws: AwsClients, jit_role: str
) -> None:
    grant = _assume(fresh_aws)
    secrets = [grant.secret_access_key, grant.session_token]
    assert all(secrets)
    shown = [repr(grant), str(grant), repr(grant.audit_details()), str(grant.audit_details())]
    for text in shown:
        for secret in secrets:
            assert secret not in text
    details = grant.audit_details()
    assert details == {
        "role_arn": grant.role_arn,
        "role_session_name": "jit-r-7",
        "source_identity": "slack-U123",
        "access_key_id": grant.access_key_id,
        "assumed_role_id": grant.assumed_role_id,
        "expiration": grant.expiration.isoformat(),
        "region": REGION,
    }
    assert details["expiration"].endswith("+00:00")


def test_secret_and_token_never_reach_logs_even_at_debug(
    fresh_aws: AwsClients, jit_role: str, orders_table: str, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.core.execution import execute

    caplog.set_level(logging.DEBUG)
    grant = _assume(fresh_aws)
    result = execute(grant, rendered(shipped("orders-lookup"), order_id="1001"), aws=fresh_aws)
    assert result.count == 1
    for secret in (grant.secret_access_key, grant.session_token, "ada.lovelace@example.org"):
        assert secret not in caplog.text


def test_a_role_the_bot_may_not_assume_is_a_clear_error(
    moto_server: MotoServer, jit_role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = moto_server.client("iam")
    iam.create_user(UserName="bot-without-rights")
    key = iam.create_access_key(UserName="bot-without-rights")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    aws = AwsClients(REGION, endpoint_url=moto_server.url)
    with moto_server.iam_enforced(), pytest.raises(GrantError) as caught:
        _assume(aws)
    error = caught.value
    assert error.kind == "denied"
    assert jit_role in error.user_message
    assert "user/bot-without-rights is not authorized to perform: sts:AssumeRole" in (
        error.user_message)
    assert "trust policy" in error.user_message


def _refused_by_sts(aws: AwsClients, code: str, message: str, status: int = 403) -> GrantError:
    """STS's answer is stubbed here: moto checks neither trust policies nor durations."""
    with Stubber(aws.sts()) as stub:
        stub.add_client_error("assume_role", service_error_code=code,
                              service_message=message, http_status_code=status)
        with pytest.raises(GrantError) as caught:
            _assume(aws)
    return caught.value


def test_missing_set_source_identity_trust_is_named(fresh_aws: AwsClients) -> None:
    error = _refused_by_sts(fresh_aws, "AccessDenied", "User: arn:aws:sts::123456789012:"
                            "assumed-role/jitbot/i-1 is not authorized to perform: "
                            "sts:SetSourceIdentity on resource: arn:aws:iam::123456789012:"
                            "role/jit-orders-read")
    assert error.kind == "trust_source_identity"
    assert "add sts:SetSourceIdentity to the role's trust policy" in error.user_message


def test_missing_tag_session_trust_is_named(fresh_aws: AwsClients) -> None:
    error = _refused_by_sts(fresh_aws, "AccessDenied", "User: arn:aws:sts::123456789012:"
                            "assumed-role/jitbot/i-1 is not authorized to perform: "
                            "sts:TagSession on resource: arn:aws:iam::123456789012:"
                            "role/jit-orders-read")
    assert error.kind == "trust_tag_session"
    assert "add sts:TagSession to the role's trust policy" in error.user_message


def test_a_session_longer_than_the_role_allows_is_named(fresh_aws: AwsClients) -> None:
    error = _refused_by_sts(fresh_aws, "ValidationError", "The requested DurationSeconds "
                            "exceeds the MaxSessionDuration set for this role.", status=400)
    assert error.kind == "duration"
    assert "MaxSessionDuration" in error.user_message and "15m" in error.user_message


def test_role_chaining_one_hour_cap_is_named(fresh_aws: AwsClients) -> None:
    error = _refused_by_sts(fresh_aws, "ValidationError", "The requested DurationSeconds "
                            "exceeds the 1 hour session limit for roles assumed by role "
                            "chaining.", status=400)
    assert error.kind == "duration"
    assert "1h" in error.user_message and "assumed role" in error.user_message


def test_the_bots_own_expired_credentials_are_named(fresh_aws: AwsClients) -> None:
    error = _refused_by_sts(fresh_aws, "ExpiredToken", "The security token included in "
                            "the request is expired", status=400)
    assert error.kind == "credentials"
    assert "bot's own AWS credentials" in error.user_message


def test_a_policy_too_large_fails_before_calling_sts(fresh_aws: AwsClients) -> None:
    runbook = shipped("orders-lookup", projection=[f"attr_{i:04}_{'x' * 30}" for i in range(60)])
    calls = _record_assume_role(fresh_aws)
    with pytest.raises(GrantError) as caught:
        assume(rendered(runbook, order_id="1001"), runbook, request_id="r-1",
               requester="U1", approvers=["U2"], aws=fresh_aws)
    assert caught.value.kind == "policy_size"
    assert calls == []


def test_an_expired_grant_is_refused(fresh_aws: AwsClients, jit_role: str) -> None:
    grant = _assume(fresh_aws)
    past = replace(grant, expiration=datetime.now(UTC) - timedelta(seconds=1))
    assert past.expired()
    assert not grant.expired()
    assert grant.expired(now=grant.expiration)
    with pytest.raises(GrantError) as caught:
        ensure_live(past)
    assert caught.value.kind == "expired"
    assert "request the runbook again" in caught.value.user_message


def test_a_grant_needs_an_aware_expiration(fresh_aws: AwsClients, jit_role: str) -> None:
    grant = _assume(fresh_aws)
    with pytest.raises(ValueError, match="timezone-aware"):
        replace(grant, expiration=datetime(2030, 1, 1))
