"""The fake Slack Web API answers a stock slack_sdk WebClient the way Slack does."""

from __future__ import annotations

import threading

import pytest
from slack_sdk import WebClient, WebhookClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from tests.fakeslack import (
    ALERTS_CHANNEL,
    ALICE,
    BOB,
    BOT_USER_ID,
    CAROL,
    OPS_CHANNEL,
    FakeSlack,
)


@pytest.fixture
def client(fake_slack: FakeSlack) -> WebClient:
    # no retry handlers: the fake's failures reach the test as they are
    return WebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[])


def test_auth_test_names_the_bot(client: WebClient, fake_slack: FakeSlack) -> None:
    answer = client.auth_test()
    assert answer["user_id"] == BOT_USER_ID
    call = fake_slack.wait_for("auth.test")
    assert call.token == "xoxb-test"
    assert call.headers["authorization"] == "Bearer xoxb-test"


def test_tokens_are_checked(fake_slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=fake_slack.url, retry_handlers=[]).auth_test()
    assert missing.value.response["error"] == "not_authed"
    fake_slack.reject_token("xoxb-revoked")
    with pytest.raises(SlackApiError) as revoked:
        WebClient(token="xoxb-revoked", base_url=fake_slack.url, retry_handlers=[]).auth_test()
    assert revoked.value.response["error"] == "invalid_auth"


def test_post_message_gets_fresh_increasing_ts_and_is_stored(
    client: WebClient, fake_slack: FakeSlack
) -> None:
    first = client.chat_postMessage(channel=OPS_CHANNEL, text="one",
                                    blocks=[{"type": "section",
                                             "text": {"type": "mrkdwn", "text": "*one*"}}])
    second = client.chat_postMessage(channel=OPS_CHANNEL, text="two")
    reply = client.chat_postMessage(channel=OPS_CHANNEL, text="in thread", thread_ts=first["ts"])
    assert float(first["ts"]) < float(second["ts"]) < float(reply["ts"])
    assert [m["text"] for m in fake_slack.messages(OPS_CHANNEL)] == ["one", "two"]
    assert [m["text"] for m in fake_slack.replies(OPS_CHANNEL, first["ts"])] == ["in thread"]
    stored = fake_slack.message(OPS_CHANNEL, first["ts"])
    assert stored["blocks"][0]["text"]["text"] == "*one*"
    assert stored["user"] == BOT_USER_ID
    call = fake_slack.calls("chat.postMessage")[0]
    assert call.args["blocks"][0]["type"] == "section"  # JSON arguments are parsed


def test_channel_names_resolve_to_ids(client: WebClient, fake_slack: FakeSlack) -> None:
    answer = client.chat_postMessage(channel="#alerts-orders", text="hi")
    assert answer["channel"] == ALERTS_CHANNEL
    with pytest.raises(SlackApiError) as unknown:
        client.chat_postMessage(channel="#nowhere", text="hi")
    assert unknown.value.response["error"] == "channel_not_found"
    info = client.conversations_info(channel=ALERTS_CHANNEL)
    assert info["channel"]["name"] == "alerts-orders"
    listed = {c["name"]: c["id"] for c in client.conversations_list()["channels"]}
    assert listed["alerts-orders"] == ALERTS_CHANNEL


def test_update_changes_the_stored_message(client: WebClient, fake_slack: FakeSlack) -> None:
    posted = client.chat_postMessage(channel=OPS_CHANNEL, text="pending")
    client.chat_update(channel=OPS_CHANNEL, ts=posted["ts"], text="approved", blocks=[])
    stored = fake_slack.message(OPS_CHANNEL, posted["ts"])
    assert stored["text"] == "approved"
    assert stored["blocks"] == []
    assert "edited" in stored
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel=OPS_CHANNEL, ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"


def test_oversized_blocks_are_refused_like_slack_does(client: WebClient) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=OPS_CHANNEL, text="t", blocks=too_long)
    assert refused.value.response["error"] == "invalid_blocks"


