"""Alert text collection and trigger matching (the Slack-free half of alert buttons)."""

from __future__ import annotations

from pathlib import Path

from bot.core.alerts import AlertMatch, match_alert, trigger_channels
from bot.core.catalog import load_catalog
from bot.slack.alert_text import message_text

CATALOG = load_catalog(Path(__file__).resolve().parent.parent / "runbooks")


def test_watched_channels() -> None:
    assert trigger_channels(CATALOG) == {"#alerts-orders"}


def test_person_text_matches_by_channel_name() -> None:
    found = match_alert(CATALOG, "C1", "alerts-orders", "Heads up: order 1001 is stuck in PAYMENT")
    assert found == [AlertMatch("orders-lookup", {"order_id": "1001"})]


def test_other_channel_or_no_match_offers_nothing() -> None:
    assert match_alert(CATALOG, "C1", "random", "order 1001 is stuck") == []
    assert match_alert(CATALOG, "C1", "alerts-orders", "all good") == []


def test_values_failing_their_pattern_are_not_offered() -> None:
    # order ids are 3..12 digits: a 20-digit id would be refused at request time
    assert match_alert(CATALOG, "C1", "alerts-orders", "order 12345678901234567890 is stuck") == []


def test_several_runbooks_can_match_one_alert() -> None:
    text = "order 1001 is stuck; customer 42 reports orders missing for 2026-11"
    assert [m.runbook for m in match_alert(CATALOG, "C1", "alerts-orders", text)] == [
        "customer-orders", "orders-lookup"]


def test_classic_integration_text_lives_in_attachment_fields() -> None:
    message = {
        "type": "message", "subtype": "bot_message", "text": "",
        "attachments": [{"fallback": "Incident Triggered", "title": "Incident Triggered",
                         "text": "An incident has been triggered.",
                         "fields": [{"title": "Details", "value": "order 2002 is stuck"}]}],
    }
    text = message_text(message)
    assert "order 2002 is stuck" in text
    assert match_alert(CATALOG, "C1", "alerts-orders", text) == [
        AlertMatch("orders-lookup", {"order_id": "2002"})]


def test_blocks_and_rich_text_are_read() -> None:
    message = {
        "text": "fallback",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Alert*"},
             "fields": [{"type": "mrkdwn", "text": "order 3003 is stuck"}]},
            {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [
                {"type": "text", "text": "customer 7 reports "},
                {"type": "text", "text": "orders missing for 2026-10"}]}]},
        ],
    }
    text = message_text(message)
    assert "order 3003 is stuck" in text
    assert "customer 7 reports orders missing for 2026-10" in text
