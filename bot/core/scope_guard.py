"""The scope guard: a session's DynamoDB client refuses, before sending, anything outside
its grant (DESIGN §3).

IAM enforces the session policy in AWS; the guard enforces the same scope in the bot, so
a bug or a changed request is stopped before it leaves the process (and so tests against
moto, which evaluates neither session policies nor conditions, can prove the scope). It
inspects the serialized request body, exactly what would go on the wire.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from bot.core.access_errors import AccessError
from bot.core.queries import Scope

PARTIQL = {"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}
# Pre-expression parameters: refused because they name attributes outside the checks below.
LEGACY = ("AttributesToGet", "KeyConditions", "QueryFilter", "ScanFilter",
          "ConditionalOperator", "Expected")
_FUNCTIONS = {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with",
              "contains", "size"}
_KEYWORDS = {"and", "or", "not", "between", "in"}
_TOKEN = re.compile(
    r"\s*(?:(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>[0-9]+)|(?P<op><>|<=|>=|[=<>(),.\[\]]))"
)


class ScopeViolation(AccessError):
    """A call outside the grant, refused before anything was sent."""

    def __init__(self, user_message: str) -> None:
        super().__init__(f"refused before sending: {user_message}", "scope")


class ScopeGuard:
    """Checks one DynamoDB call against a grant's scope."""

    def __init__(self, scope: Scope, partition_key: str | None) -> None:
        self.scope = scope
        self.partition_key = partition_key
        self.table = scope.table_arn.split(":table/", 1)[1]
        self.index = scope.index_arn.rsplit("/index/", 1)[1] if scope.index_arn else None
        self.attributes = frozenset(scope.attributes)
        self.leading_keys = frozenset(scope.leading_keys)

    def install(self, client: Any) -> None:
        """Hook the guard into a botocore client: it runs after serialization, before send."""
        client.meta.events.register("before-call.dynamodb", self._before_call,
                                    unique_id="jitbot-scope-guard")

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body", b"")
        try:
            request = json.loads(body or b"{}")
        except (TypeError, ValueError):
            raise ScopeViolation("the request body could not be inspected") from None
        if not isinstance(request, dict):
            raise ScopeViolation("the request body could not be inspected")
        self.check(model.name, request)

    def check(self, operation: str, request: dict[str, Any]) -> None:
        """Raise ScopeViolation unless `request` (DynamoDB's JSON form) is inside the scope."""
        self._operation(operation)
        self._target(request)
        for name in LEGACY:
            if name in request:
                raise ScopeViolation(f"the legacy parameter {name} is not allowed; runbooks "
                                     "use expressions (ProjectionExpression, ...)")
        select = request.get("Select")
        if select is not None and select != "SPECIFIC_ATTRIBUTES":
            raise ScopeViolation(f"Select={select} is not allowed; the session may read only "
                                 f"named attributes ({self._allowed()})")
        self._attributes(request)
        if self.scope.action != "Scan":
            self._partition(operation, request)

    def _operation(self, operation: str) -> None:
        if operation in PARTIQL:
            raise ScopeViolation(f"PartiQL ({operation}) is never allowed in a jitbot session; "
                                 f"this session may only run {self.scope.action}")
        if operation != self.scope.action:
            raise ScopeViolation(f"this session may only run {self.scope.action} on table "
                                 f"{self.table}, not {operation}")

    def _target(self, request: dict[str, Any]) -> None:
        table = request.get("TableName")
        if table not in (self.table, self.scope.table_arn):
            raise ScopeViolation(f"this session may only read table {self.table}, "
                                 f"not {table!r}")
        index = request.get("IndexName")
        if index != self.index:
            wanted = f"index {self.index}" if self.index else "the table itself, not an index"
            got = f"index {index!r}" if index else "the table itself"
            raise ScopeViolation(f"this session may only read {wanted} of {self.table}, "
                                 f"not {got}")

    def _attributes(self, request: dict[str, Any]) -> None:
        names = request.get("ExpressionAttributeNames") or {}
        projection = request.get("ProjectionExpression")
        if not projection:
            raise ScopeViolation("the request names no attributes (ProjectionExpression); "
                                 f"the session may read only: {self._allowed()}")
        outside = sorted({v for v in names.values() if v not in self.attributes})
        for field in ("ProjectionExpression", "KeyConditionExpression", "FilterExpression"):
            text = request.get(field)
            if text:
                outside += [a for a in attribute_heads(text, names)
                            if a not in self.attributes and a not in outside]
        if outside:
            raise ScopeViolation(f"attribute(s) {', '.join(sorted(outside))} are outside this "
                                 f"session; it may read only: {self._allowed()}")

    def _partition(self, operation: str, request: dict[str, Any]) -> None:
        pk = self.partition_key
        if pk is None:
            raise ScopeViolation("the grant does not say which attribute is the partition key")
        if operation == "GetItem":
            value = _key_text((request.get("Key") or {}).get(pk))
        else:
            value = self._key_condition_value(request, pk)
        self._leading(pk, value)
        start = request.get("ExclusiveStartKey")
        if start and pk in start:
            self._leading(pk, _key_text(start[pk]))

    def _leading(self, pk: str, value: str | None) -> None:
        if value is None or value not in self.leading_keys:
            allowed = ", ".join(repr(k) for k in sorted(self.leading_keys))
            raise ScopeViolation(f"this session may only read partition {pk} = {allowed}, "
                                 f"not {value!r}")

    def _key_condition_value(self, request: dict[str, Any], pk: str) -> str | None:
        text = request.get("KeyConditionExpression")
        if not text:
            raise ScopeViolation("a query must name its partition with KeyConditionExpression")
        names = request.get("ExpressionAttributeNames") or {}
        values = request.get("ExpressionAttributeValues") or {}
        tokens = list(_tokens(text))
        if any(kind == "word" and tok.lower() in {"or", "not"} for kind, tok in tokens):
            raise ScopeViolation("the key condition may not use OR or NOT")
        found: list[str | None] = []
        for i, (kind, tok) in enumerate(tokens):
            if kind not in {"name", "word"} or _resolve(kind, tok, names) != pk:
                continue
            before = tokens[i - 2:i] if i >= 2 else []
            after = tokens[i + 1:i + 3]
            if len(after) == 2 and after[0] == ("op", "=") and after[1][0] == "value":
                found.append(_key_text(values.get(after[1][1])))
            elif len(before) == 2 and before[1] == ("op", "=") and before[0][0] == "value":
                found.append(_key_text(values.get(before[0][1])))
            else:
                raise ScopeViolation(f"the partition key {pk} must be compared with = only")
        if len(found) != 1:
            raise ScopeViolation(f"the key condition must fix the partition key {pk} exactly "
                                 "once with =")
        return found[0]

    def _allowed(self) -> str:
        return ", ".join(sorted(self.attributes))


