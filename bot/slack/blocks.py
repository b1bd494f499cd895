"""Block Kit for jitbot's messages: the request card, help, and request errors.

Everything here is built from plain data with slack_sdk's block models (which check
Slack's size limits when serialised). Every piece of text that a person typed or a
runbook author wrote goes through `mrkdwn.escape`; mentions are made only from ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.core.durations import format_duration
from bot.core.queries import AttributeValue, DynamoCall, Scope
from bot.core.runbooks import Param, ParamType, Runbook
from bot.slack import mrkdwn

ACTIONS_BLOCK_ID = "jit_actions"
APPROVE = "jit_approve"
DENY = "jit_deny"
CANCEL = "jit_cancel"
RUN_AGAIN = "jit_run_again"
END_SESSION = "jit_end_session"

SECTION_LIMIT = 3000  # Slack's limit for one section's text
HEADER_LIMIT = 150
MAX_BLOCKS = 50
_ALIAS = re.compile(r"[#:][A-Za-z0-9_]+")


class CardState(StrEnum):
    """What the card shows; the workflow's states map onto these."""

    pending = "pending"  # waiting for approvals: Approve / Deny / Cancel
    approved = "approved"  # approved, the session is starting
    active = "active"  # session running: Run again / End session
    denied = "denied"
    cancelled = "cancelled"
    expired = "expired"  # nobody approved in time
    ended = "ended"  # session over (deadline or End session)
    failed = "failed"  # the session could not start or the query failed


@dataclass(frozen=True)
class CardModel:
    """Everything a request card shows, as plain data the workflow's view fills in."""

    request_id: str
    requester_id: str
    runbook: str
    description: str
    params: Mapping[str, str]
    reason: str | None
    call: DynamoCall
    scope: Scope
    role_arn: str
    session_length: timedelta
    approvals_required: int
    approvers: Sequence[str]  # runbook principals: "@oncall-leads" handles or user ids
    state: CardState
    approved_by: Sequence[str] = ()
    decided_by: str | None = None  # who denied, cancelled or ended the session
    expires_at: datetime | None = None  # when a pending request lapses
    session_ends_at: datetime | None = None
    note: str | None = None  # one more line, e.g. why the session failed
    extra: Mapping[str, str] = field(default_factory=dict)  # more label -> text lines


@dataclass(frozen=True)
class Message:
    """A message's fallback text (notifications, screen readers) and its blocks."""

    text: str
    blocks: list[Block]

    def as_kwargs(self) -> dict[str, object]:
        return {"text": self.text, "blocks": [b.to_dict() for b in self.blocks]}


# ---------------------------------------------------------------- the request card


def request_card(card: CardModel) -> Message:
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_clip(f"JIT request: {card.runbook}", HEADER_LIMIT),
                                         emoji=False)),
    ]
    summary = [
        f"*Requester:* {mrkdwn.user(card.requester_id)}",
        f"*Runbook:* {mrkdwn.code(card.runbook)} — {mrkdwn.escape(card.description)}",
        f"*Reason:* {mrkdwn.escape(card.reason) if card.reason else '_none given_'}",
    ]
    blocks += _sections(summary)
    if card.params:
        lines = ["*Parameters*"]
        lines += [f"• {mrkdwn.code(name)} = {mrkdwn.code(value)}"
                  for name, value in card.params.items()]
        blocks += _sections(lines)
    blocks += _sections(["*Operation*"], code=describe_call(card.call))
    blocks += _sections(["*Scope*", *scope_lines(card)])
    blocks += _sections([approval_line(card)])
    blocks.append(DividerBlock())
    blocks += _sections([state_line(card)])
    if card.note:
        blocks += _sections([mrkdwn.escape(card.note)])
    for label, text in card.extra.items():
        blocks += _sections([f"*{mrkdwn.escape(label)}:* {mrkdwn.escape(text)}"])
    buttons = card_buttons(card)
    if buttons:
        blocks.append(ActionsBlock(block_id=ACTIONS_BLOCK_ID, elements=buttons))
    blocks.append(ContextBlock(elements=[
        MarkdownTextObject(text=f"Request {mrkdwn.code(card.request_id)}"),
    ]))
    text = (f"JIT request {card.request_id}: {card.runbook} by "
            f"{mrkdwn.user(card.requester_id)} — {_STATE_WORDS[card.state]}")
    return Message(text=text, blocks=_fit(blocks))


_STATE_WORDS = {
    CardState.pending: "waiting for approval",
    CardState.approved: "approved, starting the session",
    CardState.active: "session active",
    CardState.denied: "denied",
    CardState.cancelled: "cancelled",
    CardState.expired: "expired",
    CardState.ended: "session ended",
    CardState.failed: "failed",
}


