"""Redaction: field rules, detectors, fail-closed behaviour and the near-miss corpus."""

from __future__ import annotations

import json
import re
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.redaction import MASK, RedactedResult, RedactionError, Redactor
from bot.core.runbooks import Detector, RedactRule, RedactSpec

KEY = b"test-hash-key-0123456789"
NEAR_MISSES = [
    line.rstrip("\n")
    for line in (Path(__file__).parent / "data" / "near_misses.txt").read_text("utf-8").splitlines()
    if line.strip() and not line.startswith("# ")
]


def redact(items: list[dict[str, Any]], fields: dict[str, RedactRule] | None = None,
           detect: list[Detector] | None = None, key: bytes = KEY) -> RedactedResult:
    spec = RedactSpec(fields=fields or {}, detect=list(Detector) if detect is None else detect)
    return Redactor(spec, key).redact(items)


# -- field rules ----------------------------------------------------------------------------
def test_drop_removes_the_attribute_and_counts_it() -> None:
    result = redact([{"pk": "A", "ssn": "123-45-6789"}], {"ssn": RedactRule.drop})
    assert result.items == [{"pk": "A"}]
    assert result.counts == {"field:drop": 1}


def test_mask_hides_the_length_and_the_type() -> None:
    items = [{"v": "a"}, {"v": "a" * 50}, {"v": Decimal("4111111111111111")}, {"v": None},
             {"v": True}]
    result = redact(items, {"v": RedactRule.mask})
    assert [item["v"] for item in result.items] == [MASK] * 5
    assert result.counts == {"field:mask": 5}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("4242 4242 4242 4242", "•••• 4242"),
        ("4242-4242-4242-4242", "•••• 4242"),
        (Decimal("4111111111111111"), "•••• 1111"),
        (41111111, "•••• 1111"),
        ("+44 20 7946 0958", "•••• 0958"),
        ("ABCDEFGH", "•••• EFGH"),
        ("Jane Q Public", "•••• blic"),
        ("1234567", MASK),  # fewer than 8: masked whole, never more than half shown
        ("ab", MASK),
        (None, MASK),
    ],
)
def test_last4_keeps_at_most_the_last_four(value: Any, expected: str) -> None:
    assert redact([{"v": value}], {"v": RedactRule.last4}).items == [{"v": expected}]


def test_hash_is_keyed_stable_and_short() -> None:
    def items() -> list[dict[str, Any]]:  # redaction works in place: fresh items each time
        return [{"id": "customer-42"}, {"id": "customer-42"}, {"id": "customer-43"}]

    first = redact(items(), {"id": RedactRule.hash}).items
    again = redact(items(), {"id": RedactRule.hash}).items
    other_key = redact(items(), {"id": RedactRule.hash}, key=b"another-key-0123456789").items
    assert all(re.fullmatch(r"hash:[0-9a-f]{12}", item["id"]) for item in first)
    assert first == again
    assert first[0]["id"] == first[1]["id"] != first[2]["id"]
    assert other_key[0]["id"] != first[0]["id"]


def test_hash_of_a_map_does_not_depend_on_key_order() -> None:
    one = redact([{"m": {"a": 1, "b": "x"}}], {"m": RedactRule.hash}).items[0]["m"]
    two = redact([{"m": {"b": "x", "a": 1}}], {"m": RedactRule.hash}).items[0]["m"]
    assert one == two and one.startswith("hash:")


def test_hash_rule_needs_a_real_key() -> None:
    spec = RedactSpec(fields={"id": RedactRule.hash}, detect=[])
    with pytest.raises(RedactionError, match="at least 16 bytes"):
        Redactor(spec, b"short")
    Redactor(RedactSpec(fields={"id": RedactRule.mask}, detect=[]), b"")  # no hash: no key


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Jane.Doe@Example.COM", "•••@example.com"),
        ("ops+alerts@mail.example.co.uk", "•••@mail.example.co.uk"),
        ("not an address", MASK),
        ("@example.com", MASK),
        (12345, MASK),
    ],
)
def test_email_rule_keeps_only_the_domain(value: Any, expected: str) -> None:
    assert redact([{"e": value}], {"e": RedactRule.email}).items == [{"e": expected}]


def test_dotted_paths_reach_into_maps_and_through_lists() -> None:
    items = [{
        "shipping": [{"phone": "a-phone", "city": "Leeds"}, {"phone": "b-phone"}, "loose"],
        "customer": {"contact": {"email": "x"}, "name": "n"},
    }]
    fields = {"shipping.phone": RedactRule.mask, "customer.contact.email": RedactRule.drop}
    result = redact(items, fields, detect=[])
    assert result.items == [{
        "shipping": [{"phone": MASK, "city": "Leeds"}, {"phone": MASK}, "loose"],
        "customer": {"contact": {}, "name": "n"},
    }]
    assert result.counts == {"field:mask": 2, "field:drop": 1}


