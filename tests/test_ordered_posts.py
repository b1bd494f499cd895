"""Background Slack posts: in order per key, never holding up another key, failures
logged and passed over, and waited for when it matters (results, shutdown)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from slack_sdk import WebClient

from bot.core.ports import ResultOutput
from bot.demo.fake_slack import ALICE, OPS_CHANNEL, FakeSlack
from bot.slack.notifier import SlackNotifier
from bot.slack.ordered_posts import OrderedPosts


@pytest.fixture
def posts() -> Iterator[OrderedPosts]:
    made = OrderedPosts(threads=4)
    yield made
    made.close(timeout=5)


def test_posts_under_one_key_land_in_the_order_they_were_made(posts: OrderedPosts) -> None:
    landed: list[str] = []
    posts.submit("thread", "first", lambda: (time.sleep(0.2), landed.append("first")))
    posts.submit("thread", "second", landed.append, "second")
    posts.submit("thread", "third", landed.append, "third")
    posts.wait("thread", timeout=5)
    assert landed == ["first", "second", "third"]


def test_a_slow_post_holds_up_only_its_own_key(posts: OrderedPosts) -> None:
    release = threading.Event()
    other = threading.Event()
    posts.submit("slow", "hung", release.wait, 5)
    posts.submit("other", "quick", other.set)
    assert other.wait(2)
    release.set()


def test_a_failed_post_is_logged_and_the_next_goes_ahead(
    posts: OrderedPosts, caplog: pytest.LogCaptureFixture
) -> None:
    landed: list[str] = []

    def fails() -> None:
        raise ConnectionError("slack unreachable")

    with caplog.at_level(logging.WARNING, logger="bot.slack.ordered_posts"):
        posts.submit("thread", "decision", fails)
        posts.submit("thread", "failure", landed.append, "next")
        posts.wait("thread", timeout=5)
    assert landed == ["next"]
    assert "notifier decision failed: ConnectionError: slack unreachable" in caplog.text


def test_wait_returns_once_the_posts_made_so_far_have_finished(posts: OrderedPosts) -> None:
    landed: list[str] = []
    posts.submit("thread", "reply", lambda: (time.sleep(0.2), landed.append("reply")))
    posts.wait("thread", timeout=5)
    assert landed == ["reply"]
    posts.wait("never used", timeout=5)  # nothing to wait for: returns at once


def test_many_keys_on_few_threads_all_finish_in_order() -> None:
    posts = OrderedPosts(threads=2)
    landed: dict[int, list[int]] = {key: [] for key in range(20)}
    for n in range(5):
        for key in range(20):
            posts.submit(key, "reply", landed[key].append, n)
    posts.close(timeout=10)
    assert landed == {key: [0, 1, 2, 3, 4] for key in range(20)}


def test_close_lets_the_posts_already_made_finish() -> None:
    posts = OrderedPosts(threads=1)
    landed: list[str] = []
    posts.submit("thread", "last words", lambda: (time.sleep(0.2), landed.append("ended")))
    posts.close(timeout=5)
    assert landed == ["ended"]


def test_results_wait_for_the_replies_before_them_in_the_thread(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier(WebClient(token="xoxb-test", base_url=fake_slack.url))
    card = str(fake_slack.post_as(OPS_CHANNEL, "the card", user=ALICE)["ts"])
    view = SimpleNamespace(id="REQ1", runbook="orders-lookup", channel=OPS_CHANNEL,
                           reply_ts=card, rendered=SimpleNamespace(
                               call=SimpleNamespace(operation="GetItem")))
    output = ResultOutput(execution=1, summary="1 item", text="pk  ORDER#1001",
                          file_name=None, file_content=None, file_format=None, sha256="0",
                          item_count=1, redacted_count=0, truncated=False, milliseconds=5)
    release = threading.Event()
    # a reply still on its way to Slack (the approval's), made before the results
    notifier._posts.submit(("REQ1", "thread"), "decision", release.wait, 5)
    results = threading.Thread(target=notifier.results, args=(view, output))
    results.start()
    time.sleep(0.3)
    assert fake_slack.replies(OPS_CHANNEL, card) == []
    release.set()
    results.join(5)
    [posted] = fake_slack.replies(OPS_CHANNEL, card)
    assert "*Results*" in posted["text"]
    notifier.close()
