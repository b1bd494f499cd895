"""Run a rendered request with a grant's guarded client and return presentable items.

Numbers stay exact (Decimal, never float), sets become sorted lists and binary becomes
text, so redaction and presentation work on plain Python values. Failures become a
QueryError whose message says what happened and what to do.
"""

from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from bot.core.access_errors import AccessError
from bot.core.aws import AwsClients
from bot.core.grants import Grant, ensure_live
from bot.core.queries import RenderedRequest
from bot.core.scope_guard import ScopeViolation

MAX_BYTES = 256_000
MAX_PAGES = 100  # a filtered scan over a big table stops here and reports truncation
THROTTLED = {"ThrottlingException", "ProvisionedThroughputExceededException",
             "RequestLimitExceeded", "TooManyRequestsException"}
DENIED = {"AccessDeniedException", "AccessDenied", "UnrecognizedClientException"}
_XML_MESSAGE = re.compile(r"<Message>(.*?)</Message>", re.S)


class QueryError(AccessError):
    """kind: throttled | access_denied | timeout | not_found | scope | expired | aws"""


@dataclass(frozen=True)
class QueryResult:
    items: list[dict[str, Any]]
    count: int
    scanned_count: int
    truncated: bool
    bytes: int
    consumed_capacity: float | None
    request_ids: list[str]
    milliseconds: float


def execute(
    grant: Grant,
    rendered: RenderedRequest,
    *,
    aws: AwsClients,
    max_bytes: int = MAX_BYTES,
    client: Any = None,
) -> QueryResult:
    """Run the request, paging up to the runbook's limit; raise QueryError or GrantError.

    `client` reuses a guarded client from `aws.dynamodb_for(grant)` (Run again).
    """
    ensure_live(grant)
    started = time.perf_counter()
    call = rendered.call
    dynamodb = client if client is not None else aws.dynamodb_for(grant)
    run = _Run(max_bytes=max_bytes, limit=call.limit)
    try:
        if call.operation == "GetItem":
            response = dynamodb.get_item(**call.boto_kwargs(), ReturnConsumedCapacity="TOTAL")
            run.page(response, [response["Item"]] if "Item" in response else [], more=False)
            run.scanned = run.count
        else:
            method = dynamodb.query if call.operation == "Query" else dynamodb.scan
            kwargs = call.boto_kwargs()
            filtered = "FilterExpression" in kwargs
            start: dict[str, Any] | None = None
            for _ in range(MAX_PAGES):
                if start:
                    kwargs["ExclusiveStartKey"] = start
                if not filtered:
                    # One more than still needed tells "exactly the limit" from "more exist".
                    kwargs["Limit"] = call.limit - run.count + 1
                response = method(**kwargs, ReturnConsumedCapacity="TOTAL")
                start = response.get("LastEvaluatedKey")
                run.scanned += int(response.get("ScannedCount", 0))
                run.page(response, response.get("Items", []), more=bool(start))
                if run.done or not start:
                    break
            else:
                run.truncated = run.truncated or bool(start)
    except ScopeViolation as exc:
        raise QueryError(exc.user_message, "scope") from exc
    except ClientError as exc:
        raise _from_client_error(exc, rendered) from exc
    except (ConnectTimeoutError, ReadTimeoutError) as exc:
        raise QueryError(
            f"DynamoDB did not answer in time ({exc}); try again in a moment", "timeout"
        ) from exc
    except EndpointConnectionError as exc:
        raise QueryError(f"could not reach DynamoDB ({exc}); check the bot's network access "
                         "and AWS_ENDPOINT_URL", "aws") from exc
    except BotoCoreError as exc:
        raise QueryError(f"the DynamoDB call failed: {exc}", "aws") from exc
    return QueryResult(
        items=run.items,
        count=len(run.items),
        scanned_count=run.scanned,
        truncated=run.truncated,
        bytes=run.bytes,
        consumed_capacity=run.capacity,
        request_ids=run.request_ids,
        milliseconds=(time.perf_counter() - started) * 1000,
    )


