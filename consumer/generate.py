"""Made-up but realistic Converge events for demos, tests and benchmarks.

Every person, product and order here is invented from a seeded random source,
so the same seed always gives the same events (and the same event ids).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from typing import Any

FIRST_NAMES = ("Ada", "Ben", "Chloé", "Dev", "Elif", "Femi", "Greta", "Hiro")
LAST_NAMES = ("Okafor", "Lindqvist", "Moreau", "Patel", "Åberg", "Silva", "Kim")
CITIES = (
    ("Portland", "OR", "97201", "US"),
    ("Austin", "TX", "78701", "US"),
    ("Leeds", "WYK", "LS1 4AP", "GB"),
    ("Toronto", "ON", "M5V 2T6", "CA"),
)
PRODUCTS = (
    ("P-1001", "Linen Shirt", 49.5, "Northwind"),
    ("P-1002", "Wool Scarf", 35.0, "Northwind"),
    ("P-1003", "Canvas Tote", 22.0, "Harbor & Co"),
    ("P-1004", "Ceramic Mug", 14.9, "Kiln Works"),
    ("P-1005", "Rain Jacket", 129.0, "Harbor & Co"),
)
COLLECTIONS = (("C-10", "Summer Essentials"), ("C-11", "Gifts Under 50"))
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari"
EVENT_TYPES = (
    "Viewed Product",
    "Viewed Collection",
    "Added To Cart",
    "Started Checkout",
    "Placed Order",
    "Searched",
    "Subscribed To Newsletter",
    "Booked Fitting",
)
"""The spec's main events, two the README's extra rows cover, and a custom one."""


def generate(
    count: int, seed: int = 1, now: float | None = None
) -> Iterator[dict[str, Any]]:
    """Yield ``count`` envelope events, cycling through every event type."""
    rng = random.Random(seed)
    now = time.time() if now is None else now
    people = [_person(rng, n) for n in range(max(3, count // 6))]
    for index in range(count):
        person = rng.choice(people)
        name = EVENT_TYPES[index % len(EVENT_TYPES)]
        yield {
            "event_name": name,
            "event_id": f"gen-{seed}-{index}",
            # Within the last hour: Pinterest reports fresh events as web events.
            "timestamp": round(now - rng.uniform(5, 3600), 3),
            "source_id": rng.choice(("web-shop", "web-shop", "server-shop")),
            "properties": _properties(rng, name, person, index),
            "profile_properties": person["profile"],
            "aliases": person["aliases"],
            "consent": {"analytics": "granted", "marketing": "granted"},
        }


def _person(rng: random.Random, number: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    city, state, zip_code, country = rng.choice(CITIES)
    email = f"{first.lower()}.{last.lower()}.{number}@example.com"
    cookie = f"c-{rng.randrange(16**8):08x}"
    return {
        "profile": {
            "$email": email,
            "$first_name": first,
            "$last_name": last,
            "$phone_number": f"+1 (555) 01{rng.randrange(100):02d}-{number:04d}",
            "$city": city,
            "$state": state,
            "$zip_code": zip_code,
            "$country_code": country,
            "$ip": f"203.0.113.{rng.randrange(1, 255)}",
            "$user_agent": USER_AGENT,
        },
        "aliases": [f"urn:cookie:{cookie}", f"urn:customer_id:{1000 + number}"],
    }


def _properties(
    rng: random.Random, name: str, person: dict[str, Any], index: int
) -> dict[str, Any]:
    entry = rng.choice(PRODUCTS)
    product = _product(entry)
    page = f"https://shop.example/products/{entry[0].lower()}"
    base = {"$url": page, "$ip": person["profile"]["$ip"]}
    if name == "Viewed Product":
        return {**base, **product}
    if name == "Added To Cart":
        return {**base, **product, "quantity": rng.randint(1, 3)}
    if name == "Viewed Collection":
        collection_id, title = rng.choice(COLLECTIONS)
        return {**base, "id": collection_id, "name": title}
    if name == "Searched":
        return {**base, "query": rng.choice(("linen", "rain jacket", "gift"))}
    if name in ("Started Checkout", "Placed Order"):
        items = [
            {**product, "quantity": rng.randint(1, 2)},
            {
                **_product(rng.choice([p for p in PRODUCTS if p != entry])),
                "quantity": 1,
            },
        ]
        subtotal = sum(i["price"] * i["quantity"] for i in items)
        tax, shipping = round(subtotal * 0.08, 2), 5.0
        order = {
            **base,
            "items": items,
            "currency": "USD",
            "total_price": round(subtotal + tax + shipping, 2),
            "total_tax": tax,
            "total_shipping": shipping,
        }
        if name == "Placed Order":
            profile = person["profile"]
            order.update(
                {
                    "id": f"{5000 + index}",
                    "$is_new_customer": rng.random() < 0.3,
                    "$email": profile["$email"],
                    "$phone_number": profile["$phone_number"],
                    "$city": profile["$city"],
                    "$state": profile["$state"],
                    "$zip_code": profile["$zip_code"],
                    "$country_code": profile["$country_code"],
                }
            )
        return order
    return base  # newsletter sign-ups and custom events carry page context only


def _product(entry: tuple[str, str, float, str]) -> dict[str, Any]:
    product_id, title, price, vendor = entry
    return {
        "product_id": product_id,
        "variant_id": f"{product_id}-M",
        "sku": f"SKU-{product_id[2:]}-M",
        "name": title,
        "price": price,
        "currency": "USD",
        "vendor": vendor,
    }
