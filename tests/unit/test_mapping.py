"""Golden and behaviour tests of map_event: one Converge event for one destination."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from consumer.mapping import DERIVED_ID_PREFIX, map_event
from tests.unit.mapping_support import (
    DEST,
    NOW,
    ORDER_ITEMS,
    PRODUCT,
    UA,
    USER,
    make_event,
    send,
    sha,
)


def _base(name: str, event_id: str) -> dict[str, Any]:
    return {
        "event_name": name, "action_source": "web", "event_time": NOW - 120,
        "event_id": event_id, "event_source_url": "https://shop.example/p",
        "user_data": USER,
    }  # fmt: skip


def test_viewed_product_golden() -> None:
    """Viewed Product becomes page_visit worth its price, with one content."""
    event = send(make_event("Viewed Product", properties=PRODUCT))
    assert event == {
        **_base("page_visit", "evt-viewed-product"),
        "custom_data": {
            "currency": "EUR", "value": "49.5", "content_ids": ["P-100"],
            "contents": [{"id": "P-100", "item_price": "49.5",
                          "item_name": "Linen Shirt", "item_brand": "Acme"}],
            "content_name": "Linen Shirt", "content_brand": "Acme",
        },
    }  # fmt: skip


def test_viewed_collection_golden() -> None:
    """Viewed Collection becomes view_category named by the collection, no value."""
    items = [{"product_id": "P-1", "name": "Mug", "price": 12.5, "currency": "USD"}]
    props = {"id": "C-9", "name": "Summer", "items": items}
    event = send(make_event("Viewed Collection", properties=props))
    assert event == {
        **_base("view_category", "evt-viewed-collection"),
        "custom_data": {
            "currency": "USD", "content_ids": ["P-1"],
            "contents": [{"id": "P-1", "item_price": "12.5", "item_name": "Mug"}],
            "content_category": "Summer",
        },
    }  # fmt: skip


def test_added_to_cart_golden() -> None:
    """Added To Cart is worth unit price times quantity and counts its units."""
    props = {**PRODUCT, "price": 0.1, "quantity": 3}
    event = send(make_event("Added To Cart", properties=props))
    assert event["event_name"] == "add_to_cart"
    assert event["custom_data"] == {
        "currency": "EUR", "value": "0.3", "content_ids": ["P-100"],
        "contents": [{"id": "P-100", "item_price": "0.1", "quantity": 3,
                      "item_name": "Linen Shirt", "item_brand": "Acme"}],
        "num_items": 3, "content_name": "Linen Shirt", "content_brand": "Acme",
    }  # fmt: skip


def test_placed_order_golden() -> None:
    """Placed Order becomes checkout with the net total, order id and every item."""
    props = {
        "id": 1001, "total_price": "41.00", "total_tax": 3, "total_shipping": 5,
        "currency": "usd", "items": ORDER_ITEMS, "coupon": "SUMMER",
        "$email": "buyer@example.com", "$phone_number": "+1 (917) 123-4567",
        "$first_name": "Jane", "$last_name": "Doe", "$city": "Menlo Park",
        "$state": "California", "$zip_code": "94025-1234", "$country_code": "US",
        "$is_new_customer": True,
    }  # fmt: skip
    event = send(
        make_event(
            "Placed Order",
            event_id="order-1001",
            properties=props,
            aliases=["urn:customer_id:C-77", "urn:email:buyer@example.com"],
        )
    )
    assert event["event_name"] == "checkout"
    assert event["event_id"] == "order-1001"
    assert event["user_data"] == {
        "em": [sha("buyer@example.com")], "ph": [sha("19171234567")],
        "fn": [sha("jane")], "ln": [sha("doe")], "ct": [sha("menlopark")],
        "st": [sha("ca")], "zp": [sha("94025")], "country": [sha("us")],
        "external_id": [sha("C-77")], "client_ip_address": "203.0.113.7",
        "client_user_agent": UA,
    }  # fmt: skip
    assert event["custom_data"] == {
        "currency": "USD", "value": "33", "content_ids": ["P-1", "P-2"],
        "contents": [
            {"id": "P-1", "item_price": "12.5", "quantity": 2, "item_name": "Mug",
             "item_brand": "Clay Co"},
            {"id": "P-2", "item_price": "8", "quantity": 1, "item_name": "Tea"},
        ],
        "num_items": 3, "order_id": "1001",
    }  # fmt: skip


def test_custom_event_sent_as_custom_when_destination_allows() -> None:
    """A non-spec event goes out as Pinterest's custom event only when enabled."""
    event = make_event("Booked Fitting", properties={"formId": "f-1"})
    assert map_event(event, DEST, NOW).kind == "skipped"
    sent = send(event, replace(DEST, custom_events=True))
    assert sent == _base("custom", "evt-booked-fitting")


def test_searched_via_events_table_carries_search_string() -> None:
    """A Searched row in the events table sends search with the query text."""
    destination = replace(DEST, events={"Searched": "search"})
    event = send(
        make_event("Searched", properties={"query": " linen shirt "}), destination
    )
    assert event["event_name"] == "search"
    assert event["custom_data"] == {"search_string": "linen shirt"}


