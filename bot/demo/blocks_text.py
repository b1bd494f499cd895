"""Block Kit as terminal text, so the demo shows what Slack would show."""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]+))?>")
_LINK = re.compile(r"<(https?://[^>|]+)(?:\|([^>]+))?>")


def mrkdwn_to_markup(text: str, names: dict[str, str] | None = None) -> str:
    """Slack mrkdwn to rich markup: mentions resolved, *bold*, `code`, entities decoded."""
    names = names or {}

    def mention(match: re.Match[str]) -> str:
        sigil, ident, label = match.groups()
        if sigil == "@":
            return f"@{names.get(ident, label or ident)}"
        if sigil == "#":
            return f"#{label or names.get(ident, ident)}"
        return f"@{label or ident.split('^')[0]}"

    plain = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    plain = _MENTION.sub(mention, plain)
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    marked = escape(plain)
    marked = re.sub(r"```\n?(.*?)```", lambda m: f"[cyan]{m.group(1)}[/cyan]", marked, flags=re.S)
    marked = re.sub(r"`([^`\n]+)`", r"[cyan]\1[/cyan]", marked)
    marked = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"[bold]\1[/bold]", marked)
    return marked


def _text(obj: dict[str, Any] | None, names: dict[str, str]) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_markup(obj.get("text", ""), names)
    return escape(obj.get("text", ""))


def _button(element: dict[str, Any]) -> str:
    label = escape(element.get("text", {}).get("text", "?"))
    style = {"primary": "green", "danger": "red"}.get(element.get("style", ""), "blue")
    return f"[reverse {style}] {label} [/reverse {style}]"


def _rich_text(block: dict[str, Any]) -> str:
    out: list[str] = []
    for section in block.get("elements", []):
        pieces = [escape(el.get("text", "")) for el in section.get("elements", [])]
        text = "".join(pieces)
        out.append(f"[cyan]{text}[/cyan]" if section.get("type") == "rich_text_preformatted"
                   else text)
    return "\n".join(out)


def blocks_to_renderable(
    blocks: list[dict[str, Any]], fallback: str = "", names: dict[str, str] | None = None
) -> RenderableType:
    """Render a message's blocks (or its plain text when it has none)."""
    names = names or {}
    if not blocks:
        return Text.from_markup(mrkdwn_to_markup(fallback, names))
    parts: list[RenderableType] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            parts.append(Text.from_markup(f"[bold underline]{_text(block.get('text'), names)}"))
        elif kind == "section":
            lines = [_text(block.get("text"), names)] if block.get("text") else []
            fields = [_text(f, names) for f in block.get("fields", [])]
            lines += [" · ".join(fields[i:i + 2]) for i in range(0, len(fields), 2)]
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(_button(accessory))
            parts.append(Text.from_markup("\n".join(line for line in lines if line)))
        elif kind == "context":
            text = "  ".join(_text(el, names) for el in block.get("elements", []) if "text" in el)
            parts.append(Text.from_markup(f"[dim]{text}[/dim]"))
        elif kind == "divider":
            parts.append(Text("─" * 40, style="dim"))
        elif kind == "actions":
            elements = block.get("elements", [])
            buttons = [_button(el) for el in elements if el.get("type") == "button"]
            parts.append(Text.from_markup("  ".join(buttons)))
        elif kind == "rich_text":
            parts.append(Text.from_markup(_rich_text(block)))
        elif kind == "input":
            label = escape(block.get("label", {}).get("text", ""))
            parts.append(Text.from_markup(f"[bold]{label}[/bold]: ____"))
    return Group(*parts)


def message_panel(
    message: dict[str, Any], title: str, names: dict[str, str] | None = None
) -> Panel:
    body = blocks_to_renderable(message.get("blocks") or [], message.get("text", ""), names)
    return Panel(body, title=title, title_align="left", border_style="magenta")
