"""`{param}` placeholders inside runbook values.

A template is parsed once into literal text and parameter names; rendering only ever
substitutes validated, typed parameter values, and the result is used as a DynamoDB
*value*, never as expression text.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

PARAM_NAME = r"[a-z_][a-z0-9_]*"
_PARAM_NAME = re.compile(f"^{PARAM_NAME}$")


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[tuple[str, str | None], ...]  # (literal text, parameter name or None)

    @property
    def params(self) -> list[str]:
        return [name for _, name in self.parts if name is not None]

    @property
    def single_param(self) -> str | None:
        """The parameter name when the whole template is exactly one placeholder."""
        if len(self.parts) == 1 and self.parts[0][0] == "" and self.parts[0][1] is not None:
            return self.parts[0][1]
        return None

    def render(self, values: dict[str, str]) -> str:
        return "".join(literal + (values[name] if name else "") for literal, name in self.parts)


def parse_template(source: str) -> Template:
    """Parse a template; ValueError names what is wrong and how to write it instead."""
    try:
        pieces = list(string.Formatter().parse(source))
    except ValueError as exc:
        raise ValueError(
            f"template {source!r} has an unbalanced brace ({exc}); "
            "write {param} for a parameter and {{ or }} for a literal brace"
        ) from None
    parts: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in pieces:
        if field is None:
            parts.append((literal, None))
            continue
        if spec or conversion or not _PARAM_NAME.match(field):
            raise ValueError(
                f"template {source!r} has placeholder {{{field}...}}; a placeholder is just "
                "{name} with a lower-case parameter name and no format or conversion"
            )
        parts.append((literal, field))
    return Template(source=source, parts=tuple(parts))
