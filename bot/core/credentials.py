"""Session credentials, in this process's memory and nowhere else (DESIGN §1).

The database holds the facts of a grant (role session name, access key id, expiry),
never the secret key or session token: those live here, keyed by request id, and are
dropped when the session ends or its time is up.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from bot.core.grants import Grant

EXPIRY_MARGIN = timedelta(seconds=30)  # never start a query on credentials about to lapse


class CredentialStore:
    """Grants by request id, in memory only, each kept no longer than its session."""

    def __init__(self) -> None:
        self._grants: dict[str, tuple[Grant, datetime]] = {}
        self._lock = threading.Lock()

    def put(self, request_id: str, grant: Grant, until: datetime) -> None:
        with self._lock:
            self._grants[request_id] = (grant, until)

    def get(self, request_id: str, now: datetime) -> Grant | None:
        """The live grant of a session, or None (never had, past the session, expired)."""
        with self._lock:
            kept = self._grants.get(request_id)
        if kept is None:
            return None
        grant, until = kept
        if now >= until or grant.expired(now + EXPIRY_MARGIN):
            return None
        return grant

    def drop(self, request_id: str) -> Grant | None:
        with self._lock:
            kept = self._grants.pop(request_id, None)
        return kept[0] if kept else None

    def __contains__(self, request_id: object) -> bool:
        with self._lock:
            return request_id in self._grants

    def __len__(self) -> int:
        with self._lock:
            return len(self._grants)
