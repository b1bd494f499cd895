"""Redaction throughput against plain `json.dumps` of the same items (issue 3 item 8).

    python -m bench.redaction [--megabytes 10] [--repeat 5] [--seed 7]

Builds about 10 MB (as JSON) of nested order items with faker-made personal data, then
times `Redactor.redact` and `json.dumps(items, default=str)` over the same items. Each is
run `--repeat` times, alternating, and the best run of each counts: the one least
disturbed by anything else on the machine. Redaction works in place on the items it is
given (the query's own, in the bot), so each run gets a fresh copy made before its clock
starts. Values are drawn from pools of faker values, so some repeat across items, as
statuses, names and descriptions do in a real table; redaction scans each distinct string
once, so the more values repeat the faster it is. Three mixes are measured:

* free text (the goal's measure): besides the field-ruled attributes (customer_email,
  card_number, shipping.phone, as in runbooks/orders-lookup.yaml), every item carries
  e-mail addresses, a phone number and an IP address in free text and nested history,
  some a card number, a few an SSN and an AWS key id: about seven findings per item.
  Pools of 2000 values per kind: about 40% of the text is distinct.
* free text, distinct: the same with pools of 20 000 values per kind, so that about 75%
  of the text is distinct (the rest is what repeats in every item: attribute values
  such as statuses and currencies).
* ruled only: the same items with the free text made ordinary, so all personal data
  sits in field-ruled attributes and the detectors scan everything but find nothing.

Goal: redaction at no less than half the throughput of json.dumps. The first line printed
says whether the redaction modules run compiled (the normal build) or interpreted
(a JITBOT_PURE_PYTHON build, see setup.py).
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from faker import Faker

from bot.core.redaction import Redactor
from bot.core.runbooks import Detector, RedactRule, RedactSpec

GOAL = 0.5
POOL = 2000  # distinct values per kind; items draw from these pools so building is quick
DISTINCT_POOL = 20_000  # for the mix where almost every value of an item is its own
LOCALES = ["en_US", "en_GB", "de_DE", "fr_FR", "ja_JP", "pt_BR"]
SPEC = RedactSpec(
    fields={
        "customer_email": RedactRule.email,
        "card_number": RedactRule.last4,
        "shipping.phone": RedactRule.mask,
    },
    detect=list(Detector),
)


def make_items(megabytes: float, seed: int, *, free_text_pii: bool = True,
               pool: int = POOL) -> list[dict[str, Any]]:
    """Order items of about `megabytes` of compact JSON, from pools of faker values."""
    rng = random.Random(seed)
    fake = Faker(LOCALES)
    fake.seed_instance(seed)
    us = Faker("en_US")
    us.seed_instance(seed)
    key_chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    makers: dict[str, Callable[[], str]] = {
        "email": fake.email,
        "name": fake.name,
        "phone": fake.phone_number,
        "card": fake.credit_card_number,
        "address": fake.address,
        "sentence": fake.sentence,
        "ipv4": fake.ipv4,
        "ipv6": fake.ipv6,
        "ssn": us.ssn,
        "timestamp": lambda: fake.date_time().isoformat(timespec="milliseconds") + "Z",
        "city": fake.city,
        "word": fake.word,
        "uuid": fake.uuid4,
        "key_id": lambda: "AKIA" + "".join(rng.choices(key_chars, k=16)),
    }
    pools = {name: [make() for _ in range(pool)] for name, make in makers.items()}

    def pick(name: str) -> str:
        return rng.choice(pools[name])

    items: list[dict[str, Any]] = []
    size = 0
    while size < megabytes * 1_000_000:
        if free_text_pii:
            notes = f"{pick('sentence')} Customer {pick('email')} called from {pick('phone')}."
            if rng.random() < 0.2:
                notes += f" Paid with {pick('card')}."
            client, actor = pick(rng.choice(["ipv4", "ipv6"])), "email"
        else:
            notes, client, actor = f"{pick('sentence')} {pick('sentence')}", pick("uuid"), "word"
        item = {
            "pk": f"ORDER#{100_000 + len(items)}",
            "sk": "ORDER",
            "status": rng.choice(["PENDING", "SHIPPED", "STUCK", "PAYMENT_FAILED"]),
            "created_at": pick("timestamp"),
            "total": Decimal(rng.randint(100, 999_999)) / 100,
            "currency": rng.choice(["EUR", "USD", "GBP"]),
            "customer_id": f"CUST#{rng.randint(1, 99_999)}",
            "customer_email": pick("email"),
            "customer_name": pick("name"),
            "card_number": pick("card"),
            "shipping": {
                "name": pick("name"),
                "address": pick("address"),
                "phone": pick("phone"),
                "city": pick("city"),
            },
            "lines": [
                {
                    "sku": f"SKU-{rng.randint(1000, 9999)}-{pick('word').upper()}",
                    "quantity": rng.randint(1, 5),
                    "price": Decimal(rng.randint(100, 99_999)) / 100,
                    "description": pick("sentence"),
                }
                for _ in range(rng.randint(1, 4))
            ],
            "notes": notes,
            "client": client,
            "request_id": pick("uuid"),
            "tags": sorted({pick("word") for _ in range(3)}),
            "flags": {"gift": rng.random() < 0.2, "priority": None},
            "history": [
                {"at": pick("timestamp"), "event": pick("word"), "by": pick(actor)}
                for _ in range(rng.randint(0, 3))
            ],
        }
        if free_text_pii and rng.random() < 0.05:
            item["support"] = {"ssn": pick("ssn"), "debug": f"key {pick('key_id')} used"}
        items.append(item)
        size += len(json.dumps(item, default=str))
    return items


MIXES = [("free text", True, POOL), ("free text, distinct", True, DISTINCT_POOL),
         ("ruled only", False, POOL)]


def measure(items: list[dict[str, Any]], repeat: int) -> tuple[float, float, dict[str, int]]:
    """Best seconds of json.dumps and of redaction (runs alternate), and the counts.

    Redaction works in place on the query's own items, so each run is given a fresh copy
    of them, made before its clock starts; json.dumps is timed on that same copy.
    """
    redactor = Redactor(SPEC, hash_key=b"benchmark-key-0123456789")
    frozen = pickle.dumps(items, protocol=pickle.HIGHEST_PROTOCOL)
    # also warms the layout cache, as in a running bot
    counts = redactor.redact(pickle.loads(frozen)).counts
    dumps, redact = [], []
    for _ in range(repeat):
        batch = pickle.loads(frozen)
        started = time.perf_counter()
        json.dumps(batch, default=str)
        dumps.append(time.perf_counter() - started)
        started = time.perf_counter()
        redactor.redact(batch)
        redact.append(time.perf_counter() - started)
    return min(dumps), min(redact), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    compiled = not (sys.modules[Redactor.__module__].__file__ or "").endswith(".py")
    print("redaction modules:", "compiled (mypyc)" if compiled else "interpreted")
    ratios = {}
    for label, free_text_pii, pool in MIXES:
        items = make_items(args.megabytes, args.seed, free_text_pii=free_text_pii, pool=pool)
        megabytes = len(json.dumps(items, default=str).encode()) / 1_000_000
        dumps, redact, counts = measure(items, args.repeat)
        ratios[label] = dumps / redact
        print(f"[{label}] {len(items)} items, {megabytes:.2f} MB as JSON, best of {args.repeat}")
        print(f"  redacted {sum(counts.values())} values: {dict(sorted(counts.items()))}")
        print(f"  json.dumps       {megabytes / dumps:7.1f} MB/s  ({dumps * 1000:.0f} ms)")
        print(f"  Redactor.redact  {megabytes / redact:7.1f} MB/s  ({redact * 1000:.0f} ms)")
        print(f"  ratio redact/json.dumps: {ratios[label]:.2f}x")
    verdict = "meets" if ratios["free text"] >= GOAL else "misses"
    print(f"goal {GOAL}x on the free-text mix: {verdict} ({ratios['free text']:.2f}x)")


if __name__ == "__main__":
    main()