def test_ephemeral_permalink_and_reactions(client: WebClient, fake_slack: FakeSlack) -> None:
    client.chat_postEphemeral(channel=OPS_CHANNEL, user=ALICE, text="only you")
    assert fake_slack.ephemerals(ALICE)[0]["text"] == "only you"
    assert fake_slack.ephemerals(BOB) == []
    posted = client.chat_postMessage(channel=OPS_CHANNEL, text="card")
    link = client.chat_getPermalink(channel=OPS_CHANNEL, message_ts=posted["ts"])
    assert posted["ts"].replace(".", "") in link["permalink"]
    client.reactions_add(channel=OPS_CHANNEL, timestamp=posted["ts"], name="eyes")
    with pytest.raises(SlackApiError) as twice:
        client.reactions_add(channel=OPS_CHANNEL, timestamp=posted["ts"], name="eyes")
    assert twice.value.response["error"] == "already_reacted"
    assert fake_slack.message(OPS_CHANNEL, posted["ts"])["reactions"][0]["users"] == [
        BOT_USER_ID]


def test_users_and_usergroups(client: WebClient, fake_slack: FakeSlack) -> None:
    assert client.users_info(user=ALICE)["user"]["name"] == "alice"
    with pytest.raises(SlackApiError) as nobody:
        client.users_info(user="U0NOBODY")
    assert nobody.value.response["error"] == "user_not_found"

    groups = {g["handle"]: g for g in client.usergroups_list(include_users=True)["usergroups"]}
    leads = groups["oncall-leads"]
    assert leads["users"] == [BOB, CAROL]
    assert client.usergroups_users_list(usergroup=leads["id"])["users"] == [BOB, CAROL]

    group_id = fake_slack.set_usergroup("oncall-leads", [ALICE])
    assert group_id == leads["id"]
    assert client.usergroups_users_list(usergroup=group_id)["users"] == [ALICE]
    with pytest.raises(SlackApiError) as unknown:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert unknown.value.response["error"] == "no_such_subteam"


def test_views_open_publish_update(client: WebClient, fake_slack: FakeSlack) -> None:
    modal = {"type": "modal", "callback_id": "jit_params",
             "title": {"type": "plain_text", "text": "Request"}, "blocks": []}
    opened = client.views_open(trigger_id="1.2.3", view=modal)
    assert opened["view"]["callback_id"] == "jit_params"
    updated = client.views_update(view_id=opened["view"]["id"], view={**modal, "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "step 2"}}]})
    assert updated["view"]["id"] == opened["view"]["id"]
    assert fake_slack.views()[0]["blocks"][0]["text"]["text"] == "step 2"

    client.views_publish(user_id=ALICE, view={"type": "home", "blocks": []})
    assert fake_slack.home(ALICE) is not None
    assert fake_slack.home(BOB) is None


def test_files_upload_v2_lands_in_the_thread(client: WebClient, fake_slack: FakeSlack) -> None:
    card = client.chat_postMessage(channel=OPS_CHANNEL, text="card")
    content = "pk,status\nORDER#1001,STUCK\n"
    done = client.files_upload_v2(channel=OPS_CHANNEL, thread_ts=card["ts"],
                                  filename="results.csv", content=content,
                                  initial_comment="2 items")
    assert done["file"]["name"] == "results.csv"
    upload = fake_slack.wait_for("upload")
    assert upload.body == content.encode()
    (stored,) = fake_slack.files()
    assert stored["content"] == content.encode()
    assert stored["channel"] == OPS_CHANNEL and stored["thread_ts"] == card["ts"]
    (shared,) = fake_slack.replies(OPS_CHANNEL, card["ts"])
    assert shared["text"] == "2 items" and shared["files"][0]["id"] == stored["id"]


def test_apps_connections_open_needs_an_app_token(fake_slack: FakeSlack) -> None:
    fake_slack.socket_mode_url = "ws://127.0.0.1:1/link/?ticket=t"
    with pytest.raises(SlackApiError) as bot_token:
        WebClient(token="xoxb-test", base_url=fake_slack.url,
                  retry_handlers=[]).apps_connections_open(app_token="xoxb-test")
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    answer = WebClient(base_url=fake_slack.url).apps_connections_open(app_token="xapp-1-x")
    assert answer["url"] == fake_slack.socket_mode_url


def test_rate_limit_answers_429_with_retry_after(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", times=1, status=429, retry_after=3)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel=OPS_CHANNEL, text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response["error"] == "ratelimited"
    assert limited.value.response.headers["retry-after"] == "3"
    client.chat_postMessage(channel=OPS_CHANNEL, text="y")  # only the next call failed
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]


def test_rate_limit_and_server_errors_are_retried_by_slack_sdk(fake_slack: FakeSlack) -> None:
    client = WebClient(token="xoxb-test", base_url=fake_slack.url, retry_handlers=[
        RateLimitErrorRetryHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=2)])
    fake_slack.fail_next("chat.postMessage", times=1, status=429, retry_after=0)
    fake_slack.fail_next("chat.update", times=1, status=503)
    posted = client.chat_postMessage(channel=OPS_CHANNEL, text="card")
    client.chat_update(channel=OPS_CHANNEL, ts=posted["ts"], text="updated")
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [429, 200]
    assert [c.status for c in fake_slack.calls("chat.update")] == [503, 200]
    assert len(fake_slack.messages(OPS_CHANNEL)) == 1


def test_a_failure_after_the_effect_and_a_dropped_connection(
        client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", status=500, after_effect=True,
                         where=lambda args: args.get("text") == "posted")
    client.chat_postMessage(channel=OPS_CHANNEL, text="not matched")
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=OPS_CHANNEL, text="posted")
    fake_slack.fail_next("chat.postMessage", status=0)
    with pytest.raises(ConnectionError):  # http.client.RemoteDisconnected
        client.chat_postMessage(channel=OPS_CHANNEL, text="dropped")
    assert [m["text"] for m in fake_slack.messages(OPS_CHANNEL)] == ["not matched", "posted"]


