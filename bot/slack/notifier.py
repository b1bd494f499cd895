"""The core's Notifier, in Slack: the card, its updates, and replies in its thread.

The card is posted on the caller's thread (the workflow records where it landed), and so
are the results (their delivery is audited); card updates and the other thread replies
are posted in the background, in order (`OrderedPosts`), and the results wait for the
replies before them so the thread reads in the order things happened.
"""

from __future__ import annotations

import logging
import threading

from slack_sdk import WebClient

from bot.core.audit import SYSTEM_ACTOR
from bot.core.ports import CardRef, Decision, RequestView, ResultOutput
from bot.metrics import Metrics
from bot.slack import blocks, mrkdwn
from bot.slack.cards import card_model
from bot.slack.delivery import ResultsDelivery, results_metadata
from bot.slack.ordered_posts import OrderedPosts

log = logging.getLogger(__name__)


class SlackNotifier:
    def __init__(self, client: WebClient, metrics: Metrics | None = None):
        self._client = client
        self._delivery = ResultsDelivery(client)  # results: posted once, never twice
        self._metrics = metrics or Metrics()
        self._shown: dict[str, int] = {}
        self._lock = threading.Lock()
        self._posts = OrderedPosts()

    def close(self) -> None:
        """Finish the posts already made (a minute at most); call when the bot stops."""
        self._posts.close()

    # ---- the card ------------------------------------------------------------------

    def request_created(self, view: RequestView) -> CardRef | None:
        message = blocks.request_card(card_model(view))
        response = self._client.chat_postMessage(
            channel=view.channel, thread_ts=view.thread_ts, **message.as_kwargs()
        )
        self._remember(view)
        self._metrics.requests.labels("submitted").inc()
        return CardRef(channel=str(response["channel"]), ts=str(response["ts"]))

    def request_updated(self, view: RequestView) -> None:
        if view.card_ts is None or not self._remember(view):
            return  # no card yet, or a newer state is already shown
        self._posts.submit((view.id, "card"), "request_updated", self._update_card, view)

    def _update_card(self, view: RequestView) -> None:
        message = blocks.request_card(card_model(view))
        self._client.chat_update(channel=view.channel, ts=view.card_ts, **message.as_kwargs())

    def _remember(self, view: RequestView) -> bool:
        """Record the version shown; False when a newer one was shown already."""
        with self._lock:
            if self._shown.get(view.id, -1) > view.version:
                return False
            self._shown[view.id] = view.version
            return True

    # ---- thread replies ------------------------------------------------------------

    def decision(self, view: RequestView, actor: str, decision: Decision) -> None:
        self._metrics.approvals.labels(decision.value).inc()
        if decision is Decision.approve:
            count = len(view.approved_by)
            text = (f":white_check_mark: {mrkdwn.user(actor)} approved "
                    f"({count} of {view.approvals_required})")
        else:
            self._metrics.requests.labels("denied").inc()
            text = f":no_entry: {mrkdwn.user(actor)} denied the request"
        self._reply(view, "decision", text)

    def request_closed(self, view: RequestView, actor: str, why: str) -> None:
        self._metrics.requests.labels(why).inc()
        if actor == SYSTEM_ACTOR:
            text = (f":clock3: Request {mrkdwn.code(view.id)} {mrkdwn.escape(why)}: "
                    "not enough approvals in time; nothing was run")
        else:
            text = (f":heavy_multiplication_x: {mrkdwn.user(actor)} {mrkdwn.escape(why)} "
                    f"request {mrkdwn.code(view.id)}; nothing was run")
        self._reply(view, "request_closed", text)

    def results(self, view: RequestView, output: ResultOutput) -> None:
        self._metrics.query_seconds.labels(view.rendered.call.operation).observe(
            output.milliseconds / 1000
        )
        if output.execution == 1:
            self._metrics.requests.labels("approved").inc()
        self._posts.wait((view.id, "thread"))  # after the replies before it
        head = (f"*Results* of {mrkdwn.code(view.runbook)} (run {output.execution}) — "
                f"{mrkdwn.escape(output.summary)}")
        if output.text is not None:
            self._delivery.post_message(
                channel=view.channel, thread_ts=view.reply_ts,
                metadata=results_metadata(view.id, output.execution),
                **blocks.reply([head], code=output.text).as_kwargs(),
            )
        if output.file_content is None:
            return
        why = ("The complete redacted results are" if output.text is not None
               else "Too large for a message: the redacted results are")
        self._delivery.upload_file(
            channel=view.channel,
            thread_ts=view.reply_ts,
            title=f"{view.runbook} {view.id} run {output.execution}",  # unique per run
            content=output.file_content,
            filename=output.file_name,
            initial_comment=f"{head}\n{why} in the attached {output.file_format} file.",
        )

    def failure(self, view: RequestView, message: str) -> None:
        self._metrics.requests.labels("failed").inc()
        self._reply(view, "failure", f":warning: {mrkdwn.escape(message)}")

    def session_ended(self, view: RequestView, actor: str, why: str) -> None:
        by = "" if actor == SYSTEM_ACTOR else f" by {mrkdwn.user(actor)}"
        self._reply(view, "session_ended", f":lock: Session ended{by}: {mrkdwn.escape(why)}. "
                    "The credentials are gone.")

    def _reply(self, view: RequestView, name: str, mrkdwn_text: str) -> None:
        self._posts.submit((view.id, "thread"), name, self._post, view, mrkdwn_text)

    def _post(self, view: RequestView, mrkdwn_text: str) -> None:
        message = blocks.reply([mrkdwn_text])
        self._client.chat_postMessage(
            channel=view.channel, thread_ts=view.reply_ts, **message.as_kwargs()
        )
