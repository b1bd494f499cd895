"""Slack user groups as the core's Directory, cached briefly (approvals must be fast)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.ports import DirectoryError

CACHE_SECONDS = 60.0


class SlackDirectory:
    """`@handle` -> member user IDs through usergroups.list and usergroups.users.list."""

    def __init__(self, client: WebClient, ttl: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._ids: tuple[float, dict[str, str]] | None = None
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    def members(self, handle: str) -> frozenset[str]:
        handle = handle.lstrip("@")
        now = self._clock()
        with self._lock:
            cached = self._members.get(handle)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        group_id = self._group_ids(now).get(handle)
        if group_id is None:
            return frozenset()
        try:
            response = self._client.usergroups_users_list(usergroup=group_id)
        except SlackApiError as exc:
            raise DirectoryError(
                f"could not read the members of @{handle} from Slack "
                f"({exc.response.get('error')}); check the app has usergroups:read"
            ) from None
        found = frozenset(response.get("users") or [])
        with self._lock:
            self._members[handle] = (now, found)
        return found

    def _group_ids(self, now: float) -> dict[str, str]:
        with self._lock:
            cached = self._ids
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = self._client.usergroups_list(include_disabled=False)
        except SlackApiError as exc:
            raise DirectoryError(
                f"could not list Slack user groups ({exc.response.get('error')}); "
                "check the app has usergroups:read"
            ) from None
        ids = {g["handle"]: g["id"] for g in response.get("usergroups") or []}
        with self._lock:
            self._ids = (now, ids)
        return ids
