"""Shared builders of the mapping tests: a fixed clock, a destination, events."""

from __future__ import annotations

import hashlib
from typing import Any

from consumer import codec, envelope
from consumer.config import Destination
from consumer.mapping import map_event
from consumer.sandbox import contract

NOW = 1_780_000_000  # fixed "now" in epoch seconds, so the tests are deterministic
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)"
DEST = Destination(
    name="shop", ad_account_id="549755885175", tag_id="2612345678901",
    access_token="pina_test",
)  # fmt: skip


def sha(text: str) -> str:
    """Lowercase hex SHA-256 of a text, as Pinterest wants hashed fields."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def make_event(name: str, **fields: Any) -> dict[str, Any]:
    """A decoded Converge event two minutes old; fields add to or replace parts."""
    raw: dict[str, Any] = {
        "event_name": name,
        "event_id": f"evt-{name.lower().replace(' ', '-')}",
        "timestamp": NOW - 120,
        "source_id": "shop-1",
        "properties": {"$ip": "203.0.113.7", "$url": "https://shop.example/p"},
        "profile_properties": {"$email": "Jane.Doe@Example.com", "$user_agent": UA},
        "aliases": ["urn:cookie:c-1"],
    }
    for key, value in fields.items():
        if key in ("properties", "profile_properties"):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return codec.decode(codec.encode(envelope.from_envelope(raw)))


def send(event: dict[str, Any], destination: Destination = DEST) -> dict[str, Any]:
    """Map and insist on a send that the sandbox's schema accepts."""
    outcome = map_event(event, destination, NOW)
    assert outcome.kind == "send", outcome.reason
    assert outcome.event is not None
    assert contract.validation_error({"data": [outcome.event]}) is None
    return outcome.event


USER = {
    "em": [sha("jane.doe@example.com")],
    "client_ip_address": "203.0.113.7",
    "client_user_agent": UA,
}
PRODUCT = {
    "product_id": "P-100", "variant_id": "V-100-S", "sku": "SKU-100-S",
    "name": "Linen Shirt", "variant_name": "S", "price": 49.5, "currency": "EUR",
    "vendor": "Acme", "url": "https://shop.example/p", "image_url": "https://i/1",
}  # fmt: skip
ORDER_ITEMS = [
    {"product_id": "P-1", "variant_id": "V-1", "sku": "SKU-1", "name": "Mug",
     "price": 12.5, "currency": "USD", "quantity": 2, "vendor": "Clay Co"},
    {"product_id": "P-2", "sku": "SKU-2", "name": "Tea", "price": 8,
     "currency": "USD", "quantity": 1, "warehouse": "north"},
]  # fmt: skip