def attribute_heads(expression: str, names: dict[str, str]) -> list[str]:
    """The top-level attribute names an expression refers to, aliases resolved."""
    heads: list[str] = []
    tokens = list(_tokens(expression))
    for i, (kind, tok) in enumerate(tokens):
        if kind not in {"name", "word"}:
            continue
        nested = i > 0 and tokens[i - 1] == ("op", ".")
        if nested:
            continue
        if kind == "word":
            is_call = i + 1 < len(tokens) and tokens[i + 1] == ("op", "(")
            if (is_call and tok in _FUNCTIONS) or tok.lower() in _KEYWORDS:
                continue
        heads.append(_resolve(kind, tok, names))
    return heads


def _tokens(expression: str) -> Iterator[tuple[str, str]]:
    pos = 0
    text = expression.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ScopeViolation(f"the expression {expression!r} could not be checked")
        kind = match.lastgroup or ""
        yield kind, match.group(kind)
        pos = match.end()


def _resolve(kind: str, token: str, names: dict[str, str]) -> str:
    if kind == "word":
        return token
    if token not in names:
        raise ScopeViolation(f"{token} is not defined in ExpressionAttributeNames")
    return names[token]


def _key_text(value: Any) -> str | None:
    """The text of a typed key value ({"S": ...} or {"N": ...}); None for anything else."""
    if isinstance(value, dict) and len(value) == 1:
        (kind, raw), = value.items()
        if kind in {"S", "N"} and isinstance(raw, str):
            return raw
    return None
