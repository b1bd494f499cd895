"""A person's overview: `/jit status` (ephemeral) and App Home show the same facts."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.core.durations import format_duration
from bot.core.ports import RequestView, UserStatus
from bot.slack import blocks, mrkdwn


def _line(view: RequestView) -> str:
    params = ", ".join(f"{k}={v}" for k, v in view.params.items())
    return (f"{mrkdwn.code(view.id)} {mrkdwn.code(view.runbook)} {mrkdwn.escape(params)}"
            f" — {mrkdwn.escape(view.state.label)}")


def _where(view: RequestView) -> str:
    return f" in {mrkdwn.channel(view.channel)}"


def _left(view: RequestView, now: datetime) -> str:
    left = view.time_left(now)
    return f", {format_duration(left)} left" if left is not None else ""


def status_lines(status: UserStatus, now: datetime) -> list[str]:
    """The text of `/jit status`."""
    lines = ["*Your pending requests*"]
    lines += [f"• {_line(v)}{_where(v)}" for v in status.pending] or ["• none"]
    lines.append("*Your active sessions*")
    lines += [f"• {_line(v)}{_left(v, now)}{_where(v)}" for v in status.active] or ["• none"]
    lines.append("*Waiting for your approval*")
    lines += [f"• {_line(v)} by {mrkdwn.user(v.requester)}{_where(v)}"
              for v in status.to_approve] or ["• none"]
    return lines


def status_message(status: UserStatus, now: datetime) -> blocks.Message:
    return blocks.reply(status_lines(status, now))


def home_blocks(status: UserStatus, now: datetime) -> list[Block]:
    """App Home: approvals to give (with buttons), sessions with time left, history."""
    out: list[Block] = [HeaderBlock(text=PlainTextObject(text="jitbot", emoji=False))]
    out.append(SectionBlock(text=MarkdownTextObject(text="*Waiting for your approval*")))
    if not status.to_approve:
        out.append(_context("Nothing to approve."))
    for view in status.to_approve[:10]:
        out.append(SectionBlock(text=MarkdownTextObject(
            text=f"{_line(view)}\nRequested by {mrkdwn.user(view.requester)}{_where(view)}: "
                 f"{mrkdwn.escape(view.reason or 'no reason given')}")))
        out.append(ActionsBlock(block_id=f"home_{view.id}", elements=[
            ButtonElement(text="Approve", action_id=blocks.APPROVE, value=view.id,
                          style="primary"),
            ButtonElement(text="Deny", action_id=blocks.DENY, value=view.id, style="danger"),
        ]))
    out.append(DividerBlock())
    out.append(SectionBlock(text=MarkdownTextObject(text="*Your active sessions*")))
    if not status.active:
        out.append(_context("No active session."))
    for view in status.active[:10]:
        out.append(SectionBlock(text=MarkdownTextObject(
            text=f"{_line(view)}{_left(view, now)}{_where(view)}")))
    out.append(DividerBlock())
    out.append(SectionBlock(text=MarkdownTextObject(text="*Your recent requests*")))
    recent = [*status.pending, *status.recent]
    if not recent:
        out.append(_context("No requests yet. Type /jit help in any channel."))
    for view in recent[:10]:
        outcome = f" ({mrkdwn.escape(view.end_reason)})" if view.end_reason else ""
        out.append(SectionBlock(text=MarkdownTextObject(text=f"{_line(view)}{outcome}")))
    return out[:100]


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=mrkdwn.escape(text))])
