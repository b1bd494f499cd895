"""The boundary of the domain core: what it needs from outside (a directory of user
groups, scoped AWS access, a notifier) and the values it hands out (views, results,
refusals). The Slack layer implements Directory and Notifier; tests use fakes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from bot.core.execution import QueryResult
from bot.core.grants import Grant
from bot.core.queries import RenderedRequest
from bot.core.runbooks import Runbook
from bot.core.states import RequestState


class Decision(StrEnum):
    approve = "approve"
    deny = "deny"


class RequestSource(StrEnum):
    command = "command"
    alert = "alert"
    modal = "modal"


class DirectoryError(RuntimeError):
    """Group membership could not be looked up; the message says what to try."""


class Directory(Protocol):
    def members(self, handle: str) -> frozenset[str]:
        """User IDs in the user group `@handle`; empty when there is no such group.
        Raise DirectoryError when the lookup itself fails."""
        ...


class AccessPort(Protocol):
    """Scoped AWS access (bot.core.access.AwsAccess): errors are AccessError subclasses."""

    def grant(
        self,
        rendered: RenderedRequest,
        runbook: Runbook,
        *,
        request_id: str,
        requester: str,
        approvers: Sequence[str],
    ) -> Grant: ...

    def run(self, grant: Grant, rendered: RenderedRequest) -> QueryResult: ...

    def end(self, grant: Grant) -> None:
        """Forget anything kept for the grant (its client and the credentials it holds)."""
        ...


@dataclass(frozen=True)
class CardRef:
    """Where a request's card was posted."""

    channel: str
    ts: str


@dataclass(frozen=True)
class ApprovalView:
    user: str
    decision: Decision
    at: datetime


@dataclass(frozen=True)
class RequestView:
    """Everything a card, a thread reply or App Home shows about one request."""

    id: str
    runbook: str
    description: str
    params: dict[str, str]
    reason: str | None
    requester: str
    channel: str
    card_ts: str | None
    thread_ts: str | None  # the alert thread the request came from, if any
    source: RequestSource
    state: RequestState
    created_at: datetime
    expires_at: datetime  # when a pending request expires
    approvals: tuple[ApprovalView, ...]
    approvals_required: int
    approvers: tuple[str, ...]  # the runbook's principals: user IDs and @group handles
    rendered: RenderedRequest  # the exact DynamoDB call and scope
    role_arn: str
    session_duration: timedelta
    approved_at: datetime | None
    started_at: datetime | None
    session_ends_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    executions: int
    version: int  # grows with every change: drop a card update older than one already shown

    @property
    def approved_by(self) -> list[str]:
        return [a.user for a in self.approvals if a.decision is Decision.approve]

    @property
    def denied_by(self) -> list[str]:
        return [a.user for a in self.approvals if a.decision is Decision.deny]

    @property
    def approvals_missing(self) -> int:
        return max(0, self.approvals_required - len(self.approved_by))

    @property
    def reply_ts(self) -> str | None:
        """The thread every later step replies in."""
        return self.thread_ts or self.card_ts

    @property
    def can_decide(self) -> bool:
        """Approve / Deny / Cancel buttons apply."""
        return self.state is RequestState.pending

    @property
    def session_active(self) -> bool:
        """Run again / End session buttons apply."""
        return self.state is RequestState.active

    def time_left(self, now: datetime) -> timedelta | None:
        if self.state is not RequestState.active or self.session_ends_at is None:
            return None
        return max(timedelta(0), self.session_ends_at - now)


@dataclass(frozen=True)
class ResultOutput:
    """One execution's redacted results, ready to post: `text` when it fits in a message,
    otherwise a file; `summary` always. `sha256` is of exactly what is posted."""

    execution: int  # 1 for the first run, 2... for each Run again
    summary: str
    text: str | None
    file_name: str | None
    file_content: bytes | None
    file_format: str | None  # "csv" | "jsonl"
    sha256: str
    item_count: int
    redacted_count: int
    truncated: bool
    milliseconds: int


@dataclass(frozen=True)
class UserStatus:
    """`/jit status` and App Home: a user's requests, sessions and approvals to give."""

    pending: list[RequestView] = field(default_factory=list)
    active: list[RequestView] = field(default_factory=list)
    to_approve: list[RequestView] = field(default_factory=list)
    recent: list[RequestView] = field(default_factory=list)


class Notifier(Protocol):
    """How the core tells people what happened. Each call may raise; the workflow logs
    the failure (and audits it for results) and carries on."""

    def request_created(self, view: RequestView) -> CardRef | None:
        """Post the card; return where it landed (or call Workflow.attach_card later)."""
        ...

    def request_updated(self, view: RequestView) -> None:
        """The card must be re-rendered (state, approvals, buttons)."""
        ...

    def decision(self, view: RequestView, actor: str, decision: Decision) -> None:
        """An eligible approver approved or denied."""
        ...

    def request_closed(self, view: RequestView, actor: str, why: str) -> None:
        """A pending request was cancelled or expired."""
        ...

    def results(self, view: RequestView, output: ResultOutput) -> None: ...

    def failure(self, view: RequestView, message: str) -> None:
        """Something failed after approval (grant, query, redaction, audit)."""
        ...

    def session_ended(self, view: RequestView, actor: str, why: str) -> None: ...


class Refused(Exception):
    """A step that is not allowed. `user_message` is for the person who tried; `code` is
    stable for tests and metrics. Every refusal is audited before it is raised."""

    def __init__(self, user_message: str, code: str):
        super().__init__(user_message)
        self.user_message = user_message
        self.code = code


class RequestRefused(Refused):
    """A request that cannot be made: unknown runbook, bad parameters, not allowed."""

    def __init__(
        self,
        user_message: str,
        code: str,
        *,
        usage: str | None = None,
        problems: Sequence[str] = (),
        missing: Sequence[str] = (),
    ):
        super().__init__(user_message, code)
        self.usage = usage
        self.problems = list(problems)
        self.missing = list(missing)


class Unavailable(Refused):
    """The database or audit trail failed during a step, so the step did not happen."""

    def __init__(self) -> None:
        super().__init__(
            "jitbot could not record this step (its database or audit trail failed), so "
            "nothing changed; try again in a minute",
            "unavailable",
        )
