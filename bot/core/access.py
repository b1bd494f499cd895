"""Scoped AWS access as the request workflow sees it: grant a session, run its query.

A session may run its query more than once (Run again); the guarded client of a grant is
kept for that and dropped, with the credentials it holds, when the session ends.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from bot.core.aws import AwsClients
from bot.core.execution import MAX_BYTES, QueryResult, execute
from bot.core.grants import Grant, assume
from bot.core.queries import RenderedRequest
from bot.core.runbooks import Runbook


class AwsAccess:
    def __init__(self, aws: AwsClients, *, max_bytes: int = MAX_BYTES) -> None:
        self.aws = aws
        self.max_bytes = max_bytes
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def grant(
        self,
        rendered: RenderedRequest,
        runbook: Runbook,
        *,
        request_id: str,
        requester: str,
        approvers: Sequence[str],
    ) -> Grant:
        """Assume the runbook's role for one approved request (raises GrantError)."""
        return assume(rendered, runbook, request_id=request_id, requester=requester,
                      approvers=approvers, aws=self.aws)

    def run(self, grant: Grant, rendered: RenderedRequest) -> QueryResult:
        """Run the request with the grant (raises QueryError, or GrantError once expired)."""
        with self._lock:
            client = self._clients.get(grant.access_key_id)
        if client is None:
            client = self.aws.dynamodb_for(grant)
            with self._lock:
                self._clients[grant.access_key_id] = client
        try:
            return execute(grant, rendered, aws=self.aws, max_bytes=self.max_bytes,
                           client=client)
        finally:
            if grant.expired():
                self.end(grant)

    def end(self, grant: Grant) -> None:
        """Forget the grant's client (and the credentials it holds)."""
        with self._lock:
            self._clients.pop(grant.access_key_id, None)
