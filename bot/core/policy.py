"""Who may request a runbook and who may approve it (DESIGN §1, §2).

A runbook names principals: Slack user IDs (`U0123ABCD`) and user-group handles
(`@oncall`). Group membership comes from a `Directory` (ports), which the Slack layer
backs with `usergroups.users.list`; the core never talks to Slack itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.ports import Directory
from bot.core.runbooks import Runbook


def is_group(principal: str) -> bool:
    return principal.startswith("@")


def is_listed(user: str, principals: Iterable[str], directory: Directory) -> bool:
    """True when the user is named directly or belongs to one of the named groups.

    Direct IDs are checked first so a listed user never depends on a directory lookup."""
    listed = list(principals)
    if user in listed:
        return True
    return any(user in directory.members(p) for p in listed if is_group(p))


def may_request(runbook: Runbook, user: str, directory: Directory) -> bool:
    """Anyone may request a runbook without `requesters`; otherwise only those listed."""
    if not runbook.requesters:
        return True
    return is_listed(user, runbook.requesters, directory)


def may_approve(runbook: Runbook, user: str, requester: str, directory: Directory) -> bool:
    """An eligible approver is listed in the runbook and is not the requester."""
    if user == requester:
        return False
    return is_listed(user, runbook.approval.approvers, directory)


def requesters_text(runbook: Runbook) -> str:
    return ", ".join(runbook.requesters) if runbook.requesters else "anyone"


def approvers_text(runbook: Runbook) -> str:
    return ", ".join(runbook.approval.approvers)