def card_buttons(card: CardModel) -> list[ButtonElement]:
    """The buttons that still apply: none once the request is settled."""
    value = card.request_id
    if card.state is CardState.pending:
        return [
            ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary"),
            ButtonElement(text="Deny", action_id=DENY, value=value, style="danger"),
            ButtonElement(text="Cancel", action_id=CANCEL, value=value),
        ]
    if card.state is CardState.active:
        return [
            ButtonElement(text="Run again", action_id=RUN_AGAIN, value=value, style="primary"),
            ButtonElement(
                text="End session", action_id=END_SESSION, value=value, style="danger",
                confirm=ConfirmObject(
                    title="End the session?",
                    text="The credentials are dropped now; nobody can run this again.",
                    confirm="End session", deny="Keep it",
                ),
            ),
        ]
    return []


def state_line(card: CardModel) -> str:
    people = ", ".join(mrkdwn.user(u) for u in card.approved_by)
    by = f" by {mrkdwn.user(card.decided_by)}" if card.decided_by else ""
    if card.state is CardState.pending:
        line = (f":hourglass_flowing_sand: *Waiting for approval* — "
                f"{len(card.approved_by)} of {card.approvals_required}")
        if people:
            line += f" (approved by {people})"
        if card.expires_at:
            line += f" · expires {_when(card.expires_at)}"
        return line
    if card.state is CardState.approved:
        who = people or "the approvers"
        return f":white_check_mark: *Approved* by {who} — starting the session"
    if card.state is CardState.active:
        line = ":large_green_circle: *Session active*"
        if card.session_ends_at:
            line += f" until {_when(card.session_ends_at)}"
        return line + (f" — approved by {people}" if people else "")
    if card.state is CardState.denied:
        return f":no_entry: *Denied*{by}"
    if card.state is CardState.cancelled:
        return f":heavy_multiplication_x: *Cancelled*{by}"
    if card.state is CardState.expired:
        return ":clock3: *Expired* — not enough approvals in time"
    if card.state is CardState.ended:
        return f":lock: *Session ended*{by or ' at its deadline'}"
    return ":warning: *Failed*"


def approval_line(card: CardModel) -> str:
    who = " or ".join(mrkdwn.principal(p) for p in card.approvers)
    need = card.approvals_required
    noun = "approval" if need == 1 else "distinct approvals"
    return f"*Approval:* {need} {noun} from {who} (never the requester)"


def scope_lines(card: CardModel) -> list[str]:
    scope = card.scope
    lines = [
        f"• Role: {mrkdwn.code(card.role_arn)}",
        f"• Table: {mrkdwn.code(scope.table_arn)}",
    ]
    if scope.index_arn:
        lines.append(f"• Index: {mrkdwn.code(scope.index_arn)}")
    if scope.leading_keys:
        keys = ", ".join(mrkdwn.code(k) for k in scope.leading_keys)
        lines.append(f"• Partition key: {keys}")
    else:
        lines.append("• Partition key: any (scan)")
    lines.append(f"• Attributes: {', '.join(mrkdwn.code(a) for a in scope.attributes)}")
    lines.append(f"• Actions: {mrkdwn.code('dynamodb:' + scope.action)} only")
    lines.append(f"• Session: {format_duration(card.session_length)}")
    return lines


def describe_call(call: DynamoCall) -> str:
    """The operation as it will run, with attribute-name and value aliases resolved."""
    head = f"{call.operation} table={call.table}"
    if call.index:
        head += f" index={call.index}"
    lines = [head + f" region={call.region}"]
    if call.key:
        lines.append("Key: " + ", ".join(f"{name} = {display_attribute(value)}"
                                          for name, value in call.key.items()))
    if call.key_condition_expression:
        lines.append("Key condition: " + resolve_expression(call, call.key_condition_expression))
    if call.filter_expression:
        lines.append("Filter: " + resolve_expression(call, call.filter_expression))
    lines.append("Projection: " + resolve_expression(call, call.projection_expression))
    if call.scan_index_forward is not None:
        lines.append("Order: " + ("oldest first" if call.scan_index_forward else "newest first"))
    lines.append(f"Limit: {call.limit}")
    return "\n".join(lines)


def resolve_expression(call: DynamoCall, expression: str) -> str:
    names = call.expression_attribute_names
    values = call.expression_attribute_values or {}

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in names:
            return names[token]
        if token in values:
            return display_attribute(values[token])
        return token

    return _ALIAS.sub(swap, expression)


def display_attribute(value: AttributeValue) -> str:
    (kind, raw), = value.items()
    return raw if kind == "N" else json.dumps(raw, ensure_ascii=False)


# ---------------------------------------------------------------- help and errors

GENERAL_USAGE = '/jit <runbook> name=value ... reason="..."'


