"""Parameter values: parse the text after `/jit` and turn raw strings into typed values.

Every error names the problem and carries the runbook's usage line, so the person who
typed the command sees how to fix it.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from bot.core.runbooks import Param, ParamType, Runbook

MAX_VALUE_LENGTH = 1024  # a DynamoDB partition key holds at most 2048 bytes
MAX_REASON_LENGTH = 500
RESERVED = {"reason"}
# one word of shell text with no single quotes or backslashes: runs of anything but
# shlex's whitespace and double quotes, and double-quoted spans (which may hold whitespace)
_SHELL_WORD = re.compile(r'(?:[^ \t\r\n"]+|"[^"]*")+')
ParamValue = str | int | Decimal


class RequestTextError(ValueError):
    """The command text could not even be split into name=value pairs."""


@dataclass(frozen=True)
class RequestText:
    runbook: str
    values: dict[str, str]
    reason: str | None


@dataclass
class RequestError(ValueError):
    """A request that cannot be made as typed; `missing` lists parameters not given."""

    runbook: str
    problems: list[str]
    usage: str
    missing: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(self.problems) + f"\nUsage: {self.usage}"


@dataclass(frozen=True)
class BoundRequest:
    """A request whose values passed every check of its runbook."""

    runbook: Runbook
    values: dict[str, ParamValue]
    reason: str | None

    def as_text(self) -> dict[str, str]:
        return {name: display_value(value) for name, value in self.values.items()}


def split_request_text(text: str) -> RequestText:
    """Split `orders-lookup order_id=1001 reason="x y"` into its parts."""
    try:
        words = shell_words(text)
    except ValueError as exc:
        raise RequestTextError(
            f"the command has unbalanced quotes ({exc}); close every \" and ' you open"
        ) from None
    if not words:
        raise RequestTextError("no runbook given; type /jit help to list runbooks")
    runbook, *pairs = words
    values: dict[str, str] = {}
    reason: str | None = None
    seen: set[str] = set()
    for word in pairs:
        name, sep, value = word.partition("=")
        if not sep or not name:
            raise RequestTextError(
                f"{word!r} is not name=value; write each parameter as name=value "
                '(quote values with spaces: reason="disk full")'
            )
        if name in seen:
            raise RequestTextError(f"{name} is given twice; give each parameter once")
        seen.add(name)
        if name == "reason":
            reason = value
        else:
            values[name] = value
    return RequestText(runbook=runbook, values=values, reason=reason)


def shell_words(text: str) -> list[str]:
    """`shlex.split(text)`, at a fraction of its cost for what people type.

    Without single quotes or backslashes, and with every double quote closed, shlex
    splits on its four whitespace characters and drops the double quotes, keeping
    everything between them, whitespace included: one regular expression does the same.
    Any other text (an escape, a single quote, a quote left open) goes to shlex itself,
    which also words the error."""
    if "'" in text or "\\" in text or text.count('"') % 2:
        return shlex.split(text)
    return [word.replace('"', "") for word in _SHELL_WORD.findall(text)]


def bind(runbook: Runbook, values: dict[str, str], reason: str | None) -> BoundRequest:
    """Check raw values against the runbook; raise RequestError listing every problem."""
    problems: list[str] = []
    unknown = [name for name in values if name not in runbook.params]
    for name in unknown:
        takes = ", ".join([*runbook.params, "reason"])
        problems.append(f"unknown parameter {name!r}; {runbook.name} takes: {takes}")
    missing = [name for name in runbook.params if name not in values or values[name] == ""]
    for name in missing:
        problems.append(f"missing parameter {name}{_described(runbook.params[name])}")
    typed: dict[str, ParamValue] = {}
    for name, raw in values.items():
        param = runbook.params.get(name)
        if param is None or raw == "":
            continue
        try:
            typed[name] = parse_value(param, raw)
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    clean_reason = (reason or "").strip() or None
    if clean_reason is None and runbook.reason == "required":
        problems.append('missing reason; say why you need this, e.g. reason="ticket 4411"')
    elif clean_reason is not None:
        try:
            _check_text(clean_reason, MAX_REASON_LENGTH)
        except ValueError as exc:
            problems.append(f"reason: {exc}")
    if problems:
        raise RequestError(runbook.name, problems, runbook.usage(), missing)
    return BoundRequest(runbook=runbook, values=typed, reason=clean_reason)


def parse_value(param: Param, raw: str) -> ParamValue:
    """One raw string to its typed value; ValueError says what a valid value looks like."""
    _check_text(raw, MAX_VALUE_LENGTH)
    kind = param.type
    if kind is ParamType.string:
        if param.pattern and not re.search(param.pattern, raw):
            hint = f"; give a value such as {param.example!r}" if param.example != raw else ""
            raise ValueError(f"{_quoted(raw)} does not match {param.pattern}{hint}")
        return raw
    if kind is ParamType.enum:
        allowed = param.values or []
        if raw not in allowed:
            raise ValueError(f"{_quoted(raw)} is not one of: {', '.join(allowed)}")
        return raw
    if kind is ParamType.date:
        if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
            raise ValueError(f"{_quoted(raw)} is not a date; write YYYY-MM-DD, e.g. 2026-11-26")
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError(f"{_quoted(raw)} is not a real calendar date") from None
    number = _number(param, raw)
    if param.min is not None and number < param.min:
        raise ValueError(f"{raw} is below the minimum {param.min}")
    if param.max is not None and number > param.max:
        raise ValueError(f"{raw} is above the maximum {param.max}")
    return int(number) if kind is ParamType.integer else number


def display_value(value: ParamValue) -> str:
    return str(value)


def _number(param: Param, raw: str) -> Decimal:
    if param.type is ParamType.integer:
        if not re.fullmatch(r"-?[0-9]{1,38}", raw):
            raise ValueError(f"{_quoted(raw)} is not a whole number; write digits, e.g. 42")
        return Decimal(raw)
    if not re.fullmatch(r"-?[0-9]{1,38}(?:\.[0-9]{1,38})?", raw):
        raise ValueError(f"{_quoted(raw)} is not a decimal number; write e.g. 12.50")
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern above admits only decimals
        raise ValueError(f"{_quoted(raw)} is not a decimal number") from None


def _check_text(raw: str, limit: int) -> None:
    if len(raw) > limit:
        raise ValueError(f"the value is {len(raw)} characters long; at most {limit} are allowed")
    # printable ASCII, what people nearly always type, has no such character: only
    # other text is looked at character by character
    if (not (raw.isascii() and raw.isprintable())
            and any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn"} for ch in raw)):
        raise ValueError("the value contains control or invisible characters; type plain text")


def _quoted(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


def _described(param: Param) -> str:
    parts = []
    if param.description:
        parts.append(param.description)
    if param.example:
        parts.append(f"e.g. {param.example}")
    return f" ({', '.join(parts)})" if parts else ""