def test_a_rule_on_a_list_applies_to_each_element_and_on_a_map_to_the_whole() -> None:
    items = [{"phones": ["555 0100 1234", "555 0100 9876"], "card": {"number": "4242"}}]
    fields = {"phones": RedactRule.last4, "card": RedactRule.mask}
    result = redact(items, fields, detect=[])
    assert result.items == [{"phones": ["•••• 1234", "•••• 9876"], "card": MASK}]
    assert result.counts == {"field:last4": 2, "field:mask": 1}


def test_a_rule_on_a_map_covers_rules_below_it() -> None:
    fields = {"shipping": RedactRule.mask, "shipping.phone": RedactRule.last4}
    result = redact([{"shipping": {"phone": "+44 20 7946 0958"}}], fields, detect=[])
    assert result.items == [{"shipping": MASK}]


def test_paths_that_do_not_match_leave_items_alone_and_detectors_still_run() -> None:
    items = [{"shipping": "call +44 20 7946 0958", "other": 1}]
    result = redact(items, {"shipping.phone": RedactRule.mask, "absent": RedactRule.drop})
    assert result.items == [{"shipping": "call [phone]", "other": 1}]
    assert result.counts == {"phone": 1}


def test_rule_outputs_are_not_scanned_again() -> None:
    result = redact([{"e": "jane@example.com"}], {"e": RedactRule.email})
    assert result.items == [{"e": "•••@example.com"}]
    assert result.counts == {"field:email": 1}


# -- detectors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("write to jane.doe+orders@example.co.uk.", "write to [email].", "email"),
        ("card 4111 1111 1111 1111 exp 12/27", "card [card] exp 12/27", "card"),
        ("amex 3782-822463-10005", "amex [card]", "card"),
        ("paid with 4111111111111111", "paid with [card]", "card"),
        ("call +44 20 7946 0958 now", "call [phone] now", "phone"),
        ("call (415) 555-0132 x204", "call [phone]", "phone"),
        ("call 415-555-0132", "call [phone]", "phone"),
        ("call +1.415.555.0132", "call [phone]", "phone"),
        ("ssn 123-45-6789", "ssn [ssn]", "ssn"),
        ("from 192.168.10.20:8443", "from [ip]:8443", "ip"),
        ("from 2001:db8::8a2e:370:7334 and", "from [ip] and", "ip"),
        ("client [fe80::1]:443", "client [[ip]]:443", "ip"),
        ("key AKIAIOSFODNN7EXAMPLE used", "key [aws_key] used", "aws_key"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
         "aws_secret_access_key = [aws_key]", "aws_key"),
    ],
)
def test_each_detector_replaces_its_span_with_a_tag(text: str, expected: str, kind: str) -> None:
    result = redact([{"notes": text}])
    assert result.items == [{"notes": expected}]
    assert result.counts == {kind: 1}


def test_detectors_reach_every_depth_and_count_per_kind() -> None:
    items = [{
        "pk": "ORDER#1001",
        "history": [
            {"by": "ann@example.com", "note": "refund to 4111-1111-1111-1111"},
            {"by": "bob@example.com", "tags": ["vip", "ip 10.0.0.7"]},
        ],
        "deep": {"a": {"b": {"c": ["+33 1 83 41 77 76"]}}},
    }]
    result = redact(items)
    assert json.dumps(result.items) == json.dumps([{
        "pk": "ORDER#1001",
        "history": [
            {"by": "[email]", "note": "refund to [card]"},
            {"by": "[email]", "tags": ["vip", "ip [ip]"]},
        ],
        "deep": {"a": {"b": {"c": ["[phone]"]}}},
    }])
    assert result.counts == {"email": 2, "card": 1, "ip": 1, "phone": 1}
    assert result.total == 5


def test_only_the_listed_detectors_run() -> None:
    items = [{"v": "ann@example.com +44 20 7946 0958"}]
    assert redact(items, detect=[Detector.email]).items == [{"v": "[email] +44 20 7946 0958"}]
    assert redact(items, detect=[]).items == items


def test_map_keys_are_scanned_and_kept_distinct() -> None:
    items = [{"contacts": {"ann@example.com": "primary", "bob@example.com": "backup",
                           "plain": "ann@example.com"}}]
    result = redact(items)
    assert result.items == [{"contacts": {"[email]": "primary", "[email] (2)": "backup",
                                          "plain": "[email]"}}]