def runbook_list(runbooks: Iterable[Runbook]) -> Message:
    items = list(runbooks)
    if not items:
        text = "There are no runbooks you can request."
        return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])
    lines = ["*Runbooks you can request*"]
    for rb in items:
        lines.append(
            f"• {mrkdwn.code(rb.name)} — {mrkdwn.escape(rb.description)} "
            f"_({rb.approval.required} approval{'s' if rb.approval.required > 1 else ''}, "
            f"session {format_duration(rb.session.duration)})_"
        )
    lines.append(f"Usage: {mrkdwn.code(GENERAL_USAGE)} · "
                 f"{mrkdwn.code('/jit help <runbook>')} shows a runbook's parameters.")
    text = "Runbooks: " + ", ".join(rb.name for rb in items)
    return Message(text=text, blocks=_fit(_sections(lines)))


def runbook_help(rb: Runbook) -> Message:
    lines = [
        f"*{mrkdwn.escape(rb.name)}* — {mrkdwn.escape(rb.description)}",
        f"Usage: {mrkdwn.code(rb.usage())}",
        "*Parameters*",
    ]
    lines += [param_line(name, param) for name, param in rb.params.items()]
    if rb.reason == "required":
        example = mrkdwn.code('reason="ticket 4411"')
        lines.append(f"• {mrkdwn.code('reason')} (required) — why you need this, e.g. {example}")
    else:
        lines.append(f"• {mrkdwn.code('reason')} (optional) — why you need this")
    approvers = " or ".join(mrkdwn.principal(p) for p in rb.approval.approvers)
    lines.append(
        f"*Approval:* {rb.approval.required} from {approvers} · "
        f"*Session:* {format_duration(rb.session.duration)} · "
        f"*Operation:* {rb.action.value} on {mrkdwn.code(rb.table)}"
    )
    text = f"/jit {rb.name}: {rb.description}\nUsage: {rb.usage()}"
    return Message(text=text, blocks=_fit(_sections(lines)))


def param_line(name: str, param: Param) -> str:
    facts = [param.type.value]
    if param.type is ParamType.string and param.pattern:
        facts.append(f"pattern {mrkdwn.code(param.pattern)}")
    if param.type is ParamType.enum and param.values:
        facts.append("one of " + ", ".join(mrkdwn.code(v) for v in param.values))
    if param.type is ParamType.date:
        facts.append("YYYY-MM-DD")
    if param.min is not None:
        facts.append(f"min {param.min}")
    if param.max is not None:
        facts.append(f"max {param.max}")
    line = f"• {mrkdwn.code(name)} ({', '.join(facts)})"
    if param.description:
        line += f" — {mrkdwn.escape(param.description)}"
    if param.example:
        line += f". Example: {mrkdwn.code(name + '=' + param.example)}"
    return line


def problem(problems: Sequence[str], usage: str, hint: str | None = None) -> Message:
    """An ephemeral error: each problem on its line, then the usage that would work."""
    lines = [f":warning: {mrkdwn.escape(p)}" for p in problems]
    lines.append(f"Usage: {mrkdwn.code(usage)}")
    if hint:
        lines.append(mrkdwn.escape(hint))
    text = "\n".join([*problems, f"Usage: {usage}", *([hint] if hint else [])])
    return Message(text=text, blocks=_fit(_sections(lines)))


def reply(lines: Sequence[str], code: str | None = None) -> Message:
    """A thread reply from mrkdwn lines the caller built with `mrkdwn` (already escaped),
    with an optional code body (escaped here) split to fit Slack's limits."""
    return Message(text="\n".join(lines), blocks=_fit(_sections(lines, code=code)))


def notice(text: str) -> Message:
    return Message(text=text, blocks=[SectionBlock(text=MarkdownTextObject(
        text=_clip(mrkdwn.escape(text), SECTION_LIMIT)))])


# ---------------------------------------------------------------- layout helpers


def _sections(lines: Sequence[str], code: str | None = None) -> list[Block]:
    """Sections within Slack's 3000-character limit; a code body is split on its lines."""
    chunks = _chunk(list(lines), SECTION_LIMIT)
    if code is not None:
        wrap = len("``````")
        code_chunks = _chunk([mrkdwn.escape(line) for line in code.splitlines()],
                             SECTION_LIMIT - wrap)
        wrapped = ["```" + c.replace("```", "'''") + "```" for c in code_chunks]
        if chunks and wrapped and len(chunks[-1]) + 1 + len(wrapped[0]) <= SECTION_LIMIT:
            chunks[-1] += "\n" + wrapped.pop(0)  # the title and the code in one section
        chunks += wrapped
    return [SectionBlock(text=MarkdownTextObject(text=c)) for c in chunks if c]


def _chunk(lines: list[str], limit: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for raw in lines:
        line = _clip(raw, limit)
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fit(blocks: list[Block]) -> list[Block]:
    """At most Slack's 50 blocks; the tail (state, buttons) matters most, so keep it."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    cut = SectionBlock(text=MarkdownTextObject(text="_(some details were too long to show)_"))
    tail = blocks[-4:]
    return [*blocks[: MAX_BLOCKS - len(tail) - 1], cut, *tail]


def _when(moment: datetime) -> str:
    utc = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return mrkdwn.date(utc, utc.strftime("%Y-%m-%d %H:%M UTC"))
