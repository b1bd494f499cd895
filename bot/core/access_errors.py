"""The one error family of scoped AWS access: grants, the scope guard and query execution.

Every error carries `user_message` (what went wrong and how to fix it, safe to show in
Slack) and `kind` (a short machine-readable cause for audit and metrics).
"""

from __future__ import annotations


class AccessError(Exception):
    def __init__(self, user_message: str, kind: str) -> None:
        super().__init__(user_message)
        self.user_message = user_message
        self.kind = kind
