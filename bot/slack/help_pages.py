"""`/jit help` answers, each built once per catalog and kept as the payload Slack gets.

The catalog is loaded at start and does not change while the bot serves, yet help is
asked all the time (a quarter of what an incident channel types), and building a page's
blocks and checking them against Slack's limits costs more than sending it: CPU taken from
the acks, which share the interpreter lock with the threads answering commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bot.core.runbooks import Runbook
from bot.slack import blocks

Page = dict[str, Any]  # keyword arguments for ack or respond: text and blocks


class HelpPages:
    """The help of one catalog's runbooks; safe to share between threads (two threads
    asking for a page not yet kept both build it, and one of the equal copies stays)."""

    def __init__(self) -> None:
        self._pages: dict[tuple[str, ...], Page] = {}

    def runbook(self, runbook: Runbook) -> Page:
        """`/jit help <runbook>`: its parameters, approvals and session."""
        return self._kept(("help", runbook.name), lambda: blocks.runbook_help(runbook))

    def listing(self, runbooks: Sequence[Runbook]) -> Page:
        """`/jit help`: these runbooks (all of them, or those a person may request)."""
        key = ("list", *(runbook.name for runbook in runbooks))
        return self._kept(key, lambda: blocks.runbook_list(runbooks))

    def _kept(self, key: tuple[str, ...], build: Callable[[], blocks.Message]) -> Page:
        page = self._pages.get(key)
        if page is None:
            page = self._pages.setdefault(key, build().as_kwargs())
        return page
