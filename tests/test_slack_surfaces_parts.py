"""The parts behind alerts and the request modal, one at a time: which messages are
alerts, what an alert button carries, the modal's inputs and checks, channel names."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk import WebClient

from bot.core.catalog import load_catalog
from bot.core.params import RequestError, bind, split_request_text
from bot.core.runbooks import Runbook
from bot.slack.alert_buttons import (
    LABEL_LIMIT,
    Offer,
    OfferButton,
    OfferReference,
    alert_reply,
    button_label,
    inline_value,
    read_value,
    reference_value,
)
from bot.slack.channel_names import ChannelNames
from bot.slack.listeners.alerts import is_new_alert, is_own
from bot.slack.listeners.commands import only_missing
from bot.slack.modal_views import (
    REASON_BLOCK,
    ModalContext,
    ModalError,
    ModalInput,
    check_input,
    read_input,
    request_modal,
)
from tests.fakeslack import ALERTS_CHANNEL, BOT_ID, BOT_USER_ID, FakeSlack
from tests.support.slack import BOT_TOKEN, RUNBOOKS

CATALOG = load_catalog(RUNBOOKS)


def runbook(name: str, **changes: Any) -> Runbook:
    found = CATALOG.get(name)
    assert found is not None
    return found.model_copy(update=changes) if changes else found


# ---------------------------------------------------------------- which messages are alerts


def _message(**fields: Any) -> dict[str, Any]:
    return {"type": "message", "channel": "C1", "ts": "1.000100", "text": "x", **fields}


@pytest.mark.parametrize(("event", "alert"), [
    (_message(user="U1"), True),
    (_message(bot_id="B9", user="UB9"), True),
    (_message(subtype="bot_message", bot_id="B9", text=""), True),
    (_message(user="U1", thread_ts="1.000100"), True),  # a thread's parent is top level
    (_message(user="U1", thread_ts="0.000001"), False),
    (_message(subtype="thread_broadcast", thread_ts="0.000001"), False),
    (_message(subtype="message_changed", hidden=True), False),
    (_message(subtype="message_deleted", hidden=True), False),
    (_message(subtype="channel_join", user="U1"), False),
    (_message(subtype="file_share", user="U1"), False),
    ({"type": "message", "channel": "C1", "text": "no ts"}, False),
])
def test_only_new_top_level_posts_are_alerts(event: dict[str, Any], alert: bool) -> None:
    assert is_new_alert(event) is alert


def test_own_posts_are_recognised_by_bot_id_or_user() -> None:
    assert is_own(_message(bot_id=BOT_ID), BOT_ID, BOT_USER_ID)
    assert is_own(_message(user=BOT_USER_ID), BOT_ID, BOT_USER_ID)
    assert not is_own(_message(bot_id="B9", user="UB9"), BOT_ID, BOT_USER_ID)
    assert not is_own(_message(user="U1"), None, None)


# ---------------------------------------------------------------- alert buttons


def test_a_button_value_round_trips_and_stays_within_slacks_limit() -> None:
    raw = inline_value("orders-lookup", {"order_id": "1001"}, "1.000100")
    assert raw is not None
    assert read_value(raw) == Offer("orders-lookup", {"order_id": "1001"}, "1.000100")
    assert inline_value("order-notes", {"a": "x" * 1000, "b": "y" * 1000}, "1.0") is None
    assert read_value(reference_value("ABCDEFGH")) == OfferReference("ABCDEFGH")


@pytest.mark.parametrize("raw", ["", "not json", "[1]", '{"r": 3, "v": {}}',
                                 '{"r": "x", "v": {"a": 1}}', '{"o": ""}'])
def test_a_value_jitbot_did_not_make_is_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        read_value(raw)


def test_labels_name_the_runbook_and_values_and_fit_a_button() -> None:
    assert button_label("orders-lookup", {"order_id": "1001"}) == \
        "Run orders-lookup (order_id=1001)"
    assert button_label("stuck-orders-scan", {}) == "Run stuck-orders-scan"
    long = button_label("customer-orders", {"customer_id": "9" * 100})
    assert len(long) == LABEL_LIMIT and long.endswith("…")


def test_many_matches_are_split_over_actions_blocks() -> None:
    offers = [OfferButton(f"rb-{i}", {}, reference_value(f"ID{i}")) for i in range(30)]
    message = alert_reply(offers)
    actions = [b.to_dict() for b in message.blocks if b.type == "actions"]
    assert [len(a["elements"]) for a in actions] == [25, 5]
    ids = [e["action_id"] for a in actions for e in a["elements"]]
    assert len(set(ids)) == 30
    assert "Run rb-0" in message.text


# ---------------------------------------------------------------- the modal


def test_the_context_survives_private_metadata_and_rejects_junk() -> None:
    context = ModalContext("orders-lookup", "C1", "1.000100", "alert")
    assert ModalContext.load(context.dump()) == context
    assert ModalContext.load('{"runbook": "x", "channel": "C1", "source": "evil"}').source == \
        "modal"
    for raw in ["", "[]", '{"runbook": "x"}', '{"runbook": "", "channel": "C1"}']:
        with pytest.raises(ModalError):
            ModalContext.load(raw)


def test_an_enum_too_long_for_a_select_gets_a_text_input() -> None:
    scan = runbook("stuck-orders-scan")
    many = scan.params["status"].model_copy(update={"values": [f"S{i}" for i in range(101)]})
    view = request_modal(scan.model_copy(update={"params": {"status": many}}), {}, None,
                         ModalContext(scan.name, "C1"))
    element = next(b["element"] for b in view["blocks"] if b.get("block_id") == "jit_param_status")
    assert element["type"] == "plain_text_input"


def test_a_given_value_the_select_does_not_offer_is_not_preselected() -> None:
    scan = runbook("stuck-orders-scan")
    for given, expected in [("STUCK", "STUCK"), ("LOST", None)]:
        view = request_modal(scan, {"status": given}, "why", ModalContext(scan.name, "C1"))
        element = next(b["element"] for b in view["blocks"]
                       if b.get("block_id") == "jit_param_status")
        assert (element.get("initial_option") or {}).get("value") == expected
        reason = next(b for b in view["blocks"] if b.get("block_id") == REASON_BLOCK)
        assert reason["element"]["initial_value"] == "why"


def test_read_input_takes_each_elements_own_field() -> None:
    scan = runbook("stuck-orders-scan")
    state = {"jit_param_status": {"value": {"type": "static_select",
                                            "selected_option": {"value": "STUCK"}}},
             REASON_BLOCK: {"value": {"type": "plain_text_input", "value": "  disk full  "}}}
    assert read_input(scan, state) == ModalInput({"status": "STUCK"}, "disk full")
    assert read_input(scan, {}) == ModalInput({"status": ""}, None)


def test_check_input_answers_per_field_then_binds() -> None:
    lookup = runbook("orders-lookup")
    errors = check_input(lookup, ModalInput({"order_id": "12ab"}, None))
    assert isinstance(errors, dict)
    assert set(errors) == {"jit_param_order_id", REASON_BLOCK}
    bound = check_input(lookup, ModalInput({"order_id": "1001"}, "ticket 1"))
    assert not isinstance(bound, dict)
    assert (bound.values, bound.reason) == ({"order_id": "1001"}, "ticket 1")
    control = check_input(lookup, ModalInput({"order_id": "1001"}, "bad\u200breason"))
    assert isinstance(control, dict) and "invisible" in control[REASON_BLOCK]


@pytest.mark.parametrize(("text", "left_out"), [
    ("customer-orders", True),
    ("customer-orders customer_id=42", True),
    ('customer-orders reason="x"', True),
    ("customer-orders customer_id=abc", False),  # a wrong value: answer at once
    ("customer-orders colour=red", False),
    ("orders-lookup order_id=1001", False),  # only the reason is missing
])
def test_the_modal_opens_only_for_parameters_left_out(text: str, left_out: bool) -> None:
    parsed = split_request_text(text)
    rb = runbook(parsed.runbook)
    with pytest.raises(RequestError) as raised:
        bind(rb, parsed.values, parsed.reason)
    assert only_missing(rb, parsed, raised.value) is left_out


# ---------------------------------------------------------------- channel names


def test_channel_names_are_cached_and_failures_retried_later(fake_slack: FakeSlack) -> None:
    now = [0.0]
    names = ChannelNames(WebClient(token=BOT_TOKEN, base_url=fake_slack.url),
                         ttl=60, failure_ttl=5, clock=lambda: now[0])
    assert names.name(ALERTS_CHANNEL) == "alerts-orders"
    assert names.name(ALERTS_CHANNEL) == "alerts-orders"
    assert len(fake_slack.calls("conversations.info")) == 1
    assert names.name("C0NOWHERE") is None
    assert names.name("C0NOWHERE") is None
    assert len(fake_slack.calls("conversations.info")) == 2
    fake_slack.add_channel("C0NOWHERE", "now-here")
    now[0] = 6
    assert names.name("C0NOWHERE") == "now-here"
    fake_slack.add_channel(ALERTS_CHANNEL, "renamed")
    now[0] = 61
    assert names.name(ALERTS_CHANNEL) == "renamed"
    assert fake_slack.calls("conversations.info")[0].args["channel"] == ALERTS_CHANNEL
