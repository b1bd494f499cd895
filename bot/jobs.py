"""The alarm clock (DESIGN §6): APScheduler wakes the workflow, the database decides.

One date job per pending-request expiry and per session deadline, plus a sweep every
few seconds that ends whatever is past due (after a crash, a missed job, or a session
started on another replica). On start the sweep runs at once, so sessions that came due
while the bot was down end before anything else happens, and every remaining deadline
is scheduled again from the database. Ending is a conditional update: with several
schedulers on one database each session still ends, and is audited, exactly once.
"""

from __future__ import annotations

import logging
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler

from bot.core.audit import SYSTEM_ACTOR
from bot.core.sessions import DEADLINE, Deadline
from bot.core.states import RequestState
from bot.core.workflow import SweepReport, Workflow

log = logging.getLogger("jitbot.jobs")
SWEEP_SECONDS = 5.0
SWEEP_JOB = "sweep"


class Timer:
    def __init__(self, workflow: Workflow, *, sweep_seconds: float = SWEEP_SECONDS):
        if sweep_seconds <= 0:
            raise ValueError("the sweep interval must be longer than zero seconds")
        self.workflow = workflow
        self.sweep_seconds = sweep_seconds
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )

    def start(self) -> SweepReport:
        """Sweep now (approved requests a stopped bot left half-started end too), schedule
        every known deadline, then keep sweeping."""
        report = self.workflow.sweep(at_start=True)
        self.workflow.add_deadline_listener(self.schedule)
        for deadline in self.workflow.deadlines():
            self.schedule(deadline)
        self.scheduler.add_job(self.sweep, "interval", seconds=self.sweep_seconds,
                               id=SWEEP_JOB, replace_existing=True)
        self.scheduler.start()
        log.info("timer started: %d expired, %d ended at start-up",
                 len(report.expired), len(report.ended))
        return report

    def stop(self) -> None:
        self.workflow.remove_deadline_listener(self.schedule)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    @property
    def running(self) -> bool:
        return bool(self.scheduler.running)

    def schedule(self, deadline: Deadline) -> None:
        self.scheduler.add_job(
            self.due,
            "date",
            run_date=deadline.at,
            args=[deadline.kind, deadline.request_id],
            id=f"{deadline.kind}:{deadline.request_id}",
            replace_existing=True,
        )

    def due(self, kind: str, request_id: str) -> None:
        try:
            view = self.workflow.steps.view(request_id)
            now = self.workflow.steps.clock()
            if view is None:
                return
            # The database decides: act only on what is really due now.
            if (kind == "expiry" and view.state is RequestState.pending
                    and view.expires_at <= now):
                self.workflow.expire(request_id)
            elif (kind == "session_end" and view.state is RequestState.active
                    and view.session_ends_at is not None and view.session_ends_at <= now):
                self.workflow.sessions.end(request_id, SYSTEM_ACTOR, DEADLINE)
        except Exception:
            # The sweep retries; the job must not die with an exception inside APScheduler.
            log.exception("deadline job %s:%s failed", kind, request_id)

    def sweep(self) -> SweepReport | None:
        try:
            return self.workflow.sweep()
        except Exception:
            log.exception("sweep failed; retrying in %ss", self.sweep_seconds)
            return None
