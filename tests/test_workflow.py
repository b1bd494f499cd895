"""The request workflow end to end with doubles for Slack and AWS: every flow of
DESIGN §1, its refusals, its failures, and the audit rows each step leaves."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest

from bot.core.access_errors import AccessError
from bot.core.audit import AuditError, AuditEvent
from bot.core.ports import Decision, Refused, RequestRefused, RequestSource, ResultOutput
from bot.core.states import RequestState
from bot.db.engine import Database
from tests.support.db import (
    APPROVERS,
    DBAS,
    ORDER_ITEM,
    OTHER_REQUESTER,
    OUTSIDER,
    REQUESTER,
    Core,
    FakeAccess,
    Recorder,
    StaticDirectory,
    make_core,
    shipped_runbooks,
)

ALICE, BOB = APPROVERS[1], APPROVERS[2]


def events(core: Core, request_id: str | None = None) -> list[str]:
    return [r.event for r in core.workflow.audit.records(request_id=request_id)]


def lookup(core: Core, order_id: str = "1001", requester: str = REQUESTER):
    return core.workflow.create(requester, "orders-lookup", {"order_id": order_id},
                                "ticket 4411", "C0ALERTS")


# ---- creating ----------------------------------------------------------------------


def test_a_request_is_recorded_audited_and_its_card_attached(core: Core) -> None:
    view = lookup(core)
    assert view.state is RequestState.pending
    assert view.params == {"order_id": "1001"} and view.reason == "ticket 4411"
    assert view.card_ts is not None and view.reply_ts == view.card_ts
    assert view.rendered.call.key == {"pk": {"S": "ORDER#1001"}, "sk": {"S": "ORDER"}}
    assert view.rendered.scope.leading_keys == ["ORDER#1001"]
    assert view.approvals_required == 1 and view.approvers == ("@oncall-leads",)
    assert view.expires_at - view.created_at == timedelta(minutes=30)
    assert core.notifier.names() == ["request_created"]
    assert core.workflow.find_by_card("C0ALERTS", view.card_ts) == view
    [created] = core.workflow.audit.records(request_id=view.id)
    assert created.event == "request.created" and created.actor == REQUESTER
    assert created.details["params"] == {"order_id": "1001"}
    assert created.details["key"] == ["ORDER#1001"]


def test_a_request_from_an_alert_keeps_its_thread(core: Core) -> None:
    view = core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "alert",
                                "C0ALERTS", thread_ts="1699999999.000100",
                                source=RequestSource.alert)
    assert view.source is RequestSource.alert and view.reply_ts == "1699999999.000100"


@pytest.mark.parametrize(("runbook", "values", "user", "code", "words"), [
    ("orders-lokup", {"order_id": "1001"}, REQUESTER, "unknown_runbook", "no runbook"),
    ("orders-lookup", {"order_id": "x"}, REQUESTER, "bad_params", "does not match"),
    ("orders-lookup", {}, REQUESTER, "bad_params", "missing parameter order_id"),
    ("orders-lookup", {"order_id": "1001"}, OUTSIDER, "not_allowed", "only @oncall"),
])
def test_a_bad_request_is_refused_audited_and_nothing_else(
    core: Core, runbook: str, values: dict[str, str], user: str, code: str, words: str
) -> None:
    with pytest.raises(RequestRefused) as refused:
        core.workflow.create(user, runbook, values, "ticket 4411", "C0ALERTS")
    assert refused.value.code == code and words in refused.value.user_message
    if code != "unknown_runbook":
        assert refused.value.usage and refused.value.usage.startswith("/jit orders-lookup")
    [rejected] = core.workflow.audit.records()
    assert rejected.event == "request.rejected" and rejected.actor == user
    assert rejected.details["code"] == code
    assert core.notifier.calls == []
    assert core.workflow.status_for(user).pending == []


def test_a_missing_reason_is_refused(core: Core) -> None:
    with pytest.raises(RequestRefused, match="missing reason"):
        core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, None, "C1")


def test_the_same_request_while_it_is_pending_is_refused_and_points_at_it(
        core: Core) -> None:
    first = lookup(core)
    with pytest.raises(RequestRefused) as again:  # a second click, another reason
        core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "still stuck",
                             "C0ALERTS")
    assert again.value.code == "already_pending"
    assert f"request {first.id} is waiting for approval" in again.value.user_message
    assert core.notifier.names() == ["request_created"]  # one card
    assert [r.details["code"] for r in core.workflow.audit.records()
            if r.event == "request.rejected"] == ["already_pending"]
    # a different order, person, channel or thread is another request
    lookup(core, order_id="1002")
    lookup(core, requester=OTHER_REQUESTER)
    core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "x", "C0OPS")
    core.workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "x", "C0ALERTS",
                         thread_ts="1699999999.000100", source=RequestSource.alert)
    assert core.notifier.names().count("request_created") == 5


@pytest.mark.parametrize("close", ["cancel", "deny", "expire"])
def test_once_the_request_is_no_longer_pending_it_can_be_asked_again(
        core: Core, close: str) -> None:
    first = lookup(core)
    if close == "cancel":
        core.workflow.cancel(first.id, REQUESTER)
    elif close == "deny":
        core.workflow.deny(first.id, ALICE)
    else:
        core.workflow.expire_due(first.created_at + timedelta(minutes=31))
    second = lookup(core)
    assert second.id != first.id and second.state is RequestState.pending


def test_two_clicks_racing_past_the_check_still_make_one_request(
        core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core import intake

    first = lookup(core)
    real = intake.pending_same
    looked: list[str] = []

    def blind_once(session: Any, key: str) -> str | None:
        # the second click's check runs before the first click's row is committed
        looked.append(key)
        return None if len(looked) == 1 else real(session, key)

    monkeypatch.setattr(intake, "pending_same", blind_once)
    with pytest.raises(RequestRefused) as again:
        lookup(core)
    assert again.value.code == "already_pending" and first.id in again.value.user_message
    assert len(looked) == 2  # the database's unique key refused the row, not the check
    assert core.notifier.names() == ["request_created"]


def test_rejections_from_the_slack_layer_are_audited(core: Core) -> None:
    core.workflow.record_rejection(REQUESTER, "C1", None, ["unbalanced quotes"])
    [row] = core.workflow.audit.records()
    assert (row.event, row.details["problems"]) == ("request.rejected", ["unbalanced quotes"])


# ---- approving ---------------------------------------------------------------------


def test_one_approval_starts_the_session_and_posts_redacted_results(core: Core) -> None:
    view = lookup(core)
    after = core.workflow.approve(view.id, ALICE)
    assert after.state is RequestState.active and after.approved_by == [ALICE]
    assert after.session_ends_at - after.started_at == timedelta(minutes=15)
    assert after.executions == 1
    [(_, output)] = core.notifier.of("results")
    assert isinstance(output, ResultOutput) and output.execution == 1
    posted = (output.text or "") + (output.file_content or b"").decode()
    assert "jane.doe@example.com" not in posted and "4111111111111111" not in posted
    assert "1111" in posted  # card_number: last4
    assert output.redacted_count >= 3 and output.item_count == 1
    assert events(core, view.id) == [
        "request.created", "approval.granted", "credentials.issued", "query.executed",
        "results.posted",
    ]
    issued = core.workflow.audit.records(request_id=view.id)[2].details
    grant = core.access.grants[0]
    assert issued["role_session_name"] == f"jit-{view.id}"
    assert issued["source_identity"] == f"slack-{REQUESTER}"
    assert issued["access_key_id"] == grant.access_key_id and not issued["reissued"]
    executed = core.workflow.audit.records(request_id=view.id)[3].details
    assert executed["result_sha256"] == output.sha256
    assert executed["item_count"] == 1 and executed["aws_request_ids"] == ["FAKEREQ000001"]
    assert executed["action"] == "GetItem" and executed["key"] == ["ORDER#1001"]
    assert core.notifier.names()[:3] == ["request_created", "decision", "request_updated"]


def test_two_approvals_are_needed_when_the_runbook_says_so(core: Core) -> None:
    view = core.workflow.create(REQUESTER, "stuck-orders-scan", {"status": "STUCK"},
                                "ticket 9", "C1")
    first = core.workflow.approve(view.id, ALICE)
    assert first.state is RequestState.pending and first.approvals_missing == 1
    with pytest.raises(Refused) as again:
        core.workflow.approve(view.id, ALICE)
    assert again.value.code == "duplicate" and "already approved" in again.value.user_message
    second = core.workflow.approve(view.id, DBAS[0])
    assert second.state is RequestState.active
    assert second.approved_by == [ALICE, DBAS[0]]
    assert len(core.access.grants) == 1
    assert events(core, view.id).count("approval.granted") == 2
    assert events(core, view.id).count("approval.refused") == 1


@pytest.mark.parametrize(("user", "code"), [
    (OUTSIDER, "not_eligible"),
    (APPROVERS[0], "self_approval"),
])
def test_ineligible_and_self_approvals_are_refused_and_audited(core: Core, user: str,
                                                               code: str) -> None:
    view = core.workflow.create(APPROVERS[0], "orders-lookup", {"order_id": "1001"}, "r",
                                "C1")
    with pytest.raises(Refused) as refused:
        core.workflow.approve(view.id, user)
    assert refused.value.code == code
    assert core.workflow.view(view.id).state is RequestState.pending
    refusal = core.workflow.audit.records(request_id=view.id)[-1]
    assert (refusal.event, refusal.actor, refusal.details["code"]) == (
        "approval.refused", user, code)
    assert core.access.grants == []


def test_a_directory_outage_refuses_instead_of_guessing(core: Core) -> None:
    view = lookup(core)
    core.directory.failing = True
    with pytest.raises(Refused) as refused:
        core.workflow.approve(view.id, ALICE)
    assert refused.value.code == "directory" and "try again" in refused.value.user_message
    assert core.workflow.view(view.id).state is RequestState.pending


def test_one_deny_ends_the_request(core: Core) -> None:
    view = core.workflow.create(REQUESTER, "stuck-orders-scan", {"status": "STUCK"}, "r",
                                "C1")
    core.workflow.approve(view.id, ALICE)
    denied = core.workflow.deny(view.id, BOB)
    assert denied.state is RequestState.denied and denied.denied_by == [BOB]
    assert core.notifier.of("decision")[-1][1:] == (BOB, Decision.deny)
    with pytest.raises(Refused) as late:
        core.workflow.approve(view.id, DBAS[0])
    assert late.value.code == "wrong_state"
    assert core.access.grants == []
    assert "approval.denied" in events(core, view.id)


def test_approving_an_unknown_request_is_refused_and_audited(core: Core) -> None:
    with pytest.raises(Refused) as refused:
        core.workflow.approve("NOSUCHID", ALICE)
    assert refused.value.code == "unknown_request"
    [row] = core.workflow.audit.records()
    assert row.event == "approval.refused" and row.details["requested"] == "NOSUCHID"


# ---- cancelling and expiring -------------------------------------------------------


def test_only_the_requester_cancels_and_only_once(core: Core) -> None:
    view = lookup(core)
    with pytest.raises(Refused) as other:
        core.workflow.cancel(view.id, ALICE)
    assert other.value.code == "not_requester"
    cancelled = core.workflow.cancel(view.id, REQUESTER)
    assert cancelled.state is RequestState.cancelled and cancelled.ended_by == REQUESTER
    with pytest.raises(Refused) as twice:
        core.workflow.cancel(view.id, REQUESTER)
    assert twice.value.code == "wrong_state"
    assert events(core, view.id) == ["request.created", "action.refused",
                                     "request.cancelled", "action.refused"]
    assert core.notifier.of("request_closed")[0][1:] == (REQUESTER, "cancelled")


def test_pending_requests_expire_once(core: Core) -> None:
    view = lookup(core)
    assert core.workflow.expire_due(view.created_at + timedelta(minutes=29)) == []
    later = view.created_at + timedelta(minutes=31)
    assert core.workflow.expire_due(later) == [view.id]
    assert core.workflow.expire_due(later) == []
    assert core.workflow.view(view.id).state is RequestState.expired
    assert events(core, view.id).count("request.expired") == 1
    with pytest.raises(Refused):
        core.workflow.approve(view.id, ALICE)


# ---- the session -------------------------------------------------------------------


def active(core: Core) -> str:
    view = lookup(core)
    core.workflow.approve(view.id, ALICE)
    return view.id


def test_run_again_is_a_new_audited_execution_for_the_requester_only(core: Core) -> None:
    rid = active(core)
    output = core.workflow.run_again(rid, REQUESTER)
    assert output is not None and output.execution == 2
    assert len(core.access.grants) == 1 and len(core.access.runs) == 2
    with pytest.raises(Refused) as other:
        core.workflow.run_again(rid, ALICE)
    assert other.value.code == "not_requester"
    assert events(core, rid).count("query.executed") == 2
    assert core.workflow.view(rid).executions == 2


@pytest.mark.parametrize(("user", "why"), [
    (REQUESTER, "ended by the requester"),
    (BOB, "ended by an approver"),
])
def test_the_requester_or_an_approver_ends_the_session(core: Core, user: str,
                                                       why: str) -> None:
    rid = active(core)
    ended = core.workflow.end_session(rid, user)
    assert ended.state is RequestState.ended and ended.end_reason == why
    assert core.access.ended == [core.access.grants[0].access_key_id]
    assert core.notifier.of("session_ended")[0][1:] == (user, why)
    assert events(core, rid)[-1] == "session.ended"
    with pytest.raises(Refused) as late:
        core.workflow.run_again(rid, REQUESTER)
    assert late.value.code == "no_session"


def test_an_outsider_cannot_end_a_session(core: Core) -> None:
    rid = active(core)
    with pytest.raises(Refused) as refused:
        core.workflow.end_session(rid, OUTSIDER)
    assert refused.value.code == "not_allowed"
    assert core.workflow.view(rid).state is RequestState.active


def test_sessions_end_at_their_deadline_once(core: Core) -> None:
    rid = active(core)
    ends = core.workflow.view(rid).session_ends_at
    assert core.workflow.end_due(ends - timedelta(seconds=1)) == []
    assert core.workflow.end_due(ends) == [rid]
    assert core.workflow.end_due(ends) == []
    view = core.workflow.view(rid)
    assert (view.state, view.ended_by, view.end_reason) == (
        RequestState.ended, "jitbot", "deadline reached")
    assert events(core, rid).count("session.ended") == 1


def test_after_a_restart_run_again_assumes_the_role_again(database: Database) -> None:
    first = make_core(database)
    rid = active(first)
    access = FakeAccess()
    restarted = make_core(database, access=access)  # fresh memory: no credentials
    output = restarted.workflow.run_again(rid, REQUESTER)
    assert output is not None and output.execution == 2
    assert len(access.grants) == 1
    reissue = [r for r in restarted.workflow.audit.records(request_id=rid)
               if r.event == "credentials.issued"]
    assert [r.details["reissued"] for r in reissue] == [False, True]
    assert reissue[1].details["access_key_id"] == access.grants[0].access_key_id
    assert restarted.workflow.view(rid).session_ends_at == first.workflow.view(
        rid).session_ends_at


def test_a_session_stuck_before_it_started_is_ended_by_the_sweep(core: Core) -> None:
    view = lookup(core)
    core.access.grant_error = KeyboardInterrupt  # stands in for a crash mid-grant
    with pytest.raises(KeyboardInterrupt):
        core.workflow.approve(view.id, ALICE)
    assert core.workflow.view(view.id).state is RequestState.approved
    assert core.workflow.end_due(view.created_at + timedelta(minutes=1)) == []
    assert core.workflow.end_due(view.created_at + timedelta(minutes=6)) == [view.id]
    stuck = core.workflow.view(view.id)
    assert stuck.state is RequestState.ended and "stopped before" in (stuck.end_reason or "")


# ---- failures ----------------------------------------------------------------------


def test_a_failed_grant_ends_the_request_and_runs_nothing(core: Core) -> None:
    core.access.grant_error = AccessError("the bot cannot assume the role; fix trust",
                                          "denied")
    view = lookup(core)
    after = core.workflow.approve(view.id, ALICE)
    assert after.state is RequestState.ended
    assert core.access.runs == []
    [(_, message)] = core.notifier.of("failure")
    assert "cannot assume the role" in message
    assert events(core, view.id)[-2:] == ["credentials.failed", "session.ended"]


def test_a_failed_query_is_reported_and_the_session_stays(core: Core) -> None:
    core.access.run_error = AccessError("DynamoDB is throttling reads", "throttled")
    rid = active(core)
    assert core.workflow.view(rid).state is RequestState.active
    assert core.notifier.of("results") == []
    assert "throttling" in core.notifier.of("failure")[0][1]
    failed = core.workflow.audit.records(request_id=rid)[-1]
    assert (failed.event, failed.details["kind"]) == ("query.failed", "throttled")


def test_redaction_failure_posts_nothing(core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.core import redaction

    def broken(self, items):
        raise redaction.RedactionError("a value could not be redacted")

    monkeypatch.setattr(redaction.Redactor, "redact", broken)
    rid = active(core)
    assert core.notifier.of("results") == []
    assert "Results withheld" in core.notifier.of("failure")[0][1]
    assert events(core, rid)[-2:] == ["query.executed", "results.withheld"]
    executed = core.workflow.audit.records(request_id=rid)[-2].details
    assert executed["result_sha256"] is None


def test_a_failed_post_is_audited_and_not_repeated(database: Database) -> None:
    core = make_core(database, notifier=Recorder(fail_on=["results"]))
    rid = active(core)
    assert len(core.notifier.of("results")) == 1
    assert "could not be posted" in core.notifier.of("failure")[0][1]
    assert events(core, rid)[-1] == "results.failed"
    assert "results.posted" not in events(core, rid)


def test_notifier_failures_never_break_the_workflow(database: Database) -> None:
    core = make_core(database, notifier=Recorder(fail_on=["request_created",
                                                          "request_updated", "decision"]))
    view = lookup(core)
    assert view.card_ts is None
    assert core.workflow.approve(view.id, ALICE).state is RequestState.active


def test_an_audit_failure_before_credentials_means_no_query(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = core.workflow.audit.append

    def failing(session, **entry):
        if entry["event"] == AuditEvent.credentials_issued:
            raise AuditError("disk full")
        return original(session, **entry)

    monkeypatch.setattr(core.workflow.audit, "append", failing)
    view = lookup(core)
    after = core.workflow.approve(view.id, ALICE)
    assert after.state is RequestState.ended
    assert core.access.runs == [] and core.notifier.of("results") == []
    assert core.access.ended == [core.access.grants[0].access_key_id]
    assert "audit trail could not record" in core.notifier.of("failure")[0][1]
    assert "credentials.issued" not in events(core, view.id)


def test_an_audit_failure_on_approval_changes_nothing(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = lookup(core)
    original = core.workflow.audit.append

    def failing(session, **entry):
        if entry["event"] == AuditEvent.approval_granted:
            raise AuditError("disk full")
        return original(session, **entry)

    monkeypatch.setattr(core.workflow.audit, "append", failing)
    with pytest.raises(Refused) as refused:
        core.workflow.approve(view.id, ALICE)
    assert refused.value.code == "unavailable"
    after = core.workflow.view(view.id)
    assert after.state is RequestState.pending and after.approvals == ()
    assert core.access.grants == []


# ---- looking things up -------------------------------------------------------------


def test_status_lists_pending_active_recent_and_approvals_to_give(core: Core) -> None:
    waiting = lookup(core, "1002")
    running = active(core)
    cancelled = lookup(core, "1003")
    core.workflow.cancel(cancelled.id, REQUESTER)
    mine = core.workflow.status_for(REQUESTER)
    assert [v.id for v in mine.pending] == [waiting.id]
    assert [v.id for v in mine.active] == [running]
    assert [v.id for v in mine.recent] == [cancelled.id]
    assert [v.id for v in core.workflow.status_for(BOB).to_approve] == [waiting.id]
    assert core.workflow.status_for(OUTSIDER).to_approve == []


def test_status_stays_bounded_however_many_requests_are_open(core: Core) -> None:
    from bot.core.workflow import RECENT, SHOWN

    made = [lookup(core, str(1000 + n)) for n in range(SHOWN + RECENT + 7)]
    for view in made[:RECENT + 2]:
        core.workflow.cancel(view.id, REQUESTER)
    still_pending = made[RECENT + 2:]
    assert len(still_pending) > SHOWN
    mine = core.workflow.status_for(REQUESTER)
    assert [v.id for v in mine.pending] == [v.id for v in reversed(still_pending)][:SHOWN]
    assert [v.id for v in mine.recent] == [v.id for v in reversed(made[:RECENT + 2])][:RECENT]
    # the oldest first: they expire soonest
    assert [v.id for v in core.workflow.status_for(BOB).to_approve] == [
        v.id for v in still_pending[:SHOWN]]


def test_status_asks_who_may_approve_once_per_runbook_and_requester(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = [lookup(core, str(1000 + n)) for n in range(5)]
    made += [lookup(core, str(2000 + n), requester=OTHER_REQUESTER) for n in range(3)]
    asked: list[str] = []
    members = core.directory.members

    def counted(handle: str) -> frozenset[str]:
        asked.append(handle)
        return members(handle)

    monkeypatch.setattr(core.directory, "members", counted)
    assert [v.id for v in core.workflow.status_for(BOB).to_approve] == [v.id for v in made]
    assert asked == ["@oncall-leads", "@oncall-leads"]  # orders-lookup, for each requester


def test_status_leaves_out_approvals_it_cannot_check(
    core: Core, caplog: pytest.LogCaptureFixture
) -> None:
    approver = APPROVERS[0]  # may request and approve orders-lookup
    mine = lookup(core, "1001", requester=approver)
    others = [lookup(core, str(1002 + n)) for n in range(2)]
    core.directory.failing = True
    status = core.workflow.status_for(approver)
    assert [v.id for v in status.pending] == [mine.id] and status.to_approve == []
    # each request is asked about again, and named in the log
    warned = [r.getMessage() for r in caplog.records if "could not check" in r.getMessage()]
    assert warned == [f"could not check the approvers of {v.id}: usergroups.users.list "
                      "answered ratelimited" for v in others]


def test_claim_event_is_true_once(core: Core) -> None:
    assert core.workflow.claim_event("Ev1")
    assert not core.workflow.claim_event("Ev1")


def test_an_audit_failure_on_create_records_nothing(
    core: Core, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(session, **entry):
        raise AuditError("disk full")

    monkeypatch.setattr(core.workflow.audit, "append", failing)
    with pytest.raises(Refused) as refused:
        lookup(core)
    assert refused.value.code == "unavailable" and "nothing changed" in refused.value.user_message
    assert core.workflow.status_for(REQUESTER).pending == []
    assert core.notifier.calls == []


# ---- results -----------------------------------------------------------------------


def test_a_large_result_goes_out_as_a_file(database: Database) -> None:
    items = [{**ORDER_ITEM, "pk": f"ORDER#{n}"} for n in range(1000, 1030)]
    core = make_core(database, access=FakeAccess(items))
    rid = active(core)
    [(_, output)] = core.notifier.of("results")
    assert output.text is None and output.file_format == "jsonl"
    assert output.file_name == f"orders-lookup-{rid}-1.jsonl"
    lines = output.file_content.decode().splitlines()
    assert len(lines) == 30 and "jane.doe@example.com" not in output.file_content.decode()
    assert output.sha256 == hashlib.sha256(output.file_content).hexdigest()
    assert output.summary.startswith("30 items")
    posted = [r for r in core.workflow.audit.records(request_id=rid)
              if r.event == "results.posted"]
    assert posted[0].details == {"execution": 1, "format": "jsonl", "sha256": output.sha256}


def test_the_workflow_takes_its_settings(database: Database) -> None:
    from bot.core.workflow import Workflow
    from bot.settings import load_settings

    settings = load_settings(JITBOT_REQUEST_TTL="5m", AWS_REGION="eu-west-1")
    workflow = Workflow.from_settings(settings, database, shipped_runbooks(),
                                      access=FakeAccess(), directory=StaticDirectory(),
                                      notifier=Recorder())
    view = workflow.create(REQUESTER, "orders-lookup", {"order_id": "1001"}, "t", "C1")
    assert view.expires_at - view.created_at == timedelta(minutes=5)
    assert view.rendered.call.region == "eu-west-1"


@pytest.mark.parametrize(("runbook", "values", "approvers", "expect"), [
    ("orders-lookup", {"order_id": "1001"}, [ALICE], 1),
    ("customer-orders", {"customer_id": "42", "month": "2026-11"}, [ALICE], 4),
    ("stuck-orders-scan", {"status": "STUCK"}, [ALICE, DBAS[0]], None),
])
def test_the_full_flow_through_real_aws_on_moto(
    database: Database, aws_clients: Any, orders_table: str, jit_role: str, runbook: str,
    values: dict[str, str], approvers: list[str], expect: int | None,
) -> None:
    from bot.core.access import AwsAccess

    core = make_core(database, access=AwsAccess(aws_clients))
    view = core.workflow.create(REQUESTER, runbook, values, "ticket 4411", "C1")
    for approver in approvers:
        after = core.workflow.approve(view.id, approver)
    assert after.state is RequestState.active, core.notifier.of("failure")
    [(_, output)] = core.notifier.of("results")
    if expect is not None:
        assert output.item_count == expect
    else:
        assert output.item_count >= 1
    posted = (output.text or "") + (output.file_content or b"").decode()
    assert "ada.lovelace@example.org" not in posted
    assert "4111 1111 1111 1111" not in posted and "4111-1111-1111-1111" not in posted
    records = {r.event: r for r in core.workflow.audit.records(request_id=view.id)}
    issued = records["credentials.issued"].details
    assert issued["role_arn"] == jit_role
    assert issued["role_session_name"] == f"jit-{view.id}"
    assert issued["source_identity"] == f"slack-{REQUESTER}"
    executed = records["query.executed"].details
    assert executed["aws_request_ids"] and executed["result_sha256"] == output.sha256
    assert executed["redacted_count"] == output.redacted_count > 0
    again = core.workflow.run_again(view.id, REQUESTER)
    assert again is not None and again.sha256 == output.sha256  # same data, same hash
    ended = core.workflow.end_session(view.id, REQUESTER)
    assert ended.state is RequestState.ended
    assert core.workflow.audit.verify().ok
