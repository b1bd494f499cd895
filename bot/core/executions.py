"""Executions: run a session's query, redact, present, audit, post (DESIGN §1 Session).

Order matters. The query runs with the session's grant; its results are redacted and
presented in memory; then one step records the execution and its audit row (with the
sha256 of exactly what will be posted); only then are results posted, once. A failed
audit write means nothing is posted; a failed redaction means nothing is posted and the
trail says why; a failed post is audited and never retried behind the person's back.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import func, select, update

from bot.core.access_errors import AccessError
from bot.core.audit import SYSTEM_ACTOR, AuditError, AuditEvent
from bot.core.credentials import CredentialStore
from bot.core.execution import QueryResult
from bot.core.grants import Grant
from bot.core.ports import AccessPort, Refused, RequestView, ResultOutput
from bot.core.results import ResultsWithheld, build_output
from bot.core.runbooks import Runbook
from bot.core.states import RequestState
from bot.core.steps import Steps, log
from bot.db.models import ExecutionRow, SessionRow
from bot.db.repository import lock_request

REFUSED = AuditEvent.action_refused


class Executions:
    def __init__(self, steps: Steps, access: AccessPort, credentials: CredentialStore,
                 redaction_key: bytes):
        self.steps = steps
        self.access = access
        self.credentials = credentials
        self.redaction_key = redaction_key

    def run_again(self, request_id: str, user: str) -> ResultOutput | None:
        view = self.steps.existing(request_id, user, REFUSED, action="run_again")
        if user != view.requester:
            self.steps.refuse(REFUSED, view.id, user, "not_requester",
                              f"only the requester, <@{view.requester}>, can run the query "
                              "again", action="run_again")
        now = self.steps.clock()
        if view.state is not RequestState.active or (
            view.session_ends_at is not None and view.session_ends_at <= now
        ):
            self.steps.refuse(REFUSED, view.id, user, "no_session",
                              "the session is not active any more; request the runbook again",
                              action="run_again")
        runbook = self.steps.catalog.get(view.runbook)
        if runbook is None:
            self.steps.refuse(REFUSED, view.id, user, "unknown_runbook",
                              f"runbook {view.runbook} is no longer in the runbook folder",
                              action="run_again")
        grant = self.credentials.get(view.id, now) or self.reassume(view, runbook)
        if grant is None:
            return None
        return self.execute(view, runbook, grant, actor=user)

    def reassume(self, view: RequestView, runbook: Runbook) -> Grant | None:
        """No live credentials in this process (a restart, another replica, or STS expiry
        before the session's end): assume the role again. The deadline does not move."""
        try:
            grant = self.access.grant(view.rendered, runbook, request_id=view.id,
                                      requester=view.requester, approvers=view.approved_by)
        except AccessError as exc:
            self.failed(view, AuditEvent.credentials_failed, exc.kind,
                        f"Could not renew the session's credentials: {exc.user_message}")
            return None
        try:
            with self.steps.step() as step:
                row = lock_request(step.session, view.id)
                live = row is not None and row.state == RequestState.active.value
                if live:
                    step.session.execute(
                        update(SessionRow).where(SessionRow.request_id == view.id).values(
                            access_key_id=grant.access_key_id,
                            credentials_expire_at=grant.expiration,
                            grants=SessionRow.grants + 1,
                        )
                    )
                    step.audit(AuditEvent.credentials_issued, SYSTEM_ACTOR,
                               request_id=view.id, reissued=True,
                               session_ends_at=view.session_ends_at, **grant_details(grant))
        except Refused:
            self.forget(grant)
            raise
        if not live:
            self.forget(grant)
            raise Refused("the session ended meanwhile; request the runbook again",
                          "no_session")
        assert view.session_ends_at is not None
        self.credentials.put(view.id, grant, view.session_ends_at)
        return grant

    def execute(self, view: RequestView, runbook: Runbook, grant: Grant, *,
                actor: str) -> ResultOutput | None:
        try:
            result = self.access.run(grant, view.rendered)
        except AccessError as exc:
            self.failed(view, AuditEvent.query_failed, exc.kind,
                        f"The query failed: {exc.user_message}")
            return None
        except Exception as exc:
            log.warning("query for %s failed: %s", view.id, type(exc).__name__)
            self.failed(view, AuditEvent.query_failed, "unexpected",
                        f"The query failed (unexpected {type(exc).__name__}; see the bot's "
                        "logs)")
            return None
        output: ResultOutput | None = None
        withheld: ResultsWithheld | None = None
        try:
            output = build_output(runbook, result, self.redaction_key)
        except ResultsWithheld as exc:
            withheld = exc
        try:
            number = self._record(view, actor, result, output, withheld)
        except Refused:
            self.steps.notify("failure", view, "The results were not posted: the audit "
                              "trail could not record the query.")
            return None
        if output is None:
            assert withheld is not None
            self.steps.notify("failure", view, f"Results withheld: {withheld.reason}. "
                              "Nothing was posted.")
            return None
        output = replace(output, execution=number, file_name=(
            f"{runbook.name}-{view.id}-{number}.{output.file_format}"
            if output.file_format else None))
        posted, error = self.steps.notify("results", view, output)
        self._delivered(view.id, number, output, posted, error)
        if not posted:
            self.steps.notify("failure", view, "The results could not be posted "
                              f"({type(error).__name__}); press Run again to try again.")
            return None
        return output

    def _record(self, view: RequestView, actor: str, result: QueryResult,
                output: ResultOutput | None, withheld: ResultsWithheld | None) -> int:
        call = view.rendered.call
        redacted = output.redacted_count if output else 0
        digest = output.sha256 if output else None
        with self.steps.step() as step:
            lock_request(step.session, view.id)  # numbers executions one at a time
            number = 1 + int(step.session.execute(
                select(func.coalesce(func.max(ExecutionRow.number), 0))
                .where(ExecutionRow.request_id == view.id)
            ).scalar_one())
            step.session.add(ExecutionRow(
                request_id=view.id, number=number, actor=actor, started_at=step.now,
                action=call.operation, table_name=call.table, item_count=result.count,
                bytes_read=result.bytes, redacted_count=redacted,
                duration_ms=round(result.milliseconds), truncated=result.truncated,
                result_sha256=digest, aws_request_ids=json.dumps(list(result.request_ids)),
                delivery="pending" if output else "withheld",
            ))
            step.audit(AuditEvent.query_executed, actor, request_id=view.id,
                       execution=number, action=call.operation, table=call.table,
                       index=call.index, key=view.rendered.scope.leading_keys,
                       item_count=result.count, bytes=result.bytes, redacted_count=redacted,
                       truncated=result.truncated, ms=round(result.milliseconds),
                       result_sha256=digest, aws_request_ids=list(result.request_ids))
            if withheld is not None:
                step.audit(AuditEvent.results_withheld, SYSTEM_ACTOR, request_id=view.id,
                           execution=number, reason=withheld.reason)
        return number

    def _delivered(self, request_id: str, number: int, output: ResultOutput, posted: bool,
                   error: Any) -> None:
        try:
            with self.steps.step() as step:
                step.session.execute(
                    update(ExecutionRow)
                    .where(ExecutionRow.request_id == request_id,
                           ExecutionRow.number == number, ExecutionRow.delivery == "pending")
                    .values(delivery="posted" if posted else "failed")
                )
                if posted:
                    step.audit(AuditEvent.results_posted, SYSTEM_ACTOR, request_id=request_id,
                               execution=number, sha256=output.sha256,
                               format=output.file_format or "message")
                else:
                    step.audit(AuditEvent.results_failed, SYSTEM_ACTOR, request_id=request_id,
                               execution=number, error=type(error).__name__)
        except Refused:
            log.warning("could not record the delivery of %s #%s", request_id, number)

    def failed(self, view: RequestView, event: AuditEvent, kind: str, message: str) -> None:
        """Audit a failure (best effort: the person hears of it either way)."""
        try:
            with self.steps.step() as step:
                step.audit(event, SYSTEM_ACTOR, request_id=view.id, kind=kind, message=message)
        except Refused:
            log.warning("could not audit a failure of %s", view.id)
        self.steps.notify("failure", view, message)

    def forget(self, grant: Grant) -> None:
        try:
            self.access.end(grant)
        except Exception as exc:
            log.warning("could not drop a grant's client: %s", type(exc).__name__)


def grant_details(grant: Grant) -> dict[str, Any]:
    """The grant's safe facts; refuses (failing the step) if a secret slipped in."""
    details = grant.audit_details()
    secrets = {grant.secret_access_key, grant.session_token}
    if any(isinstance(v, str) and v in secrets for v in details.values()):
        raise AuditError("a grant's audit details contain a secret; refusing to record them")
    return details
