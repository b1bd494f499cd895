"""One parser for every duration jitbot reads: `15m`, `1h30m`, `900s`, `2h`, `1d`."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

DURATION_PATTERN = r"^(?:[0-9]+d)?(?:[0-9]+h)?(?:[0-9]+m)?(?:[0-9]+s)?$"
_DURATION = re.compile(
    r"^(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?$"
)
DURATION_HELP = "a duration such as 90s, 15m, 1h30m or 2h"


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m`-style text; raise ValueError saying what a valid value looks like."""
    cleaned = text.strip().replace(" ", "").lower()
    match = _DURATION.match(cleaned)
    if not cleaned or match is None:
        raise ValueError(f"{text!r} is not {DURATION_HELP}")
    parts = {unit: int(value) for unit, value in match.groupdict(default="0").items()}
    return timedelta(days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"])


def format_duration(value: timedelta) -> str:
    """The inverse of parse_duration, in its shortest form (`1h30m`, `45s`)."""
    total = int(value.total_seconds())
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


def _coerce(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not {DURATION_HELP}")
    if isinstance(value, int):
        return timedelta(seconds=value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"{value!r} is not {DURATION_HELP}")


Duration = Annotated[
    timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": DURATION_PATTERN, "examples": ["15m", "1h30m", "900s"]}
    ),
]
