"""Slack mrkdwn text that nobody can turn into a mention, a link or a channel ping.

Slack gives `&`, `<` and `>` a control meaning (`<!channel>`, `<@U1>`, `<http://x|y>`),
so every piece of text a person typed or a runbook author wrote goes through `escape`
before it lands in a mrkdwn field. Mentions the bot means to make are built here from
ids that are checked first.
"""

from __future__ import annotations

import re
from datetime import datetime

_USER_ID = re.compile(r"^[UW][A-Z0-9_]{1,40}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9_]{1,40}$")


def escape(text: object) -> str:
    """Text shown as typed: `&`, `<`, `>` become entities, so no control sequence survives."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    """Inline code; backticks inside cannot close the span early."""
    return "`" + escape(text).replace("`", "'") + "`"


def code_block(text: object) -> str:
    return "```" + escape(text).replace("```", "'''") + "```"


def user(user_id: str) -> str:
    """A mention of a Slack user, or the escaped text when it is not a user id."""
    return f"<@{user_id}>" if _USER_ID.match(user_id) else escape(user_id)


def channel(channel_id: str) -> str:
    return f"<#{channel_id}>" if _CHANNEL_ID.match(channel_id) else escape(channel_id)


def principal(name: str) -> str:
    """A runbook principal: a user id becomes a mention, a group handle stays plain text.

    Group handles are shown, not pinged: a `<!subteam^…>` on every card would page the
    whole approver group for each request.
    """
    return user(name) if _USER_ID.match(name) else escape(name)


def date(moment: datetime, fallback: str) -> str:
    """A time every reader sees in their own time zone (Slack's date formatting)."""
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{escape(fallback)}>"
