"""The life of a request (DESIGN §5): an Enum and the one table of allowed transitions.

    pending -> approved -> active -> ended
    pending -> denied | cancelled | expired
    approved -> ended          (the session could not start: grant or audit failed)
"""

from __future__ import annotations

from enum import StrEnum


class RequestState(StrEnum):
    pending = "pending"
    approved = "approved"
    active = "active"
    ended = "ended"
    denied = "denied"
    cancelled = "cancelled"
    expired = "expired"

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]


TRANSITIONS: dict[RequestState, frozenset[RequestState]] = {
    RequestState.pending: frozenset(
        {
            RequestState.approved,
            RequestState.denied,
            RequestState.cancelled,
            RequestState.expired,
        }
    ),
    RequestState.approved: frozenset({RequestState.active, RequestState.ended}),
    RequestState.active: frozenset({RequestState.ended}),
    RequestState.ended: frozenset(),
    RequestState.denied: frozenset(),
    RequestState.cancelled: frozenset(),
    RequestState.expired: frozenset(),
}

_LABELS = {
    RequestState.pending: "Waiting for approval",
    RequestState.approved: "Approved, starting the session",
    RequestState.active: "Session active",
    RequestState.ended: "Session ended",
    RequestState.denied: "Denied",
    RequestState.cancelled: "Cancelled",
    RequestState.expired: "Expired",
}


class IllegalTransition(ValueError):
    """A programming error: the code asked for a move the table does not allow."""


def check_transition(current: RequestState, target: RequestState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (final state)"
        raise IllegalTransition(
            f"{current} -> {target} is not allowed; {current} may go to {allowed}"
        )
