"""Grants: short-lived STS credentials scoped to exactly one approved request (DESIGN §1, §3).

The secret key and session token live only in the Grant object, in memory: they are
excluded from repr(), str() and audit details, and nothing here logs or stores them.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from bot.core.access_errors import AccessError
from bot.core.durations import format_duration
from bot.core.queries import RenderedRequest, Scope
from bot.core.runbooks import Runbook
from bot.core.session_policy import PolicyTooLarge, policy_text

if TYPE_CHECKING:
    from bot.core.aws import AwsClients

MIN_DURATION_SECONDS = 900  # STS's shortest AssumeRole session
MAX_DURATION_SECONDS = 43_200
_STS_NAME = re.compile(r"[^\w+=,.@-]", re.ASCII)  # RoleSessionName / SourceIdentity charset
_TAG_PUNCTUATION = set("_.:/=+-@")
MAX_TAG_VALUE = 256


class GrantError(AccessError):
    """A grant could not be made or used; user_message names the cause and the fix."""


@dataclass(frozen=True)
class Grant:
    role_arn: str
    role_session_name: str
    source_identity: str
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime  # timezone-aware UTC
    assumed_role_id: str
    region: str
    scope: Scope
    partition_key: str | None = None  # the attribute LeadingKeys refers to; None for a scan

    def __post_init__(self) -> None:
        if self.expiration.tzinfo is None:
            raise ValueError("a grant's expiration must be timezone-aware")

    def audit_details(self) -> dict[str, Any]:
        """What the audit trail records about the credentials: never the secret or token."""
        return {
            "role_arn": self.role_arn,
            "role_session_name": self.role_session_name,
            "source_identity": self.source_identity,
            "access_key_id": self.access_key_id,
            "assumed_role_id": self.assumed_role_id,
            "expiration": self.expiration.astimezone(UTC).isoformat(),
            "region": self.region,
        }

    def expired(self, now: datetime | None = None) -> bool:
        return (now or datetime.now(UTC)) >= self.expiration


def assume(
    rendered: RenderedRequest,
    runbook: Runbook,
    *,
    request_id: str,
    requester: str,
    approvers: Sequence[str],
    aws: AwsClients,
    duration: timedelta | None = None,
) -> Grant:
    """AssumeRole for one approved request; raise GrantError with a clear cause and fix."""
    try:
        policy = policy_text(rendered.scope)
    except PolicyTooLarge as exc:
        raise GrantError(str(exc), "policy_size") from None
    session = duration or runbook.session.duration
    seconds = min(MAX_DURATION_SECONDS,
                  max(MIN_DURATION_SECONDS, math.ceil(session.total_seconds())))
    session_name = sts_name(f"jit-{request_id}")
    source_identity = sts_name(f"slack-{requester}")
    tags = [
        {"Key": "jit-request", "Value": tag_value(request_id)},
        {"Key": "jit-runbook", "Value": tag_value(runbook.name)},
        {"Key": "jit-approvers", "Value": tag_value(":".join(approvers) or "none")},
    ]
    try:
        response = aws.sts().assume_role(
            RoleArn=runbook.role_arn,
            RoleSessionName=session_name,
            SourceIdentity=source_identity,
            Tags=tags,
            DurationSeconds=seconds,
            Policy=policy,
        )
    except ClientError as exc:
        raise _from_client_error(exc, runbook, seconds) from exc
    except NoCredentialsError:
        raise GrantError(
            "the bot has no AWS credentials of its own to assume roles with; give it a role "
            "(instance profile, task role) or set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY", "credentials") from None
    except (ConnectTimeoutError, ReadTimeoutError, EndpointConnectionError) as exc:
        raise GrantError(
            f"could not reach AWS STS to assume {runbook.role_arn} ({exc}); check the bot's "
            "network access to STS and try again", "unreachable") from None
    except BotoCoreError as exc:
        raise GrantError(f"assuming {runbook.role_arn} failed: {exc}", "aws") from None
    credentials = response["Credentials"]
    return Grant(
        role_arn=runbook.role_arn,
        role_session_name=session_name,
        source_identity=source_identity,
        access_key_id=credentials["AccessKeyId"],
        secret_access_key=credentials["SecretAccessKey"],
        session_token=credentials["SessionToken"],
        expiration=credentials["Expiration"].astimezone(UTC),
        assumed_role_id=response["AssumedRoleUser"]["AssumedRoleId"],
        region=rendered.call.region,
        scope=rendered.scope,
        partition_key=(runbook.key_attributes() or [None])[0],
    )


def ensure_live(grant: Grant, now: datetime | None = None) -> None:
    """Refuse to use a grant past its expiration, before anything is sent."""
    if grant.expired(now):
        raise GrantError(
            f"the session's credentials expired at {grant.expiration:%Y-%m-%d %H:%M:%S} UTC; "
            "request the runbook again to start a new session", "expired")


def sts_name(text: str) -> str:
    """RoleSessionName and SourceIdentity allow [\\w+=,.@-] and 2..64 characters."""
    return _STS_NAME.sub("-", text)[:64].ljust(2, "-")


def tag_value(text: str) -> str:
    """Session tag values allow letters, digits, spaces and _.:/=+-@, up to 256 characters."""
    kept = "".join(
        ch if ch in _TAG_PUNCTUATION or unicodedata.category(ch)[0] in "LNZ" else "_"
        for ch in text
    )
    return kept[:MAX_TAG_VALUE]


def _from_client_error(exc: ClientError, runbook: Runbook, seconds: int) -> GrantError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    role = runbook.role_arn
    trust_fix = ("the role's trust policy must allow the bot's principal sts:AssumeRole, "
                 "sts:SetSourceIdentity and sts:TagSession")
    if code in {"AccessDenied", "AccessDeniedException"} or _status(exc) == 403:
        if "sts:SetSourceIdentity" in message:
            return GrantError(
                f"the bot may not set a source identity when assuming {role}: add "
                "sts:SetSourceIdentity to the role's trust policy, next to sts:AssumeRole",
                "trust_source_identity")
        if "sts:TagSession" in message:
            return GrantError(
                f"the bot may not tag its session when assuming {role}: add sts:TagSession "
                "to the role's trust policy, next to sts:AssumeRole", "trust_tag_session")
        return GrantError(
            f"the bot cannot assume {role} (AWS said: {message or code}); {trust_fix}, and "
            "the bot's own IAM policy must allow sts:AssumeRole on the role", "denied")
    if code == "ValidationError" and "role chaining" in message:
        asked = format_duration(timedelta(seconds=seconds))
        return GrantError(
            f"the bot runs on role credentials, and AWS caps sessions assumed from a role at "
            f"1h, so {asked} for {role} is refused; shorten the runbook's session.duration to "
            "1h or less, or run the bot with credentials that are not an assumed role",
            "duration")
    if code == "ValidationError" and "MaxSessionDuration" in message:
        asked = format_duration(timedelta(seconds=seconds))
        return GrantError(
            f"{role} does not allow sessions as long as {asked}; "
            "raise the role's MaxSessionDuration or shorten the runbook's session.duration",
            "duration")
    if code == "PackedPolicyTooLarge":
        return GrantError(
            f"AWS found the session policy and tags too large ({message}); list fewer "
            "attributes in the runbook's projection", "policy_size")
    if code == "RegionDisabledException":
        return GrantError(
            f"STS is not activated in the bot's region ({message}); activate it in IAM "
            "account settings or point AWS_REGION at an active region", "aws")
    if code in {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
                "SignatureDoesNotMatch", "UnrecognizedClientException"}:
        return GrantError(
            f"the bot's own AWS credentials were rejected ({code}: {message}); refresh or "
            "replace them", "credentials")
    return GrantError(f"assuming {role} failed ({code}: {message})", "aws")


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None
