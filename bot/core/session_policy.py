"""The inline session policy of a grant (DESIGN §3).

The policy allows only the runbook's action on the table (or the index it queries), and
only for the rendered partition key and the runbook's attributes. STS refuses a session
policy longer than 2048 characters, so the size is checked in three places: when a
runbook is validated, when a request is made, and when the policy is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.params import BoundRequest, ParamValue, RequestError
from bot.core.queries import RenderedRequest, Scope, render
from bot.core.runbooks import Action, ParamType, Runbook
from bot.core.templates import parse_template

MAX_POLICY_CHARS = 2048  # STS: "the plaintext ... can't exceed 2,048 characters"
POLICY_VERSION = "2012-10-17"
# Validation does not know the deployment's region; assume a long one so that a runbook
# which passes here also fits in every region.
_PLACEHOLDER_REGION = "ap-southeast-2"


class PolicyTooLarge(ValueError):
    """The policy would exceed STS's limit; the message names the value and its maximum."""

    def __init__(self, message: str, *, field: str, length: int, max_length: int) -> None:
        super().__init__(message)
        self.field = field
        self.length = length
        self.max_length = max_length


def session_policy(scope: Scope) -> dict[str, Any]:
    """The session policy for one scope, as a JSON-ready dict."""
    attributes = [_literal(a) for a in scope.attributes]
    condition: dict[str, Any]
    if scope.action == "Scan":
        # A scan reads every partition: LeadingKeys cannot narrow it, so the statement
        # relies only on the attribute and Select conditions.
        condition = {
            "ForAllValues:StringEquals": {"dynamodb:Attributes": attributes},
            "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
        }
    else:
        condition = {
            "ForAllValues:StringEquals": {
                "dynamodb:LeadingKeys": [_literal(k) for k in scope.leading_keys],
                "dynamodb:Attributes": attributes,
            },
            "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
            # ForAllValues is true for a request with no leading key at all; this guard
            # makes such a request fall outside the statement.
            "Null": {"dynamodb:LeadingKeys": "false"},
        }
    statement = {
        "Sid": f"Jit{scope.action}",
        "Effect": "Allow",
        "Action": f"dynamodb:{scope.action}",
        "Resource": scope.index_arn or scope.table_arn,
        "Condition": condition,
    }
    return {"Version": POLICY_VERSION, "Statement": [statement]}


def policy_text(scope: Scope) -> str:
    """The minified policy STS receives; raise PolicyTooLarge if it would not fit."""
    text = _minified(session_policy(scope))
    if len(text) >= MAX_POLICY_CHARS:
        raise _too_large(scope, len(text))
    return text


def ensure_request_fits(rendered: RenderedRequest, runbook: Runbook) -> None:
    """Reject, at request time, values that would make the session policy too long.

    Raises RequestError (like any other bad value) naming the parameter and its maximum.
    """
    try:
        policy_text(rendered.scope)
    except PolicyTooLarge as exc:
        params = _partition_params(runbook)
        named = ", ".join(params) if params else "the partition key"
        if exc.field == "partition key" and params and exc.max_length > 0:
            problem = (f"{named}: the value makes the partition key {exc.length} characters "
                       f"long; this runbook's session policy has room for at most "
                       f"{exc.max_length}; give a shorter value")
        else:
            problem = str(exc)
        raise RequestError(runbook.name, [problem], runbook.usage()) from None


def runbook_policy_findings(runbook: Runbook) -> Iterator[tuple[str, str]]:
    """`jitbot validate`'s rule: the runbook's policy must fit with its shortest values.

    Yields (field path, message). A runbook that other rules reject (an unknown
    placeholder, a missing section) is skipped here: those rules already report it.
    """
    values = _shortest_values(runbook)
    if values is None:
        return
    try:
        rendered = render(BoundRequest(runbook, values, None), _PLACEHOLDER_REGION)
    except (KeyError, ValueError, StopIteration):
        return
    length = len(_minified(session_policy(rendered.scope)))
    if length < MAX_POLICY_CHARS:
        return
    attributes_size = len(_minified(rendered.scope.attributes))
    keys_size = len(_minified(rendered.scope.leading_keys))
    if attributes_size >= keys_size:
        yield ("projection",
               f"the session policy would be {length} characters even with the shortest "
               f"parameter values; STS allows fewer than {MAX_POLICY_CHARS}. List fewer or "
               f"shorter attributes in the projection ({len(rendered.scope.attributes)} "
               "attributes with the key attributes)")
    else:
        yield (_partition_path(runbook),
               f"the partition key template alone makes the session policy {length} "
               f"characters; STS allows fewer than {MAX_POLICY_CHARS}. Shorten its fixed text")


def _too_large(scope: Scope, length: int) -> PolicyTooLarge:
    excess = length - (MAX_POLICY_CHARS - 1)
    if scope.leading_keys:
        longest = max(scope.leading_keys, key=len)
        size = len(_minified(_literal(longest))) - 2
        room = size - excess
        if room > 0:
            return PolicyTooLarge(
                f"the partition key value is {len(longest)} characters long; with this "
                f"runbook at most {room} fit in the session policy (STS allows fewer than "
                f"{MAX_POLICY_CHARS} characters); give a shorter value",
                field="partition key", length=len(longest), max_length=room)
    return PolicyTooLarge(
        f"the session policy would be {length} characters; STS allows fewer than "
        f"{MAX_POLICY_CHARS}. List fewer or shorter attributes in the runbook's projection",
        field="projection", length=length, max_length=MAX_POLICY_CHARS - 1)


def _literal(value: str) -> str:
    """IAM reads `${...}` in a condition value as a policy variable; `${$}` is a literal $."""
    return value.replace("${", "${$}{")


def _minified(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def _partition_template(runbook: Runbook) -> tuple[str, str] | None:
    if runbook.action is Action.get_item and runbook.key:
        attr, source = next(iter(runbook.key.items()))
        return f"key.{attr}", source
    if runbook.action is Action.query and runbook.query and runbook.query.partition:
        attr, source = next(iter(runbook.query.partition.items()))
        return f"query.partition.{attr}", source
    return None


def _partition_path(runbook: Runbook) -> str:
    found = _partition_template(runbook)
    return found[0] if found else "projection"


def _partition_params(runbook: Runbook) -> list[str]:
    found = _partition_template(runbook)
    if found is None:
        return []
    try:
        return parse_template(found[1]).params
    except ValueError:
        return []


def _shortest_values(runbook: Runbook) -> dict[str, ParamValue] | None:
    """A value for every parameter, as short as its type allows (patterns aside)."""
    values: dict[str, ParamValue] = {}
    for name, param in runbook.params.items():
        if param.type is ParamType.enum:
            if not param.values:
                return None
            values[name] = min(param.values, key=len)
        elif param.type is ParamType.integer:
            values[name] = 0
        elif param.type is ParamType.decimal:
            values[name] = Decimal(0)
        elif param.type is ParamType.date:
            values[name] = date(2000, 1, 1).isoformat()
        else:
            values[name] = ""
    return values
