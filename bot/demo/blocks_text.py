"""Block Kit as terminal text, so the demo shows what Slack would show.

Mentions are resolved through a `names` map (user, user group and channel ids to names),
mrkdwn styling becomes rich markup, and code spans and blocks are left exactly as written:
a results table full of `customer_email`-style names must not turn italic.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]+))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]+))?>")
_CODE = re.compile(r"```\n?(.*?)```|`([^`\n]+)`", re.S)
_STYLES = [
    (re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])"), "bold"),
    (re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])"), "italic"),
    (re.compile(r"(?<![\w~])~([^~\n]+)~(?![\w~])"), "strike"),
]


def _mention(match: re.Match[str], names: dict[str, str]) -> str:
    sigil, ident, label = match.groups()
    if sigil == "@":
        return f"@{names.get(ident, label or ident)}"
    if sigil == "#":
        return f"#{label or names.get(ident, ident)}"
    kind, _, rest = ident.partition("^")
    if kind == "subteam":
        group = rest.split("^")[0]
        return "@" + names.get(group, (label or group).lstrip("@"))
    if kind == "date":
        return label or rest
    return f"@{label or kind}"  # !here, !channel, !everyone


# Slack emoji names that rich knows by another name
_EMOJI_ALIASES = {"large_green_circle": "green_circle", "large_yellow_circle": "yellow_circle",
                  "large_orange_circle": "orange_circle", "large_purple_circle": "purple_circle",
                  "thumbsup": "+1", "thumbsdown": "-1", "simple_smile": "slightly_smiling_face"}
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


def _styled(text: str) -> str:
    text = _EMOJI.sub(lambda m: f":{_EMOJI_ALIASES.get(m.group(1), m.group(1))}:", text)
    marked = escape(text)
    for pattern, style in _STYLES:
        marked = pattern.sub(lambda m, s=style: f"[{s}]{m.group(1)}[/{s}]", marked)
    return marked


def mrkdwn_to_markup(text: str, names: dict[str, str] | None = None) -> str:
    """Slack mrkdwn to rich markup: mentions resolved, *bold*, _italic_, ~strike~, `code`."""
    names = names or {}
    plain = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    plain = _MENTION.sub(lambda m: _mention(m, names), plain)
    plain = plain.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    out: list[str] = []
    position = 0
    for match in _CODE.finditer(plain):
        out.append(_styled(plain[position:match.start()]))
        code = match.group(1) if match.group(1) is not None else match.group(2)
        out.append(f"[cyan]{escape(code.rstrip())}[/cyan]")
        position = match.end()
    out.append(_styled(plain[position:]))
    return "".join(out)


def _text(obj: dict[str, Any] | None, names: dict[str, str]) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn_to_markup(obj.get("text", ""), names)
    return escape(obj.get("text", ""))


def button_label(element: dict[str, Any]) -> str:
    return str((element.get("text") or {}).get("text", "?"))


def _button(element: dict[str, Any]) -> str:
    style = {"primary": "green", "danger": "red"}.get(element.get("style", ""), "blue")
    return f"[bold {style}]\\[ {escape(button_label(element))} ][/bold {style}]"


def _rich_text(block: dict[str, Any]) -> str:
    out: list[str] = []
    for section in block.get("elements", []):
        pieces = [escape(el.get("text", "")) for el in section.get("elements", [])]
        text = "".join(pieces)
        out.append(f"[cyan]{text}[/cyan]" if section.get("type") == "rich_text_preformatted"
                   else text)
    return "\n".join(out)


def _input(block: dict[str, Any]) -> str:
    label = escape((block.get("label") or {}).get("text", ""))
    element = block.get("element") or {}
    initial = (element.get("initial_value") or element.get("initial_date")
               or ((element.get("initial_option") or {}).get("text") or {}).get("text"))
    options = [escape((o.get("text") or {}).get("text", "")) for o in element.get("options", [])]
    shown = f"[cyan]{escape(str(initial))}[/cyan]" if initial else "[dim]____[/dim]"
    hint = f" [dim](one of: {', '.join(options)})[/dim]" if options else ""
    optional = " [dim](optional)[/dim]" if block.get("optional") else ""
    return f"[bold]{label}[/bold]{optional}: {shown}{hint}"


def _with_code_blocks(text: str, names: dict[str, str]) -> list[Text]:
    """A section with code blocks. A table (a header ruled with dashes) keeps its rows: a
    row too wide for the terminal ends in an ellipsis instead of wrapping into the next."""
    parts: list[Text] = []
    for number, piece in enumerate(text.split("```")):
        if number % 2:
            code = piece.strip("\n")
            table = any(set(line.replace(" ", "")) == {"-"} for line in code.splitlines())
            parts.append(Text(code, style="cyan", no_wrap=table,
                              overflow="ellipsis" if table else "fold"))
        elif piece.strip():
            parts.append(Text.from_markup(mrkdwn_to_markup(piece.strip("\n"), names)))
    return parts


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
            text = block.get("text") or {}
            if text.get("type") == "mrkdwn" and "```" in text.get("text", ""):
                parts += _with_code_blocks(text["text"], names)
                lines = []
            else:
                lines = [_text(text, names)] if text else []
            fields = [_text(f, names) for f in block.get("fields", [])]
            lines += ["   ".join(fields[i:i + 2]) for i in range(0, len(fields), 2)]
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(_button(accessory))
            if any(lines):
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
            parts.append(Text.from_markup(_input(block)))
    return Group(*parts)


def buttons_of(blocks: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """Every button of a message or view as (block_id, element), in display order."""
    found: list[tuple[str, dict[str, Any]]] = []
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        accessory = block.get("accessory")
        if accessory and accessory.get("type") == "button":
            found.append((block_id, accessory))
        if block.get("type") == "actions":
            found += [(block_id, el) for el in block.get("elements", [])
                      if el.get("type") == "button"]
    return found


def message_panel(
    message: dict[str, Any], title: str, names: dict[str, str] | None = None,
    border_style: str = "magenta",
) -> Panel:
    body = blocks_to_renderable(message.get("blocks") or [], message.get("text", ""), names)
    return Panel(body, title=title, title_align="left", border_style=border_style)
