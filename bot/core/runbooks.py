"""The runbook format (DESIGN §2): pydantic models for one `runbooks/*.yaml` file.

Field-level rules live on the models; rules that relate several fields are checked by
`check_runbook`, which returns every problem with the path of the field it concerns so
the catalog can point at the exact YAML line.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.core.durations import Duration, format_duration
from bot.core.templates import PARAM_NAME

MIN_SESSION = timedelta(minutes=1)
MAX_SESSION = timedelta(hours=12)
RUNBOOK_NAME = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
USER_ID = r"^[UW][A-Z0-9]{2,}$"
GROUP_HANDLE = r"^@[a-z0-9][a-z0-9._-]*$"
PRINCIPAL = f"(?:{USER_ID[1:-1]})|(?:{GROUP_HANDLE[1:-1]})"


class Strict(BaseModel):
    """Unknown fields are errors: a typo in a runbook must never be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Action(StrEnum):
    get_item = "get_item"
    query = "query"
    scan = "scan"


class ParamType(StrEnum):
    string = "string"
    integer = "integer"
    decimal = "decimal"
    enum = "enum"
    date = "date"


class SortOp(StrEnum):
    eq = "eq"
    lt = "lt"
    le = "le"
    gt = "gt"
    ge = "ge"
    begins_with = "begins_with"
    between = "between"


class RedactRule(StrEnum):
    drop = "drop"
    mask = "mask"
    last4 = "last4"
    hash = "hash"
    email = "email"


class Detector(StrEnum):
    email = "email"
    card = "card"
    phone = "phone"
    ssn = "ssn"
    aws_key = "aws_key"
    ip = "ip"


def _compiles(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"regular expression `{pattern}` does not compile: {exc}") from None
    return pattern


Pattern = Annotated[str, Field(min_length=1)]
Principal = Annotated[str, Field(pattern=f"^(?:{PRINCIPAL})$")]
AttributeName = Annotated[str, Field(min_length=1, max_length=255)]


class Param(Strict):
    type: ParamType = ParamType.string
    pattern: Pattern | None = Field(None, description="string only: a regular expression")
    values: list[str] | None = Field(None, description="enum only: the allowed values")
    min: Decimal | None = Field(None, description="integer/decimal only: smallest value")
    max: Decimal | None = Field(None, description="integer/decimal only: largest value")
    description: str = ""
    example: str | None = Field(None, description="an example value, shown in help")

    _check_pattern = field_validator("pattern")(
        lambda value: None if value is None else _compiles(value)
    )


class QuerySpec(Strict):
    index: str | None = Field(None, description="a GSI or LSI name")
    partition: dict[AttributeName, str] = Field(
        description="exactly one attribute: partition key equality (value is a template)"
    )
    sort: dict[AttributeName, dict[SortOp, str | list[str]]] | None = Field(
        None, description="at most one attribute with one condition"
    )
    newest_first: bool = False


class ScanSpec(Strict):
    filter: dict[AttributeName, str] = Field(
        default_factory=dict, description="equality filters (values are templates)"
    )


class Approval(Strict):
    approvers: list[Principal] = Field(min_length=1)
    required: int = Field(1, ge=1, le=10)


class SessionSpec(Strict):
    duration: Duration

    @field_validator("duration")
    @classmethod
    def _within_bounds(cls, value: timedelta) -> timedelta:
        if not MIN_SESSION <= value <= MAX_SESSION:
            raise ValueError(
                f"session length {format_duration(value)} is outside 1m..12h; "
                "use a value such as 15m or 1h"
            )
        return value


class RedactSpec(Strict):
    fields: dict[AttributeName, RedactRule] = Field(default_factory=dict)
    detect: list[Detector] = Field(default_factory=lambda: list(Detector))


class Trigger(Strict):
    channel: str = Field(pattern=r"^(?:#[a-z0-9][a-z0-9._-]*|[CG][A-Z0-9]{2,})$")
    pattern: Pattern

    _check_pattern = field_validator("pattern")(_compiles)


class Runbook(Strict):
    name: str = Field(pattern=RUNBOOK_NAME, description="what users type after /jit")
    description: str = Field(min_length=1)
    table: str = Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    region: str | None = Field(None, pattern=r"^[a-z]{2}(?:-[a-z]+)+-[0-9]+$")
    role_arn: str = Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
    action: Action
    key: dict[AttributeName, str] | None = Field(
        None, description="get_item: the full primary key, partition key first"
    )
    query: QuerySpec | None = None
    scan: ScanSpec | None = None
    projection: list[AttributeName] = Field(min_length=1, max_length=100)
    limit: int = Field(25, ge=1, le=1000)
    params: dict[Annotated[str, Field(pattern=f"^{PARAM_NAME}$")], Param] = Field(
        default_factory=dict
    )
    reason: Literal["required", "optional"] = "required"
    requesters: list[Principal] = Field(
        default_factory=list, description="user group handles or user IDs; empty means anyone"
    )
    approval: Approval
    session: SessionSpec
    redact: RedactSpec = Field(default_factory=RedactSpec)
    triggers: list[Trigger] = Field(default_factory=list)

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def aws_partition(self) -> str:
        return self.role_arn.split(":")[1]

    def templates(self) -> list[tuple[str, str]]:
        """Every templated value as (field path, template source)."""
        found: list[tuple[str, str]] = []
        for attr, value in (self.key or {}).items():
            found.append((f"key.{attr}", value))
        if self.query:
            for attr, value in self.query.partition.items():
                found.append((f"query.partition.{attr}", value))
            for attr, conditions in (self.query.sort or {}).items():
                for op, operand in conditions.items():
                    operands = operand if isinstance(operand, list) else [operand]
                    for i, item in enumerate(operands):
                        suffix = f".{i}" if isinstance(operand, list) else ""
                        found.append((f"query.sort.{attr}.{op.value}{suffix}", item))
        if self.scan:
            for attr, value in self.scan.filter.items():
                found.append((f"scan.filter.{attr}", value))
        return found

    def key_attributes(self) -> list[str]:
        """Key attributes the runbook names: the partition key first."""
        if self.action is Action.get_item and self.key:
            return list(self.key)
        if self.action is Action.query and self.query:
            return list(self.query.partition) + list(self.query.sort or {})
        return []

    def trigger_groups(self) -> set[str]:
        return {g for t in self.triggers for g in re.compile(t.pattern).groupindex}

    def usage(self) -> str:
        """The one-line usage shown with every error about this runbook."""
        words = [f"/jit {self.name}"]
        for pname, param in self.params.items():
            words.append(f"{pname}={_example_value(param)}")
        if self.reason == "required":
            words.append('reason="..."')
        else:
            words.append('[reason="..."]')
        return " ".join(words)


def _example_value(param: Param) -> str:
    if param.example:
        return param.example if " " not in param.example else f'"{param.example}"'
    if param.type is ParamType.enum and param.values:
        return "|".join(param.values)
    return {
        ParamType.integer: "<integer>",
        ParamType.decimal: "<number>",
        ParamType.date: "YYYY-MM-DD",
    }.get(param.type, "<text>")
