"""Collect the readable text of a Slack message: its text, attachments and blocks.

Classic integrations often post with an empty `text` and everything in `attachments`;
modern apps put it in `blocks`. Triggers must see all of it.
"""

from __future__ import annotations

from typing import Any

_ATTACHMENT_FIELDS = ("pretext", "title", "text", "fallback", "footer")


def message_text(message: dict[str, Any]) -> str:
    parts: list[str] = []
    if message.get("text"):
        parts.append(str(message["text"]))
    for attachment in message.get("attachments") or []:
        parts.extend(str(attachment[k]) for k in _ATTACHMENT_FIELDS if attachment.get(k))
        for field in attachment.get("fields") or []:
            parts.extend(str(field[k]) for k in ("title", "value") if field.get(k))
        parts.extend(_blocks_text(attachment.get("blocks") or []))
    parts.extend(_blocks_text(message.get("blocks") or []))
    return "\n".join(parts)


def _blocks_text(blocks: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for block in blocks:
        for key in ("text", "title"):
            value = block.get(key)
            if isinstance(value, dict) and value.get("text"):
                out.append(str(value["text"]))
        for field in block.get("fields") or []:
            if isinstance(field, dict) and field.get("text"):
                out.append(str(field["text"]))
        if block.get("type") in ("rich_text", "context"):
            out.append(_rich_text(block.get("elements") or []))
    return [text for text in out if text]


def _rich_text(elements: list[Any]) -> str:
    """Flatten rich_text sections, lists and quotes, keeping text and link labels."""
    pieces: list[str] = []
    for element in elements:
        if not isinstance(element, dict):
            continue
        if "elements" in element:
            pieces.append(_rich_text(element["elements"]))
            if element.get("type") in ("rich_text_section", "rich_text_preformatted",
                                       "rich_text_quote", "rich_text_list"):
                pieces.append("\n")
        elif element.get("type") in ("text", "mrkdwn", "plain_text"):
            pieces.append(str(element.get("text", "")))
        elif element.get("type") == "link":
            pieces.append(str(element.get("text") or element.get("url", "")))
    return "".join(pieces).strip()
