"""The request modal: one input per runbook parameter plus the reason, and the checks of
its `view_submission`, which answer per field so Slack shows each error next to it.

`private_metadata` carries where the request goes (runbook, channel, alert thread and
source), since a view submission carries no channel.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    InputInteractiveElement,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.core.durations import format_duration
from bot.core.params import (
    MAX_REASON_LENGTH,
    MAX_VALUE_LENGTH,
    BoundRequest,
    RequestError,
    bind,
    parse_value,
)
from bot.core.runbooks import Param, ParamType, Runbook
from bot.slack import mrkdwn

MODAL_CALLBACK = "jit_request_modal"
PARAM_BLOCK = "jit_param_"  # + the parameter's name
REASON_BLOCK = "jit_reason"
INPUT_ACTION = "value"
MAX_SELECT_OPTIONS = 100  # Slack's limit for a static_select
PLACEHOLDER_LIMIT = 150
OPTION_LIMIT = 75
Source = Literal["modal", "alert"]


class ModalError(ValueError):
    """A submission jitbot cannot read (not a view it opened, or its runbook is gone)."""


@dataclass(frozen=True)
class ModalContext:
    """Where the request made in the modal goes."""

    runbook: str
    channel: str
    thread_ts: str | None = None  # the alert thread when opened from an alert button
    source: Source = "modal"

    def dump(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> ModalContext:
        try:
            data = json.loads(raw or "")
        except ValueError:
            raise ModalError("the form carries no request context") from None
        if not isinstance(data, dict) or not all(
                isinstance(data.get(k), str) and data[k] for k in ("runbook", "channel")):
            raise ModalError("the form names no runbook or channel")
        thread_ts = data.get("thread_ts")
        source: Source = "alert" if data.get("source") == "alert" else "modal"
        return cls(data["runbook"], data["channel"],
                   thread_ts if isinstance(thread_ts, str) and thread_ts else None, source)


@dataclass(frozen=True)
class ModalInput:
    """What the person entered: raw text per parameter ("" when left empty)."""

    values: dict[str, str]
    reason: str | None


def param_block(name: str) -> str:
    return PARAM_BLOCK + name


# ---------------------------------------------------------------- the view


def request_modal(runbook: Runbook, given: Mapping[str, str], reason: str | None,
                  context: ModalContext) -> dict[str, Any]:
    """The modal for `runbook`, with `given` values and `reason` filled in."""
    where = (f"in the alert thread in {mrkdwn.channel(context.channel)}" if context.thread_ts
             else f"in {mrkdwn.channel(context.channel)}")
    approvers = " or ".join(mrkdwn.principal(p) for p in runbook.approval.approvers)
    out: list[Block] = [
        SectionBlock(text=MarkdownTextObject(
            text=f"*{mrkdwn.escape(runbook.name)}* — {mrkdwn.escape(runbook.description)}")),
        ContextBlock(elements=[MarkdownTextObject(
            text=f"The request card is posted {where}. It needs {runbook.approval.required} "
                 f"approval(s) from {approvers}; the session lasts "
                 f"{format_duration(runbook.session.duration)}.")]),
    ]
    for name, param in runbook.params.items():
        out.append(InputBlock(block_id=param_block(name), label=name,
                              element=_element(param, given.get(name)),
                              hint=_hint(param) or None))
    if context.source == "alert":
        out.append(ContextBlock(elements=[MarkdownTextObject(
            text="The values above come from the alert; they are checked again when you "
                 "submit.")]))
    optional = runbook.reason == "optional"
    out.append(InputBlock(
        block_id=REASON_BLOCK, label="Reason", optional=optional,
        hint=("Why you need this data; it is shown to the approvers and kept in the audit "
              "trail." + (" Optional." if optional else "")),
        element=PlainTextInputElement(
            action_id=INPUT_ACTION, multiline=True, max_length=MAX_REASON_LENGTH,
            placeholder="e.g. ticket 4411",
            initial_value=reason if reason and len(reason) <= MAX_REASON_LENGTH else None),
    ))
    view = View(type="modal", callback_id=MODAL_CALLBACK, title="JIT request",
                submit="Request", close="Cancel", blocks=out,
                private_metadata=context.dump())
    return view.to_dict()


def _element(param: Param, given: str | None) -> InputInteractiveElement:
    if param.type is ParamType.enum and param.values and len(param.values) <= MAX_SELECT_OPTIONS:
        options = [Option(value=v, text=_clip(v, OPTION_LIMIT)) for v in param.values]
        initial = next((o for o, v in zip(options, param.values, strict=True) if v == given),
                       None)
        return StaticSelectElement(action_id=INPUT_ACTION, options=options,
                                   initial_option=initial,
                                   placeholder=_clip(f"e.g. {param.example}", PLACEHOLDER_LIMIT)
                                   if param.example else "Choose a value")
    if param.type is ParamType.date:
        return DatePickerElement(action_id=INPUT_ACTION,
                                 initial_date=given if given and _is_date(given) else None,
                                 placeholder="Pick a date")
    placeholder = f"e.g. {param.example}" if param.example else None
    return PlainTextInputElement(
        action_id=INPUT_ACTION, max_length=MAX_VALUE_LENGTH,
        placeholder=_clip(placeholder, PLACEHOLDER_LIMIT) if placeholder else None,
        initial_value=given if given and len(given) <= MAX_VALUE_LENGTH else None)


def _hint(param: Param) -> str:
    facts = [param.description] if param.description else []
    if param.type is ParamType.string and param.pattern:
        facts.append(f"must match {param.pattern}")
    if param.type in (ParamType.integer, ParamType.decimal):
        facts.append(f"a {'whole' if param.type is ParamType.integer else 'decimal'} number")
        if param.min is not None:
            facts.append(f"at least {param.min}")
        if param.max is not None:
            facts.append(f"at most {param.max}")
    return _clip(" · ".join(facts), 2000)


def _is_date(raw: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw):
        return False
    try:
        date.fromisoformat(raw)
    except ValueError:
        return False
    return True


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---------------------------------------------------------------- the submission


def read_input(runbook: Runbook, state_values: Mapping[str, Any]) -> ModalInput:
    """Raw values from `view.state.values`, whatever element each input used."""
    values = {name: _entered(state_values.get(param_block(name))) or ""
              for name in runbook.params}
    reason = (_entered(state_values.get(REASON_BLOCK)) or "").strip() or None
    return ModalInput(values, reason)


def _entered(block_state: Any) -> str | None:
    if not isinstance(block_state, dict):
        return None
    element = block_state.get(INPUT_ACTION)
    if not isinstance(element, dict):
        return None
    kind = element.get("type")
    if kind == "static_select":
        option = element.get("selected_option")
        return str(option.get("value") or "") if isinstance(option, dict) else None
    if kind == "datepicker":
        return str(element.get("selected_date") or "") or None
    raw = element.get("value")
    return str(raw).strip() if raw is not None else None


def check_input(runbook: Runbook, entered: ModalInput) -> BoundRequest | dict[str, str]:
    """The bound request, or an error message per block id (shown next to each field)."""
    errors: dict[str, str] = {}
    for name, param in runbook.params.items():
        raw = entered.values.get(name, "")
        if raw == "":
            example = f", e.g. {param.example}" if param.example else ""
            errors[param_block(name)] = f"Give a value for {name}{example}."
            continue
        try:
            parse_value(param, raw)
        except ValueError as exc:
            errors[param_block(name)] = str(exc)
    if entered.reason is None and runbook.reason == "required":
        errors[REASON_BLOCK] = "Say why you need this, e.g. ticket 4411."
    if errors:
        return errors
    try:
        return bind(runbook, entered.values, entered.reason)
    except RequestError as exc:
        # every parameter parsed above, so what remains is about the reason
        return {REASON_BLOCK: "; ".join(exc.problems)}