class _Run:
    """What the pages of one execution add up to."""

    def __init__(self, *, max_bytes: int, limit: int) -> None:
        self.max_bytes = max_bytes
        self.limit = limit
        self.items: list[dict[str, Any]] = []
        self.bytes = 0
        self.scanned = 0
        self.truncated = False
        self.done = False
        self.capacity: float | None = None
        self.request_ids: list[str] = []

    @property
    def count(self) -> int:
        return len(self.items)

    def page(self, response: dict[str, Any], raw_items: list[dict[str, Any]], *,
             more: bool) -> None:
        request_id = response.get("ResponseMetadata", {}).get("RequestId")
        if request_id:
            self.request_ids.append(request_id)
        consumed = response.get("ConsumedCapacity")
        if consumed and "CapacityUnits" in consumed:
            self.capacity = (self.capacity or 0.0) + float(consumed["CapacityUnits"])
        for raw in raw_items:
            if self.count >= self.limit:
                self.truncated = self.done = True
                return
            item = {name: plain(value) for name, value in raw.items()}
            size = len(json.dumps(item, default=str, ensure_ascii=False).encode())
            if self.bytes + size > self.max_bytes:
                self.truncated = self.done = True
                return
            self.items.append(item)
            self.bytes += size
        if self.count >= self.limit:
            self.done = True
            self.truncated = self.truncated or more


def plain(value: dict[str, Any]) -> Any:
    """One DynamoDB typed value as a presentable Python value."""
    (kind, raw), = value.items()
    if kind == "S":
        return raw
    if kind == "N":
        return Decimal(raw)
    if kind == "BOOL":
        return bool(raw)
    if kind == "NULL":
        return None
    if kind == "M":
        return {name: plain(inner) for name, inner in raw.items()}
    if kind == "L":
        return [plain(inner) for inner in raw]
    if kind == "SS":
        return sorted(raw)
    if kind == "NS":
        return sorted(Decimal(n) for n in raw)
    if kind == "B":
        return binary_text(raw)
    if kind == "BS":
        return sorted(binary_text(b) for b in raw)
    raise ValueError(f"unknown DynamoDB type {kind}")


def binary_text(raw: bytes) -> str:
    """Text when the bytes are printable UTF-8 (so detectors can see it), else base64."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and text.isprintable():
        return text
    return "base64:" + base64.b64encode(raw).decode("ascii")


def _from_client_error(exc: ClientError, rendered: RenderedRequest) -> QueryError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    message = _readable(str(error.get("Message", "")))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    table = rendered.call.table
    if code in THROTTLED:
        return QueryError(f"DynamoDB is throttling reads on {table} ({code}) even after "
                          "retries; wait a minute and press Run again", "throttled")
    if code in DENIED or status == 403 or code == "403":
        return QueryError(f"AWS denied the read on {table} (AWS said: {message or code}); "
                          "check that the runbook's role grants "
                          f"dynamodb:{rendered.call.operation} on the table", "access_denied")
    if code == "ExpiredTokenException":
        return QueryError("the session's credentials expired; request the runbook again",
                          "expired")
    if code == "ResourceNotFoundException":
        where = f"table {table}" + (f" (index {rendered.call.index})"
                                    if rendered.call.index else "")
        return QueryError(f"{where} does not exist in {rendered.call.region}; check the "
                          "runbook's table, index and region", "not_found")
    if code == "ValidationException":
        return QueryError(f"DynamoDB rejected the request: {message}; check the runbook's "
                          "key and attribute names against the table", "aws")
    return QueryError(f"the DynamoDB call failed ({code}: {message})", "aws")


def _readable(message: str) -> str:
    """moto answers some JSON calls with an XML error body; keep only its message."""
    if message.lstrip().startswith("<"):
        found = _XML_MESSAGE.search(message)
        return found.group(1).strip() if found else ""
    return message
