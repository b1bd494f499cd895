"""ResultsDelivery against the fake Slack: an ambiguous failure is retried only after the
thread shows the results missing, and results Slack posted before failing are not posted
again."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from bot.demo.fake_slack import ALICE, OPS_CHANNEL, FakeSlack
from bot.slack.delivery import AMBIGUOUS_RETRIES, ResultsDelivery, results_metadata

MESSAGE = {"text": "*Results* of orders-lookup (run 1)"}


@pytest.fixture
def delivery(fake_slack: FakeSlack) -> ResultsDelivery:
    # no retry handlers of its own: a failed look stays failed
    client = WebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[])
    return ResultsDelivery(client, backoff=FixedValueRetryIntervalCalculator(0.01))


@pytest.fixture
def thread(fake_slack: FakeSlack) -> str:
    return str(fake_slack.post_as(OPS_CHANNEL, "the card", user=ALICE)["ts"])


def post(delivery: ResultsDelivery, thread: str, run: int = 1) -> None:
    delivery.post_message(channel=OPS_CHANNEL, thread_ts=thread,
                          metadata=results_metadata("REQ1", run), **MESSAGE)


def methods(fake: FakeSlack) -> list[tuple[str, int]]:
    return [(c.method, c.status) for c in fake.calls()]


@pytest.mark.parametrize(("status", "error"), [(500, None), (503, None), (0, None),
                                               (200, "internal_error")])
def test_results_slack_posted_before_failing_are_not_posted_again(
        delivery: ResultsDelivery, fake_slack: FakeSlack, thread: str, status: int,
        error: str | None) -> None:
    fake_slack.fail_next("chat.postMessage", status=status, error=error, after_effect=True)
    post(delivery, thread)
    [results] = fake_slack.replies(OPS_CHANNEL, thread)
    assert results["metadata"] == results_metadata("REQ1", 1)
    assert methods(fake_slack) == [("chat.postMessage", status), ("conversations.replies", 200)]


def test_results_of_another_run_do_not_count(
        delivery: ResultsDelivery, fake_slack: FakeSlack, thread: str) -> None:
    post(delivery, thread, run=1)
    fake_slack.fail_next("chat.postMessage", status=500)
    post(delivery, thread, run=2)
    runs = [m["metadata"]["event_payload"]["run"] for m in fake_slack.replies(OPS_CHANNEL, thread)]
    assert runs == [1, 2]


def test_an_outage_gives_up_after_the_retries_looking_before_each(
        delivery: ResultsDelivery, fake_slack: FakeSlack, thread: str) -> None:
    fake_slack.fail_next("chat.postMessage", times=10, status=503)
    with pytest.raises(SlackApiError):
        post(delivery, thread)
    attempt = [("chat.postMessage", 503), ("conversations.replies", 200)]
    assert methods(fake_slack) == attempt * (1 + AMBIGUOUS_RETRIES)
    assert fake_slack.replies(OPS_CHANNEL, thread) == []


def test_a_thread_that_cannot_be_read_is_never_posted_to_again(
        delivery: ResultsDelivery, fake_slack: FakeSlack, thread: str) -> None:
    fake_slack.fail_next("chat.postMessage", status=500)
    fake_slack.fail_next("conversations.replies", status=503)
    with pytest.raises(SlackApiError):
        post(delivery, thread)
    assert methods(fake_slack) == [("chat.postMessage", 500), ("conversations.replies", 503)]


@pytest.mark.parametrize(("status", "error"), [(429, None), (200, "channel_not_found")])
def test_unambiguous_failures_need_no_look(
        delivery: ResultsDelivery, fake_slack: FakeSlack, thread: str, status: int,
        error: str | None) -> None:
    fake_slack.fail_next("chat.postMessage", status=status, error=error, retry_after=0)
    if status == 429:  # Slack did nothing: retried at once
        post(delivery, thread)
        assert len(fake_slack.replies(OPS_CHANNEL, thread)) == 1
    else:
        with pytest.raises(SlackApiError):
            post(delivery, thread)
    assert "conversations.replies" not in [method for method, _ in methods(fake_slack)]


def test_a_file_slack_shared_before_failing_is_not_shared_again(
        delivery: ResultsDelivery, fake_slack: FakeSlack, thread: str) -> None:
    fake_slack.fail_next("files.completeUploadExternal", status=500, after_effect=True)
    upload: dict[str, Any] = {"content": b"pk,total\n", "filename": "r.csv",
                              "initial_comment": "*Results*"}
    delivery.upload_file(channel=OPS_CHANNEL, thread_ts=thread, title="orders REQ1 run 1",
                         **upload)
    [shared] = fake_slack.replies(OPS_CHANNEL, thread)
    assert [f["title"] for f in shared["files"]] == ["orders REQ1 run 1"]
    assert len(fake_slack.calls("files.completeUploadExternal")) == 1
