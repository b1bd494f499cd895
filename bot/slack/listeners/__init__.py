"""Slack listeners, one module per kind; each has `register(app, deps)`.

A listener only parses the payload, acks, and hands slow work to the worker pool.
"""

from __future__ import annotations

from slack_bolt import App

from bot.slack.deps import SlackDeps
from bot.slack.listeners import actions, alerts, commands, home, modal, reactions

MODULES = (commands, actions, reactions, alerts, modal, home)


def register_all(app: App, deps: SlackDeps) -> None:
    for module in MODULES:
        module.register(app, deps)
