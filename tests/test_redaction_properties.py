"""Property tests: faker-made personal data hidden in nested items never survives redaction.

Supported phone formats (what `supported_phone` keeps of faker's numbers, and what
bot.core.detectors documents): a "+" and 8-15 digits in any grouping; otherwise 9-13
digits written with spaces, dots, dashes or parentheses. Not supported, and filtered out
here: bare digit strings without "+" (indistinguishable from ids) unless they are 10-11
digits opening with a single trunk 0 ("0612345678"), numbers
under 9 digits without "+", slash-separated numbers ("06/ 981 98 46"), numbers that
open with "000", and numbers split by spaces alone ("609 141 777", which reads as a list
of numbers) unless they open with a trunk 0, are North American 3-3-4 or are 11 digits
after a one-digit prefix ("8 896 935 0492").
"""

from __future__ import annotations

import copy
import ipaddress
import json
import random
import re
import string
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from faker import Faker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.redaction import RedactionError, Redactor
from bot.core.runbooks import Detector, RedactRule, RedactSpec

PHONE_LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "en_CA", "en_AU", "es_ES", "it_IT",
                 "nl_NL", "ja_JP", "pt_BR", "en_IN", "pl_PL", "sv_SE", "fi_FI", "ru_RU",
                 "de_AT", "ko_KR", "tr_TR", "he_IL"]
FAKERS = {locale: Faker(locale) for locale in PHONE_LOCALES}
US = FAKERS["en_US"]
BASE64 = string.ascii_letters + string.digits + "/+"
EXAMPLES = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
REDACTOR = Redactor(RedactSpec(detect=list(Detector)), b"property-test-key-0123")


def supported_phone(number: str) -> bool:
    core = re.sub(r"\s*(?:x|ext\.?)\s*\d+$", "", number)
    digits = re.sub(r"\D", "", core)
    if core.startswith("+"):
        return 8 <= len(digits) <= 15
    if "/" in core or digits.startswith("000"):
        return False
    if core.isdigit():
        return len(digits) in (10, 11) and digits[0] == "0" and digits[1] != "0"
    lengths = [len(group) for group in re.findall(r"\d+", core)]
    if not re.search(r"[.()\-]", core) and not digits.startswith("0") and not (
        lengths == [3, 3, 4] or (lengths[0] == 1 and len(digits) == 11)
    ):
        return False  # only spaces between the groups: reads as a list of numbers
    return bool(re.search(r"[ .()\-]", core)) and 9 <= len(digits) <= 13


def _card(fake: Faker, rng: random.Random) -> str:
    while True:
        number = fake.credit_card_number()
        if 13 <= len(number) <= 19:  # 12-digit Maestro numbers are not claimed
            break
    if rng.random() < 0.5:
        return number
    separator = rng.choice(" -")
    return separator.join(number[i : i + 4] for i in range(0, len(number), 4))


def _phone(fake: Faker, rng: random.Random) -> str:
    locale_fake = FAKERS[rng.choice(PHONE_LOCALES)]
    locale_fake.seed_instance(rng.getrandbits(32))
    while not supported_phone(number := locale_fake.phone_number()):
        pass
    return number


def _secret(fake: Faker, rng: random.Random) -> str:
    while True:
        token = "".join(rng.choice(BASE64) for _ in range(40))
        if (any(c.isupper() for c in token) and any(c.islower() for c in token)
                and any(c.isdigit() for c in token)):
            return token


MAKERS: dict[str, tuple[Detector, Callable[[Faker, random.Random], str]]] = {
    "email": (Detector.email, lambda fake, rng: rng.choice(
        [fake.email, fake.company_email, fake.free_email, fake.ascii_safe_email])()),
    "card": (Detector.card, _card),
    "phone": (Detector.phone, _phone),
    "ssn": (Detector.ssn, lambda fake, rng: fake.ssn()),
    "ipv4": (Detector.ip, lambda fake, rng: rng.choice(
        [fake.ipv4, fake.ipv4_private, fake.ipv4_public])()),
    "ipv6": (Detector.ip, lambda fake, rng: fake.ipv6()),
    "key_id": (Detector.aws_key, lambda fake, rng: rng.choice(["AKIA", "ASIA"]) + "".join(
        rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))),
    "secret": (Detector.aws_key, _secret),
}