def test_a_value_holding_the_separator_is_still_scanned() -> None:
    result = redact([{"v": "a\x00b ann@example.com", "w": "ok\x00", "x": "bob@example.com"}])
    assert result.items == [{"v": "a\x00b [email]", "w": "ok\x00", "x": "[email]"}]
    assert result.counts == {"email": 2}


def test_scalars_are_kept_exactly_and_the_items_are_redacted_in_place() -> None:
    items = [{"n": Decimal("12.50"), "i": 7, "b": False, "z": None, "s": "ann@example.com",
              "l": [Decimal("0.1"), {"deep": "bob@example.com"}]}]
    nested = items[0]["l"]
    result = redact(items, {"i": RedactRule.mask})
    # no second copy of a large result: the caller's items are the redacted ones
    assert result.items is items and items[0]["l"] is nested
    assert items[0]["i"] == MASK and items[0]["s"] == "[email]"
    assert nested[1] == {"deep": "[email]"}
    assert result.items[0]["n"] == Decimal("12.50") and str(result.items[0]["n"]) == "12.50"
    assert result.items[0]["l"][0] == Decimal("0.1")
    assert result.items[0]["b"] is False and result.items[0]["z"] is None


def test_a_map_reachable_twice_is_redacted_once_and_counted_once() -> None:
    # Items built by hand can share a map (a query's never do): it is one map, whose
    # findings are replaced and counted once, and the redacted text shows at both places.
    shared = {"e": "ann@example.com"}
    result = redact([{"a": shared, "b": [shared]}])
    assert result.items == [{"a": {"e": "[email]"}, "b": [{"e": "[email]"}]}]
    assert result.counts == {"email": 1}


def test_empty_input_and_empty_items() -> None:
    assert redact([]) == RedactedResult([], {})
    assert redact([{}]).items == [{}]


# -- fail closed ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1.5, b"bytes", {"a", "b"}, ("t",), object()])
def test_an_unsupported_value_fails_closed_naming_type_and_attribute(bad: Any) -> None:
    items = [{"pk": "A", "nested": {"list": ["ann@example.com", bad]}}]
    with pytest.raises(RedactionError) as caught:
        redact(items)
    message = str(caught.value)
    assert "'nested'" in message and type(bad).__name__ in message
    assert "nothing was posted" in message and "ann@example.com" not in message


@pytest.mark.parametrize("items", [[["not", "a", "map"]], ("not", "a", "list"), [{"a": 1}, 3]])
def test_malformed_results_fail_closed(items: Any) -> None:
    with pytest.raises(RedactionError):
        redact(items)


def test_a_field_rule_over_an_unsupported_value_fails_closed() -> None:
    with pytest.raises(RedactionError, match="float"):
        redact([{"m": {"x": 1.5}}], {"m": RedactRule.hash})


def test_a_failing_detector_fails_closed_without_quoting_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The detectors are compiled (their calls to one another cannot be patched): the
    # library call checking an IPv6 candidate is made to fail instead, quoting its input.
    def broken(family: int, text: str) -> bytes:
        raise RuntimeError(f"cannot handle {text!r}")

    monkeypatch.setattr(socket, "inet_pton", broken)
    with pytest.raises(RedactionError) as caught:
        redact([{"v": "ann@example.com at 2001:db8::1"}])
    assert "ann@example.com" not in str(caught.value) and "2001" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_a_non_text_map_key_fails_closed() -> None:
    with pytest.raises(RedactionError, match="key"):
        redact([{"m": {1: "one"}}])


# -- the near-miss corpus ------------------------------------------------------------------
def test_the_corpus_is_substantial() -> None:
    assert len(NEAR_MISSES) >= 100


@pytest.mark.parametrize("value", NEAR_MISSES)
def test_near_misses_are_left_alone(value: str) -> None:
    sentence = f"note: {value} (checked)"
    items = [{"v": value, "s": sentence, "nested": [{"k": value}], value: "as a key"}]
    result = redact(items)
    assert result.items == items
    assert result.counts == {}


def test_near_misses_all_together_in_one_result() -> None:
    items = [{"id": str(i), "v": value} for i, value in enumerate(NEAR_MISSES)]
    assert redact(items).counts == {}


def test_secret_context_is_looked_for_in_the_tokens_own_string_only() -> None:
    token = "ApplicationLoadBalancerTargetGroupName01"  # word-like: a key only after "secret"
    assert len(token) == 40
    alone = redact([{"a": "the secret", "b": token}, {"c": token}])
    assert alone.items == [{"a": "the secret", "b": token}, {"c": token}] and alone.total == 0
    told = redact([{"a": f"secret: {token}"}])
    assert told.items == [{"a": "secret: [aws_key]"}] and told.counts == {"aws_key": 1}
