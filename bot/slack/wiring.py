"""Connect the Slack listeners to the workflow: requests, rejections, who may request."""

from __future__ import annotations

import logging

from bot.core.policy import may_request
from bot.core.ports import Directory, DirectoryError, Refused
from bot.core.runbooks import Runbook
from bot.core.workflow import Workflow
from bot.slack.deps import Rejection, RequestSubmission, SlackDeps
from bot.slack.handoff import reply, tell

log = logging.getLogger(__name__)


def connect(deps: SlackDeps, workflow: Workflow, directory: Directory) -> None:
    deps.workflow = workflow

    def submit(submission: RequestSubmission) -> None:
        try:
            if submission.delivery and not workflow.claim_event(submission.delivery):
                return  # a redelivery of a form that already made its request
            view = workflow.submit(submission.bound, submission.requester_id,
                                   submission.channel_id, thread_ts=submission.thread_ts,
                                   source=submission.source)
            log.info("request recorded", extra={"request": view.id,
                                                "user": submission.requester_id,
                                                "runbook": view.runbook,
                                                "source": str(submission.source)})
        except Refused as refusal:
            if submission.respond is not None:
                reply(submission.respond, {"text": refusal.user_message})
            else:
                tell(deps, submission.channel_id, submission.requester_id,
                     refusal.user_message, submission.thread_ts)

    def reject(rejection: Rejection) -> None:
        log.info("request refused", extra={"user": rejection.user_id,
                                           "runbook": rejection.runbook,
                                           "problems": len(rejection.problems)})
        try:
            workflow.record_rejection(rejection.user_id, rejection.channel_id,
                                      rejection.runbook, rejection.problems)
        except Refused:
            log.warning("rejection could not be audited", extra={"user": rejection.user_id})

    def allowed(user: str, runbook: Runbook) -> bool:
        try:
            return may_request(runbook, user, directory)
        except DirectoryError:
            return True  # only narrows the help list; the request itself is still checked

    deps.requests = submit
    deps.rejections = reject
    deps.may_request = allowed