class Planted:
    """What a generated result holds: the raw PII strings and the count per kind."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.counts: Counter[str] = Counter()
        self.keys: set[str] = set()


@st.composite
def pii(draw: st.DrawFn) -> tuple[Detector, str]:
    name = draw(st.sampled_from(sorted(MAKERS)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    US.seed_instance(rng.getrandbits(32))
    kind, make = MAKERS[name]
    return kind, make(US, rng)


words = st.sampled_from(["order", "refund", "called", "about", "shipped", "the", "Müller",
                         "東京", "note", "status", "PENDING", "customer", "via", "and"])
near_misses = st.sampled_from(["ORDER#1001", "2026-11-26T11:33:52Z", "1,234.56", "v10.4.1.2",
                               "123e4567-e89b-12d3-a456-426614174000", "SKU-1234-XL", "42",
                               "arn:aws:iam::123456789012:role/jit-orders-read", "1.2.3",
                               "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", "U0123ABCD"])
ordinary = st.one_of(
    st.lists(st.one_of(words, near_misses), min_size=1, max_size=6).map(" ".join),
    st.integers(-(10**6), 10**6),
    st.decimals(min_value=-(10**6), max_value=10**6, allow_nan=False, places=2),
    st.booleans(),
    st.none(),
)


@st.composite
def text_with_pii(draw: st.DrawFn, planted: Planted) -> str:
    """A PII value alone, or a sentence of ordinary words carrying one or two of them."""
    bare = draw(st.booleans())
    parts = []
    for _ in range(1 if bare else draw(st.integers(1, 2))):
        kind, value = draw(pii())
        planted.values.append(value)
        planted.counts[kind.value] += 1
        if bare:
            return value
        if kind is Detector.aws_key and len(value) == 40 and draw(st.booleans()):
            parts.append("aws_secret_access_key=")
        parts.append(draw(words))
        opening, closing = draw(st.sampled_from([("", ""), ("(", ")"), ('"', '"'), ("", "."),
                                                 ("", ","), ("<", ">"), ("", "!")]))
        parts.append(f"{opening}{value}{closing}")
        parts.append(draw(words))
    return " ".join(parts)


@st.composite
def item_value(draw: st.DrawFn, planted: Planted, depth: int) -> Any:
    choice = draw(st.integers(0, 5 if depth < 3 else 2))
    if choice == 0:
        return draw(text_with_pii(planted))
    if choice in (1, 2):
        return draw(ordinary)
    if choice == 3:
        return [draw(item_value(planted, depth + 1)) for _ in range(draw(st.integers(0, 3)))]
    return draw(item_map(planted, depth + 1))


@st.composite
def item_map(draw: st.DrawFn, planted: Planted, depth: int = 0) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for _ in range(draw(st.integers(0 if depth else 1, 4))):
        if depth and draw(st.integers(0, 9)) == 0:  # nested map keys can be data too
            kind, key = draw(pii())
            if key not in planted.keys and key not in result:
                planted.keys.add(key)
                planted.values.append(key)
                planted.counts[kind.value] += 1
                result[key] = draw(ordinary)
            continue
        name = draw(st.sampled_from(["pk", "sk", "status", "notes", "shipping", "history",
                                     "customer", "lines", "meta", "tags"]))
        if name not in result:
            result[name] = draw(item_value(planted, depth))
    return result


@st.composite
def results(draw: st.DrawFn) -> tuple[list[dict[str, Any]], Planted]:
    planted = Planted()
    items = [draw(item_map(planted)) for _ in range(draw(st.integers(1, 4)))]
    return items, planted


@EXAMPLES
@given(results())
def test_no_planted_pii_survives_and_counts_add_up(generated: tuple[list[Any], Planted]) -> None:
    items, planted = generated
    result = REDACTOR.redact(items)
    output = json.dumps(result.items, ensure_ascii=False, default=str)
    for value in planted.values:
        assert value not in output
    assert result.counts == {kind: n for kind, n in planted.counts.items() if n}
    assert result.total == sum(planted.counts.values())


@EXAMPLES
@given(st.lists(pii(), min_size=1, max_size=30))
def test_each_kind_is_found_alone_and_inside_words(found: list[tuple[Detector, str]]) -> None:
    for kind, value in found:
        for text in (value, f"seen {value} today", f"({value})", f"{value}."):
            result = REDACTOR.redact([{"v": text}])
            assert value not in result.items[0]["v"], (kind, text)
            assert result.counts == {kind.value: 1}, (kind, text)


@EXAMPLES
@given(st.lists(near_misses | words, min_size=1, max_size=20), st.integers(0, 2**32 - 1))
def test_ordinary_values_survive_untouched(values: list[str], seed: int) -> None:
    rng = random.Random(seed)
    items = [{"a": " ".join(values), "b": [rng.choice(values), {"c": rng.choice(values)}]}]
    before = copy.deepcopy(items)
    result = REDACTOR.redact(items)
    assert result.items == before and result.total == 0


@EXAMPLES
@given(results(), st.sampled_from([1.5, b"raw", frozenset({"x"}), ("t",), object()]),
       st.integers(0, 2**32 - 1))
def test_an_unsupported_value_anywhere_fails_closed(
    generated: tuple[list[Any], Planted], bad: Any, seed: int
) -> None:
    items, _ = generated
    containers: list[Any] = []

    def collect(value: Any) -> None:
        if isinstance(value, dict | list):
            containers.append(value)
            for element in value.values() if isinstance(value, dict) else value:
                collect(element)

    collect(items)
    target = random.Random(seed).choice(containers[1:])  # some item or something in it
    if isinstance(target, dict):
        target["unsupported"] = bad
    else:
        target.append(bad)
    with pytest.raises(RedactionError):
        REDACTOR.redact(items)


@EXAMPLES
@given(st.recursive(ordinary, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from("abcde"), inner, max_size=3), max_leaves=8),
       st.sampled_from([RedactRule.mask, RedactRule.hash, RedactRule.email, RedactRule.last4]))
def test_field_rules_leave_nothing_of_the_value_but_what_they_promise(
    value: Any, rule: RedactRule
) -> None:
    redactor = Redactor(RedactSpec(fields={"secret": rule}, detect=[]), b"property-test-key-0123")
    out = redactor.redact([{"secret": value, "pk": "A"}]).items[0]
    assert out["pk"] == "A"

    def leaves(node: Any) -> list[Any]:
        if isinstance(node, list):
            return [leaf for element in node for leaf in leaves(element)]
        return [node]

    for leaf in leaves(out["secret"]):
        assert isinstance(leaf, str)
        assert (leaf == "••••" or re.fullmatch(r"hash:[0-9a-f]{12}", leaf)
                or re.fullmatch(r"•••@[\w.-]+", leaf) or re.fullmatch(r"•••• \S{4}", leaf))
    assert not isinstance(value, Decimal) or str(value) not in json.dumps(out, default=str) or (
        len(str(value)) <= 4
    )


octet = st.integers(0, 300).map(str) | st.integers(0, 99).map(lambda n: f"0{n}")


@EXAMPLES
@given(st.lists(octet, min_size=4, max_size=4).map(".".join))
def test_dotted_quads_are_addresses_exactly_when_ipaddress_says_so(quad: str) -> None:
    try:
        ipaddress.IPv4Address(quad)
        valid = True
    except ValueError:
        valid = False
    result = REDACTOR.redact([{"v": f"host {quad} up"}])
    assert (result.items[0]["v"] == "host [ip] up") is valid, quad


hextet = st.integers(0, 0xFFFF).map(lambda n: f"{n:x}")


@EXAMPLES
@given(st.lists(hextet, min_size=1, max_size=8), st.integers(0, 8), st.booleans())
def test_ipv6_addresses_are_found_as_ipaddress_parses_them(
    groups: list[str], gap: int, compress: bool
) -> None:
    if compress and len(groups) < 8:
        cut = min(gap, len(groups))
        address = ":".join(groups[:cut]) + "::" + ":".join(groups[cut:])
    else:
        address = ":".join(groups)
    try:
        ipaddress.IPv6Address(address)
        valid = True
    except ValueError:
        valid = False
    result = REDACTOR.redact([{"v": f"peer {address} up"}])
    assert (result.items[0]["v"] == "peer [ip] up") is valid, address
