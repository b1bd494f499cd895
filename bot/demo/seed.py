"""A realistic `orders` table for the demo, the tests and the benchmarks.

Most orders are made up by faker (seeded, so every run writes the same items) and carry
the kinds of PII redaction must catch: emails, card numbers, phone numbers inside the
`shipping` map. A few are fixed so docs and tests can name them: order 1001, and
customer 42's orders in November 2026.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeSerializer
from faker import Faker

TABLE = "orders"
INDEX = "by-customer"
STATUSES = ["PENDING", "PAID", "SHIPPED", "DELIVERED", "PAYMENT_FAILED", "STUCK", "REFUNDED"]
_WEIGHTS = [10, 25, 20, 35, 4, 3, 3]
_BATCH = 25  # BatchWriteItem's maximum

KNOWN_ORDERS: list[dict[str, Any]] = [
    {
        "pk": "ORDER#1001", "sk": "ORDER", "status": "STUCK",
        "total": Decimal("129.99"), "currency": "USD",
        "created_at": "2026-11-03T09:14:22Z", "customer_id": "CUST#42",
        "customer_email": "ada.lovelace@example.org",
        "card_number": "4111 1111 1111 1111",
        "shipping": {
            "name": "Ada Lovelace", "street": "12 St James's Square", "city": "London",
            "postcode": "SW1Y 4JH", "country": "GB", "phone": "+44 20 7946 0958",
        },
        "lines": [
            {"sku": "BOOK-ANALYTICAL-ENGINE", "qty": 1, "price": Decimal("99.99")},
            {"sku": "GIFT-WRAP", "qty": 2, "price": Decimal("15.00")},
        ],
        "tags": {"gift", "priority"},
    },
    *[
        {
            "pk": f"ORDER#{order_id}", "sk": "ORDER", "status": status,
            "total": Decimal(total), "currency": "USD", "created_at": created,
            "customer_id": "CUST#42", "customer_email": "ada.lovelace@example.org",
            "card_number": "4111-1111-1111-1111",
            "shipping": {
                "name": "Ada Lovelace", "street": "12 St James's Square", "city": "London",
                "postcode": "SW1Y 4JH", "country": "GB", "phone": "+44 20 7946 0958",
            },
            "lines": [{"sku": "NOTEBOOK-A5", "qty": 3, "price": Decimal("4.50")}],
        }
        for order_id, status, total, created in [
            (1002, "DELIVERED", "13.50", "2026-11-07T16:02:11Z"),
            (1003, "SHIPPED", "58.20", "2026-11-19T08:45:00Z"),
            (1004, "PENDING", "7.25", "2026-11-25T21:30:59Z"),
            (1005, "DELIVERED", "240.00", "2026-10-28T12:00:00Z"),
        ]
    ],
]


def create_orders_table(client: Any, table: str = TABLE) -> None:
    """Create the orders table: pk/sk keys and the by-customer index."""
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "customer_id", "created_at")
        ],
        GlobalSecondaryIndexes=[{
            "IndexName": INDEX,
            "KeySchema": [{"AttributeName": "customer_id", "KeyType": "HASH"},
                          {"AttributeName": "created_at", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table)


def make_orders(n: int, seed: int = 4411) -> list[dict[str, Any]]:
    """The known orders followed by made-up ones, `n` in all (at least the known ones)."""
    fake = Faker(["en_US", "en_GB", "de_DE"])
    fake.seed_instance(seed)
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    orders = [dict(order) for order in KNOWN_ORDERS]
    for i in range(max(0, n - len(orders))):
        created = start + timedelta(seconds=rng.randrange(0, 120 * 24 * 3600))
        lines = [
            {"sku": fake.bothify("???-####").upper(), "qty": rng.randint(1, 4),
             "price": Decimal(rng.randrange(199, 25000)) / 100}
            for _ in range(rng.randint(1, 4))
        ]
        order: dict[str, Any] = {
            "pk": f"ORDER#{2000 + i}",
            "sk": "ORDER",
            "status": rng.choices(STATUSES, _WEIGHTS)[0],
            "total": sum((line["price"] * line["qty"] for line in lines), Decimal("0")),
            "currency": rng.choice(["USD", "EUR", "GBP"]),
            "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "customer_id": f"CUST#{rng.randint(1, 150)}",
            "customer_email": fake.email(),
            "card_number": fake.credit_card_number(),
            "shipping": {
                "name": fake.name(), "street": fake.street_address(), "city": fake.city(),
                "postcode": fake.postcode(), "country": fake.country_code(),
                "phone": fake.phone_number(),
            },
            "lines": lines,
        }
        if rng.random() < 0.2:
            order["notes"] = f"customer asked to reach them at {fake.email()}"
        if rng.random() < 0.1:
            order["client_ip"] = fake.ipv4_public() if rng.random() < 0.7 else fake.ipv6()
        orders.append(order)
    return orders


def seed_orders(client: Any, n: int = 300, *, table: str = TABLE, seed: int = 4411) -> int:
    """Write `n` orders (see make_orders) with BatchWriteItem; return how many."""
    serializer = TypeSerializer()
    orders = make_orders(n, seed)
    for first in range(0, len(orders), _BATCH):
        requests = [
            {"PutRequest": {"Item": {k: serializer.serialize(v) for k, v in order.items()}}}
            for order in orders[first:first + _BATCH]
        ]
        pending: dict[str, Any] = {table: requests}
        while pending:
            response = client.batch_write_item(RequestItems=pending)
            pending = response.get("UnprocessedItems") or {}
    return len(orders)