def test_conversations_replies_gives_the_thread_and_metadata_when_asked(
        client: WebClient, fake_slack: FakeSlack) -> None:
    parent = client.chat_postMessage(channel=OPS_CHANNEL, text="card")["ts"]
    marked = {"event_type": "jit_results", "event_payload": {"request": "R1", "run": 1}}
    client.chat_postMessage(channel=OPS_CHANNEL, text="reply", thread_ts=parent, metadata=marked)
    client.chat_postMessage(channel=OPS_CHANNEL, text="elsewhere")
    plain = client.conversations_replies(channel=OPS_CHANNEL, ts=parent)["messages"]
    assert [m["text"] for m in plain] == ["card", "reply"]
    assert all("metadata" not in m for m in plain)
    full = client.conversations_replies(channel=OPS_CHANNEL, ts=parent,
                                        include_all_metadata=True)["messages"]
    assert full[1]["metadata"] == marked


def test_slack_error_codes_on_demand(client: WebClient, fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("views.open", status=200, error="expired_trigger_id")
    with pytest.raises(SlackApiError) as expired:
        client.views_open(trigger_id="1.2.3", view={"type": "modal", "blocks": []})
    assert expired.value.response["error"] == "expired_trigger_id"
    with pytest.raises(SlackApiError) as unknown:
        client.api_call("no.such.method")
    assert unknown.value.response["error"] == "unknown_method"


def test_response_url_posts_are_recorded(fake_slack: FakeSlack) -> None:
    url = fake_slack.response_url("help")
    WebhookClient(url).send(text="hello", response_type="ephemeral")
    (body,) = fake_slack.responses()
    assert body["text"] == "hello" and body["response_type"] == "ephemeral"
    assert body["_path"].endswith("/help")


def test_wait_for_sees_calls_made_by_other_threads(client: WebClient,
                                                   fake_slack: FakeSlack) -> None:
    worker = threading.Thread(target=client.chat_postMessage,
                              kwargs={"channel": OPS_CHANNEL, "text": "later"})
    worker.start()
    call = fake_slack.wait_for("chat.postMessage", lambda c: c.args.get("text") == "later")
    worker.join()
    assert call.args["channel"] == OPS_CHANNEL
    with pytest.raises(AssertionError, match="wanted 1"):
        fake_slack.wait_for("chat.delete", timeout=0.2)


def test_reset_forgets_everything(client: WebClient, fake_slack: FakeSlack) -> None:
    client.chat_postMessage(channel=OPS_CHANNEL, text="x")
    fake_slack.set_usergroup("oncall", [])
    fake_slack.reset()
    assert fake_slack.calls() == []
    assert fake_slack.messages(OPS_CHANNEL) == []
    assert ALICE in fake_slack.usergroups["oncall"]