def test_started_checkout_via_events_table_has_value_and_no_order_id() -> None:
    """Started Checkout sends initiate_checkout with the cart total, no order id."""
    destination = replace(DEST, events={"Started Checkout": "initiate_checkout"})
    props = {"id": "cart-1", "total_price": 33, "currency": "USD", "items": ORDER_ITEMS}
    event = send(make_event("Started Checkout", properties=props), destination)
    assert event["event_name"] == "initiate_checkout"
    assert event["custom_data"]["value"] == "33"
    assert event["custom_data"]["num_items"] == 3
    assert "order_id" not in event["custom_data"]


def test_events_table_can_turn_a_default_row_off() -> None:
    """A default row switched off in the events table skips the event."""
    destination = replace(DEST, events={"Viewed Product": None})
    outcome = map_event(
        make_event("Viewed Product", properties=PRODUCT), destination, NOW
    )
    assert outcome.kind == "skipped"
    assert outcome.reason and "Viewed Product" in outcome.reason


@pytest.mark.parametrize(
    ("sources", "kind"),
    [
        (None, "send"),
        (frozenset({"shop-1"}), "send"),
        (frozenset({"shop-2"}), "skipped"),
    ],
)
def test_routing_by_source(sources: frozenset[str] | None, kind: str) -> None:
    """A destination receives only the sources it lists (all when none are listed)."""
    event = make_event("Viewed Product", properties=PRODUCT)
    assert map_event(event, replace(DEST, sources=sources), NOW).kind == kind


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("product_id", ["P-1", "P-2"]), ("variant_id", ["V-1", "P-2"]),
     ("sku", ["SKU-1", "SKU-2"])],
)  # fmt: skip
def test_content_id_modes_fall_back_to_product_id(
    mode: str, expected: list[str]
) -> None:
    """The content id mode picks the id, falling back to product_id when missing."""
    event = make_event("Placed Order", properties={"id": "1", "items": ORDER_ITEMS})
    custom = send(event, replace(DEST, content_id=mode))["custom_data"]
    assert custom["content_ids"] == expected
    assert [c["id"] for c in custom["contents"]] == expected


@pytest.mark.parametrize(
    ("mode", "marketing", "kind"),
    [
        ("off", "denied", "send"), ("on", "denied", "skipped"), ("on", None, "send"),
        ("on", "granted", "send"), ("strict", None, "skipped"),
        ("strict", "denied", "skipped"), ("strict", "granted", "send"),
    ],
)  # fmt: skip
def test_consent_modes(mode: str, marketing: str | None, kind: str) -> None:
    """on holds denied events, strict sends only granted ones, off sends all."""
    event = make_event(
        "Viewed Product", properties=PRODUCT, consent={"marketing": marketing}
    )
    outcome = map_event(event, replace(DEST, consent_mode=mode), NOW)
    assert outcome.kind == kind
    assert (outcome.reason is None) == (kind == "send")


def test_strict_consent_skips_event_without_consent_record() -> None:
    """An event with no consent record at all is not sent in strict mode."""
    outcome = map_event(
        make_event("Viewed Product"), replace(DEST, consent_mode="strict"), NOW
    )
    assert outcome.kind == "skipped"


def test_limited_data_processing_sets_opt_out_type() -> None:
    """A destination with limited data processing flags every event LDP."""
    destination = replace(DEST, limited_data_processing=True)
    event = send(make_event("Viewed Collection", properties={"name": "X"}), destination)
    assert event["custom_data"]["opt_out_type"] == "LDP"


def test_partner_name_only_when_configured() -> None:
    """partner_name is sent only when the destination names one."""
    assert "partner_name" not in send(make_event("Viewed Product"))
    sent = send(make_event("Viewed Product"), replace(DEST, partner_name="ss-converge"))
    assert sent["partner_name"] == "ss-converge"


def test_derived_event_id_is_stable_and_recognisable() -> None:
    """Without a Converge id, the same event maps to the same prefixed id again."""
    first = map_event(make_event("Viewed Product", event_id=None), DEST, NOW)
    again = map_event(make_event("Viewed Product", event_id=None), DEST, NOW + 60)
    other = map_event(make_event("Added To Cart", event_id=None), DEST, NOW)
    assert first.event_id.startswith(DERIVED_ID_PREFIX)
    assert first.event_id == again.event_id != other.event_id
    assert first.event is not None
    assert first.event["event_id"] == first.event_id


def test_milliseconds_and_seconds_give_the_same_event_time() -> None:
    """A timestamp in epoch ms or epoch s becomes whole seconds."""
    in_seconds = send(make_event("Viewed Product", timestamp=NOW - 120))
    in_ms = send(make_event("Viewed Product", timestamp=(NOW - 120) * 1000 + 999))
    assert in_seconds["event_time"] == in_ms["event_time"] == NOW - 120
    assert isinstance(in_ms["event_time"], int)


@pytest.mark.parametrize(
    ("offset", "kind"),
    [(-7 * 86400 + 60, "send"), (-7 * 86400 - 60, "rejected"), (3000, "send"),
     (3700, "rejected")],
)  # fmt: skip
def test_event_time_window(offset: int, kind: str) -> None:
    """Events over 7 days old or over an hour ahead are rejected, naming event_time."""
    outcome = map_event(make_event("Viewed Product", timestamp=NOW + offset), DEST, NOW)
    assert outcome.kind == kind
    if kind == "rejected":
        assert outcome.reason and "event_time" in outcome.reason
