"""Render a bound request into the exact DynamoDB call and the scope it needs.

Expression text is built only from the runbook's structure: attribute names are always
aliased (`#k0`, `#p1`, ...) and every parameter value travels as a typed value in `Key`
or `ExpressionAttributeValues`, never inside an expression.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.core.params import BoundRequest, ParamValue
from bot.core.runbooks import Action, ParamType, Runbook, SortOp
from bot.core.templates import parse_template

AttributeValue = dict[str, str]  # DynamoDB's typed form: {"S": "..."} or {"N": "..."}
Operation = Literal["GetItem", "Query", "Scan"]
OPERATIONS: dict[Action, Operation] = {
    Action.get_item: "GetItem",
    Action.query: "Query",
    Action.scan: "Scan",
}
_SORT_EXPRESSIONS = {
    SortOp.eq: "{name} = {v0}",
    SortOp.lt: "{name} < {v0}",
    SortOp.le: "{name} <= {v0}",
    SortOp.gt: "{name} > {v0}",
    SortOp.ge: "{name} >= {v0}",
    SortOp.begins_with: "begins_with({name}, {v0})",
    SortOp.between: "{name} BETWEEN {v0} AND {v1}",
}


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DynamoCall(Frozen):
    """One low-level DynamoDB call, exactly as it will be sent."""

    operation: Operation
    table: str
    region: str
    index: str | None = None
    key: dict[str, AttributeValue] | None = None
    key_condition_expression: str | None = None
    filter_expression: str | None = None
    projection_expression: str
    expression_attribute_names: dict[str, str]
    expression_attribute_values: dict[str, AttributeValue] | None = None
    limit: int
    scan_index_forward: bool | None = None

    def expression_texts(self) -> list[str]:
        """Every piece of expression text: what must never carry a parameter value."""
        texts = [self.projection_expression, *self.expression_attribute_names]
        texts += [t for t in (self.key_condition_expression, self.filter_expression) if t]
        return texts

    def boto_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the low-level boto3 client method (one page's worth)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": self.projection_expression,
            "ExpressionAttributeNames": dict(self.expression_attribute_names),
        }
        if self.operation == "GetItem":
            kwargs["Key"] = self.key
            return kwargs
        if self.index:
            kwargs["IndexName"] = self.index
        if self.key_condition_expression:
            kwargs["KeyConditionExpression"] = self.key_condition_expression
        if self.filter_expression:
            kwargs["FilterExpression"] = self.filter_expression
        if self.expression_attribute_values:
            kwargs["ExpressionAttributeValues"] = dict(self.expression_attribute_values)
        if self.scan_index_forward is not None:
            kwargs["ScanIndexForward"] = self.scan_index_forward
        kwargs["Limit"] = self.limit
        return kwargs


class Scope(Frozen):
    """What a session may touch: the basis of the session policy and the scope guard."""

    action: Operation
    table_arn: str
    index_arn: str | None = None
    leading_keys: list[str]  # rendered partition key values; empty for a scan
    attributes: list[str]  # projection plus key attributes, sorted


class RenderedRequest(Frozen):
    runbook: str
    call: DynamoCall
    scope: Scope


class _Names:
    """Hands out aliases for attribute names and typed values, in order of use."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, AttributeValue] = {}

    def name(self, prefix: str, attribute: str) -> str:
        for alias, known in self.names.items():
            if known == attribute:
                return alias
        alias = f"#{prefix}{len(self.names)}"
        self.names[alias] = attribute
        return alias

    def value(self, typed: AttributeValue) -> str:
        alias = f":v{len(self.values)}"
        self.values[alias] = typed
        return alias


def render(bound: BoundRequest, default_region: str) -> RenderedRequest:
    rb = bound.runbook
    region = rb.region or default_region
    names = _Names()
    key: dict[str, AttributeValue] | None = None
    key_condition = filter_expression = None
    leading_keys: list[str] = []
    index = rb.query.index if rb.query else None
    scan_forward: bool | None = None

    if rb.action is Action.get_item and rb.key:
        key = {attr: _typed(rb, source, bound.values) for attr, source in rb.key.items()}
        leading_keys = [_plain(next(iter(key.values())))]
    elif rb.action is Action.query and rb.query:
        (pk_attr, pk_source), = rb.query.partition.items()
        pk_value = _typed(rb, pk_source, bound.values)
        leading_keys = [_plain(pk_value)]
        clauses = [f"{names.name('k', pk_attr)} = {names.value(pk_value)}"]
        for attr, conditions in (rb.query.sort or {}).items():
            for op, operand in conditions.items():
                sources = operand if isinstance(operand, list) else [operand]
                aliases = [names.value(_typed(rb, s, bound.values)) for s in sources]
                clauses.append(
                    _SORT_EXPRESSIONS[op].format(
                        name=names.name("k", attr), **{f"v{i}": a for i, a in enumerate(aliases)}
                    )
                )
        key_condition = " AND ".join(clauses)
        scan_forward = not rb.query.newest_first
    elif rb.action is Action.scan and rb.scan and rb.scan.filter:
        filter_expression = " AND ".join(
            f"{names.name('f', attr)} = {names.value(_typed(rb, source, bound.values))}"
            for attr, source in rb.scan.filter.items()
        )

    projection = ", ".join(names.name("p", attr) for attr in rb.projection)
    call = DynamoCall(
        operation=OPERATIONS[rb.action],
        table=rb.table,
        region=region,
        index=index,
        key=key,
        key_condition_expression=key_condition,
        filter_expression=filter_expression,
        projection_expression=projection,
        expression_attribute_names=names.names,
        expression_attribute_values=names.values or None,
        limit=rb.limit,
        scan_index_forward=scan_forward,
    )
    table_arn = f"arn:{rb.aws_partition}:dynamodb:{region}:{rb.account_id}:table/{rb.table}"
    scope = Scope(
        action=call.operation,
        table_arn=table_arn,
        index_arn=f"{table_arn}/index/{index}" if index else None,
        leading_keys=leading_keys,
        attributes=sorted(set(rb.projection) | set(rb.key_attributes())),
    )
    return RenderedRequest(runbook=rb.name, call=call, scope=scope)


def _typed(rb: Runbook, source: str, values: dict[str, ParamValue]) -> AttributeValue:
    """A template's value in DynamoDB's typed form: a lone numeric placeholder is a number."""
    template = parse_template(source)
    single = template.single_param
    if single is not None and rb.params[single].type in (ParamType.integer, ParamType.decimal):
        return {"N": _number_text(values[single])}
    return {"S": template.render({name: str(values[name]) for name in template.params})}


def _number_text(value: ParamValue) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _plain(value: AttributeValue) -> str:
    return next(iter(value.values()))
