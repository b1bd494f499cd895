"""Match alert text against runbook triggers (DESIGN §1, Alerts).

The Slack layer collects an alert's text and resolves its channel; this module decides
which runbooks to offer and with which parameters, checking every value exactly as a
typed one would be checked, so a button never carries a value the request would reject.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.core.catalog import Catalog
from bot.core.params import parse_value
from bot.core.runbooks import Runbook, Trigger

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlertMatch:
    runbook: str
    values: dict[str, str]


def trigger_channels(catalog: Catalog) -> set[str]:
    """Every channel (name with `#`, or ID) that some trigger watches."""
    return {trigger.channel for rb in catalog for trigger in rb.triggers}


def _watches(trigger: Trigger, channel_id: str, channel_name: str | None) -> bool:
    wanted = trigger.channel
    if wanted.startswith("#"):
        return channel_name is not None and wanted[1:] == channel_name.lstrip("#")
    return wanted == channel_id


def match_alert(
    catalog: Catalog, channel_id: str, channel_name: str | None, text: str
) -> list[AlertMatch]:
    """One match per runbook whose trigger watches the channel and matches the text."""
    matches: list[AlertMatch] = []
    for runbook in catalog:
        for trigger in runbook.triggers:
            if not _watches(trigger, channel_id, channel_name):
                continue
            found = re.search(trigger.pattern, text)
            if found is None:
                continue
            values = {k: v for k, v in found.groupdict().items() if v is not None}
            if _valid(runbook, values):
                matches.append(AlertMatch(runbook=runbook.name, values=values))
                break
    return matches


def _valid(runbook: Runbook, values: dict[str, str]) -> bool:
    for name, raw in values.items():
        try:
            parse_value(runbook.params[name], raw)
        except ValueError as exc:
            log.info("alert value rejected", extra={"runbook": runbook.name, "param": name,
                                                    "why": str(exc)})
            return False
    return True
