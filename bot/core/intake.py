"""Intake: a request becomes a pending row with its card, or a refusal with its usage.

Who may request is checked (DESIGN §2 `requesters`), parameters are bound and the exact
DynamoDB call is rendered once, here: approvers approve that call, and that call runs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import NoReturn

from sqlalchemy import bindparam, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.core.audit import AuditEvent
from bot.core.params import BoundRequest, RequestError, bind
from bot.core.policy import may_request, requesters_text
from bot.core.ports import (
    CardRef,
    Directory,
    DirectoryError,
    RequestRefused,
    RequestSource,
    RequestView,
    Unavailable,
)
from bot.core.queries import RenderedRequest, render
from bot.core.runbooks import Runbook
from bot.core.sessions import Deadline
from bot.core.states import RequestState
from bot.core.steps import Steps, new_view
from bot.db.models import RequestRow
from bot.db.repository import new_request_id, pending_same, same_request_key

# Pauses before each new try at recording a card's place while the database is out:
# about five minutes in all, on the worker that posted the card.
ATTACH_PAUSES = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 60, 60, 60)
log = logging.getLogger(__name__)

# Every request runs this UPDATE: built once, SQLAlchemy reuses the statement and its
# compiled form instead of building and hashing a new one per request.
_ATTACH_CARD = (
    update(RequestRow).where(RequestRow.id == bindparam("request"))
    .values(channel=bindparam("card_channel"), card_ts=bindparam("card_ts"))
    .execution_options(synchronize_session=False)
)


class _SamePending(Exception):
    """The request being made is pending already, as `request_id`."""

    def __init__(self, request_id: str) -> None:
        super().__init__(request_id)
        self.request_id = request_id


class Intake:
    def __init__(self, steps: Steps, directory: Directory, *, request_ttl: timedelta,
                 default_region: str, announce: Callable[[Deadline], None]):
        self.steps = steps
        self.directory = directory
        self.request_ttl = request_ttl
        self.default_region = default_region
        self.announce = announce

    def create(self, requester: str, runbook_name: str, values: Mapping[str, str],
               reason: str | None, channel: str, thread_ts: str | None,
               source: RequestSource) -> RequestView:
        runbook = self.steps.catalog.get(runbook_name)
        if runbook is None:
            known = ", ".join(self.steps.catalog.names) or "none"
            self.reject(requester, channel, runbook_name, "unknown_runbook",
                        f"there is no runbook called {runbook_name!r}; runbooks: {known}",
                        usage="/jit help")
        self.check_requester(requester, channel, runbook)
        try:
            bound = bind(runbook, dict(values), reason)
        except RequestError as exc:
            self.reject(requester, channel, runbook.name, "bad_params",
                        "; ".join(exc.problems), usage=exc.usage, problems=exc.problems,
                        missing=exc.missing)
        return self.record(bound, requester, channel, thread_ts, source)

    def check_requester(self, requester: str, channel: str, runbook: Runbook) -> None:
        try:
            allowed = may_request(runbook, requester, self.directory)
        except DirectoryError as exc:
            self.reject(requester, channel, runbook.name, "directory",
                        f"could not check who may request {runbook.name} ({exc}); "
                        "try again in a minute")
        if not allowed:
            self.reject(requester, channel, runbook.name, "not_allowed",
                        f"you may not request {runbook.name}: only "
                        f"{requesters_text(runbook)} may; ask one of them to request it",
                        usage=runbook.usage())

    def record(self, bound: BoundRequest, requester: str, channel: str,
               thread_ts: str | None, source: RequestSource) -> RequestView:
        runbook = bound.runbook
        rendered = render(bound, self.default_region)
        params = bound.as_text()
        key = same_request_key(requester, runbook.name, params, channel, thread_ts)
        try:
            view = self._insert(bound, requester, channel, thread_ts, source, rendered,
                                params, key)
        except _SamePending as same:
            self._refuse_again(requester, channel, runbook, same.request_id)
        except Unavailable as exc:
            # the same request committed by another thread or replica first (a double
            # click): the unique key refused this one
            if not isinstance(exc.__cause__, IntegrityError):
                raise
            with self.steps.reading() as session:
                first = pending_same(session, key)
            self._refuse_again(requester, channel, runbook, first)
        self.announce(Deadline("expiry", view.id, view.expires_at))
        posted, card = self.steps.notify("request_created", view)
        if posted and isinstance(card, CardRef) and self.attach_card(view.id, card.channel,
                                                                     card.ts):
            view = replace(view, channel=card.channel, card_ts=card.ts)  # as attached
        return view

    def _insert(self, bound: BoundRequest, requester: str, channel: str,
                thread_ts: str | None, source: RequestSource, rendered: RenderedRequest,
                params: dict[str, str], key: str) -> RequestView:
        """Add the pending row and its audit entry; raises _SamePending when the same
        request is pending already."""
        runbook = bound.runbook
        with self.steps.step() as step:
            same = pending_same(step.session, key)
            if same is not None:
                raise _SamePending(same)
            request_id = new_request_id()
            while step.session.get(RequestRow, request_id) is not None:
                request_id = new_request_id()
            expires_at = step.now + self.request_ttl
            row = RequestRow(
                id=request_id, runbook=runbook.name,
                params=json.dumps(params, sort_keys=True, ensure_ascii=False),
                reason=bound.reason, requester=requester, channel=channel, card_ts=None,
                thread_ts=thread_ts, source=source.value, state=RequestState.pending.value,
                approvals_required=runbook.approval.required,
                rendered=rendered.model_dump_json(), created_at=step.now,
                expires_at=expires_at, version=1, pending_key=key,
            )
            step.session.add(row)
            # the card shows the row as inserted: reading it back after the commit would
            # cost another transaction per request, and only the card's ts changes below
            view = new_view(row, self.steps.catalog)
            step.audit(
                AuditEvent.request_created, requester, request_id=request_id,
                runbook=runbook.name, params=params, reason=bound.reason, channel=channel,
                thread_ts=thread_ts, source=source.value, operation=rendered.call.operation,
                table=rendered.call.table, index=rendered.call.index,
                key=rendered.scope.leading_keys, approvals_required=runbook.approval.required,
                expires_at=expires_at,
            )
        return view

    def _refuse_again(self, requester: str, channel: str, runbook: Runbook,
                      same: str | None) -> NoReturn:
        # `same` is None only if that request was decided in the moment since
        which = f"request {same}" if same else "that request"
        self.reject(requester, channel, runbook.name, "already_pending",
                    f"you already asked for exactly this: {which} is waiting for approval; "
                    "its card has the buttons (Cancel it there to ask again differently)")

    def attach_card(self, request_id: str, channel: str, ts: str) -> bool:
        """Record where the card landed; while the database is out, try again after each
        of ATTACH_PAUSES. The card is in Slack already: without its place a reaction on
        it finds no request, and the replies and results would miss its thread. False
        (and an error logged) if the database stayed out all that time."""
        values = {"request": request_id, "card_channel": channel, "card_ts": ts}
        # The card is in Slack already, and a click on it can come in before the write
        # below commits: until it does, this process's views show the card from here
        # (see Steps.unrecorded_cards), so the approval still answers in its thread.
        self.steps.unrecorded_cards[request_id] = CardRef(channel=channel, ts=ts)
        for pause in (*ATTACH_PAUSES, None):
            try:
                with self.steps.database.transaction() as session:
                    session.execute(_ATTACH_CARD, values)
                self.steps.unrecorded_cards.pop(request_id, None)
                return True
            except SQLAlchemyError as exc:
                # Type only: a database error's text may quote the statement's parameters.
                if pause is None or self.steps.closing.is_set():
                    log.error("the card of request %s was never recorded: %s", request_id,
                              type(exc).__name__)
                    return False
                log.warning("recording the card of request %s failed: %s; again in %s s",
                            request_id, type(exc).__name__, pause)
                self.steps.closing.wait(pause)
        return False

    def reject(self, requester: str, channel: str, runbook: str | None, code: str,
               message: str, *, usage: str | None = None, problems: Sequence[str] = (),
               missing: Sequence[str] = ()) -> NoReturn:
        with self.steps.step() as step:
            step.audit(AuditEvent.request_rejected, requester, runbook=runbook,
                       channel=channel, code=code, problems=list(problems) or [message])
        raise RequestRefused(message, code, usage=usage, problems=problems or [message],
                             missing=missing)
