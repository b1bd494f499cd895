"""Rules that relate several fields of one runbook (the models check single fields)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.core.params import RESERVED, parse_value
from bot.core.runbooks import USER_ID, Action, ParamType, Runbook, SortOp
from bot.core.session_policy import runbook_policy_findings
from bot.core.templates import parse_template

Finding = tuple[str, str]  # (dotted field path, message)


def check_runbook(runbook: Runbook) -> list[Finding]:
    findings: list[Finding] = []
    # runbook_policy_findings: the session policy must fit STS's 2048 characters.
    for rule in (_action_shape, _templates, _params, _keys, _approval, _triggers, _redact,
                 runbook_policy_findings):
        findings.extend(rule(runbook))
    return findings


def _action_shape(rb: Runbook) -> Iterator[Finding]:
    given = {"key": rb.key is not None, "query": rb.query is not None, "scan": rb.scan is not None}
    wanted = {Action.get_item: "key", Action.query: "query", Action.scan: "scan"}[rb.action]
    if not given[wanted] and rb.action is not Action.scan:
        yield ("action", f"action {rb.action.value} needs a `{wanted}` section")
    for section, present in given.items():
        if present and section != wanted:
            yield (section, f"`{section}` does not apply to action {rb.action.value}; "
                            f"remove it or change action to the one it belongs to")
    if rb.key is not None and not 1 <= len(rb.key) <= 2:
        yield ("key", "a primary key has one attribute (partition) or two (partition, sort)")
    if rb.query is not None:
        if len(rb.query.partition) != 1:
            yield ("query.partition", "give exactly one attribute: the partition key")
        for attr, conditions in (rb.query.sort or {}).items():
            if len(rb.query.sort or {}) != 1 or len(conditions) != 1:
                yield ("query.sort", "give at most one sort attribute with exactly one "
                                     "condition (eq lt le gt ge begins_with between)")
                break
            for op, operand in conditions.items():
                path = f"query.sort.{attr}.{op.value}"
                if op is SortOp.between and not (isinstance(operand, list) and len(operand) == 2):
                    yield (path, "between takes a list of two values: [low, high]")
                if op is not SortOp.between and not isinstance(operand, str):
                    yield (path, f"{op.value} takes one value, not a list")


def _templates(rb: Runbook) -> Iterator[Finding]:
    declared = set(rb.params)
    for path, source in rb.templates():
        try:
            template = parse_template(source)
        except ValueError as exc:
            yield (path, str(exc))
            continue
        for name in template.params:
            if name not in declared:
                known = ", ".join(sorted(declared)) or "none declared"
                yield (path, f"placeholder {{{name}}} names no parameter; declare it under "
                             f"params (declared: {known})")


def _used_params(rb: Runbook) -> set[str]:
    used: set[str] = set()
    for _, source in rb.templates():
        try:
            used.update(parse_template(source).params)
        except ValueError:
            continue
    return used | rb.trigger_groups()


def _params(rb: Runbook) -> Iterator[Finding]:
    used = _used_params(rb)
    for name, param in rb.params.items():
        path = f"params.{name}"
        if name in RESERVED:
            yield (path, "`reason` is built in; pick another parameter name")
        if name not in used:
            yield (path, f"parameter {name} is never used; put {{{name}}} in the key, query, "
                         "a filter or a trigger, or remove it")
        numeric = param.type in (ParamType.integer, ParamType.decimal)
        if param.type is ParamType.enum and not param.values:
            yield (f"{path}.values", "an enum parameter needs `values: [...]`")
        if param.values is not None and param.type is not ParamType.enum:
            yield (f"{path}.values", f"`values` applies to enum parameters, not {param.type}")
        if param.values is not None and len(set(param.values)) != len(param.values):
            yield (f"{path}.values", "enum values must be distinct")
        if param.pattern is not None and param.type is not ParamType.string:
            yield (f"{path}.pattern", f"`pattern` applies to string parameters, not {param.type}")
        if not numeric and (param.min is not None or param.max is not None):
            yield (path, f"`min`/`max` apply to integer and decimal parameters, not {param.type}")
        if param.min is not None and param.max is not None and param.min > param.max:
            yield (f"{path}.min", f"min {param.min} is greater than max {param.max}")
        if param.type is ParamType.integer:
            for bound in ("min", "max"):
                value = getattr(param, bound)
                if value is not None and value != value.to_integral_value():
                    yield (f"{path}.{bound}", f"an integer parameter needs a whole {bound}")
        if param.example is not None:
            try:
                parse_value(param, param.example)
            except ValueError as exc:
                yield (f"{path}.example", f"the example is not a valid value: {exc}")


def _keys(rb: Runbook) -> Iterator[Finding]:
    projection = set(rb.projection)
    if len(projection) != len(rb.projection):
        yield ("projection", "list each attribute once")
    for attr in rb.key_attributes():
        if attr not in projection:
            yield ("projection", f"key attribute {attr!r} must be in the projection")
    numeric = {n for n, p in rb.params.items() if p.type in (ParamType.integer, ParamType.decimal)}
    if rb.query:
        for attr, conditions in (rb.query.sort or {}).items():
            operand = conditions.get(SortOp.begins_with)
            if isinstance(operand, str):
                single = _single(operand)
                if single in numeric:
                    yield (f"query.sort.{attr}.begins_with",
                           "begins_with works on strings; {" + single + "} is numeric")


def _single(source: str) -> str | None:
    try:
        return parse_template(source).single_param
    except ValueError:
        return None


def _approval(rb: Runbook) -> Iterator[Finding]:
    if rb.action is Action.scan and rb.approval.required < 2:
        yield ("approval.required", "a scan reads many partitions, so it needs "
                                    "approval.required: 2 or more")
    user_ids = [p for p in rb.approval.approvers if re.match(USER_ID, p)]
    if len(user_ids) == len(rb.approval.approvers) and rb.approval.required > len(set(user_ids)):
        yield ("approval.required", f"{rb.approval.required} approvals can never be reached "
                                    f"with {len(set(user_ids))} listed approvers; add approvers "
                                    "or a user group")


def _triggers(rb: Runbook) -> Iterator[Finding]:
    for i, trigger in enumerate(rb.triggers):
        for group in re.compile(trigger.pattern).groupindex:
            if group not in rb.params:
                yield (f"triggers.{i}.pattern",
                       f"named group (?P<{group}>...) is not a declared parameter")


def _redact(rb: Runbook) -> Iterator[Finding]:
    projection = set(rb.projection)
    for path in rb.redact.fields:
        root = path.split(".")[0]
        if root not in projection:
            yield (f"redact.fields.{path}",
                   f"{root!r} is not in the projection, so this rule would never apply")
