"""Tests of map_event field by field, the pre-send check and new destination keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from consumer.config import ConfigError, parse
from consumer.mapping import Outcome, map_event
from consumer.mapping_check import contract_problem
from tests.unit.mapping_support import (
    DEST,
    NOW,
    ORDER_ITEMS,
    PRODUCT,
    USER,
    make_event,
    send,
    sha,
)


def _base(name: str, event_id: str) -> dict[str, Any]:
    return {
        "event_name": name, "action_source": "web", "event_time": NOW - 120,
        "event_id": event_id, "user_data": USER,
    }  # fmt: skip


def test_event_values_win_over_profile_values() -> None:
    """Buyer details on the event win over the profile's older values."""
    event = make_event(
        "Placed Order",
        properties={"$email": "new@example.com", "$city": "Paris", "$ip": "::1"},
        profile_properties={"$email": "old@example.com", "$city": "Lyon",
                            "$ip": "198.51.100.1", "$first_name": "Jane"},
    )  # fmt: skip
    user = send(event)["user_data"]
    assert user["em"] == [sha("new@example.com")]
    assert user["ct"] == [sha("paris")]
    assert user["fn"] == [sha("jane")]
    assert user["client_ip_address"] == "::1"


def test_ip_and_user_agent_sent_even_with_email() -> None:
    """IP and user agent are sent whenever known, also next to an email."""
    user = send(make_event("Viewed Product"))["user_data"]
    assert {"em", "client_ip_address", "client_user_agent"} <= set(user)


def test_aliases_fill_external_id_and_mobile_ad_ids() -> None:
    """Customer and user id aliases become external_id; maid aliases hashed_maids."""
    aliases = ["urn:customer_id:123", "urn:user_id:u-9", "urn:IDFA:AB-CD",
               "urn:gaid:ef-01", "urn:cookie:c-1"]  # fmt: skip
    user = send(make_event("Viewed Product", aliases=aliases))["user_data"]
    assert user["external_id"] == [sha("123"), sha("u-9")]
    assert user["hashed_maids"] == [sha("ab-cd"), sha("ef-01")]


def test_click_id_from_epik_cookie_then_url_parameter() -> None:
    """click_id is the _epik profile property, else the epik URL parameter."""
    url = "https://shop.example/p?utm_source=x&epik=from-url"
    from_url = send(make_event("Viewed Product", properties={"$url": url}))
    assert from_url["user_data"]["click_id"] == "from-url"
    profile = {"_epik": "from-cookie", "partner_id": "R-1"}
    both = make_event(
        "Viewed Product", properties={"$url": url}, profile_properties=profile
    )
    user = send(both)["user_data"]
    assert (user["click_id"], user["partner_id"]) == ("from-cookie", "R-1")


def test_email_or_maid_alone_satisfies_identity_rule() -> None:
    """An email or a mobile ad id is enough identity without IP and user agent."""
    no_device = {"$ip": None}
    assert send(make_event("Viewed Product", properties=no_device))["user_data"]["em"]
    maid_only = make_event(
        "Viewed Product",
        properties=no_device,
        profile_properties={"$email": None},
        aliases=["urn:maid:x"],
    )
    assert send(maid_only)["user_data"]["hashed_maids"] == [sha("x")]


def test_phone_and_ip_without_user_agent_are_rejected() -> None:
    """A phone and an IP without a user agent break Pinterest's identity rule."""
    event = make_event("Viewed Product",
                   profile_properties={"$email": None, "$user_agent": None,
                                       "$phone_number": "+1 555 010 0000"})  # fmt: skip
    outcome = map_event(event, DEST, NOW)
    assert outcome == Outcome(
        "shop", "rejected", None, outcome.reason, outcome.event_id
    )
    assert outcome.reason and "em" in outcome.reason


def test_messy_values_are_cleaned_or_left_out() -> None:
    """Spaces, capitals, numeric text, bad codes and junk IPs never reach Pinterest."""
    props = {
        "product_id": 77, "name": "  Cap  ", "price": "20.50", "quantity": "2",
        "currency": " usd ", "vendor": "   ", "$ip": "not-an-ip",
        "$url": "   ", "$language": "xx-YY-zz", "$country_code": "Neverland",
    }  # fmt: skip
    event = send(make_event("Added To Cart", properties=props))
    assert event["custom_data"] == {
        "currency": "USD", "value": "41", "content_ids": ["77"],
        "contents": [{"id": "77", "item_price": "20.5", "quantity": 2,
                      "item_name": "Cap"}],
        "num_items": 2, "content_name": "Cap",
    }  # fmt: skip
    assert "client_ip_address" not in event["user_data"]
    assert "country" not in event["user_data"]
    assert "event_source_url" not in event
    assert event["language"] == "xx"


def test_bad_currency_and_negative_money_are_left_out() -> None:
    """A currency that is no ISO code and negative amounts are not sent."""
    props = {**PRODUCT, "currency": "euros", "price": -5}
    custom = send(make_event("Added To Cart", properties=props))["custom_data"]
    assert "currency" not in custom
    assert "value" not in custom
    assert "item_price" not in custom["contents"][0]


def test_huge_amounts_are_written_without_exponent() -> None:
    """Huge prices stay plain decimal strings, never 1e+300 notation."""
    props = {**PRODUCT, "price": 1e300, "quantity": 10}
    custom = send(make_event("Added To Cart", properties=props))["custom_data"]
    assert custom["value"] == "1" + "0" * 301
    assert "e" not in custom["contents"][0]["item_price"].lower()


def test_unknown_properties_never_leak() -> None:
    """Custom event, item and profile properties never appear in the Pinterest event."""
    items = [{**ORDER_ITEMS[0], "category_name": "Mugs", "color": "red"}]
    event = make_event("Placed Order",
                   properties={"id": "9", "category_name": "x", "items": items},
                   profile_properties={"loyalty": "gold"})  # fmt: skip
    text = json.dumps(send(event))
    for leaked in ("category_name", "color", "loyalty", "gold", "red"):
        assert leaked not in text


def test_num_items_beyond_64_bits_is_rejected_by_pre_send_check() -> None:
    """Quantities that sum past int64 are rejected, naming num_items."""
    big = 2**62
    items = [{"product_id": "A", "quantity": big}, {"product_id": "B", "quantity": big}]
    outcome = map_event(
        make_event("Placed Order", properties={"items": items}), DEST, NOW
    )
    assert outcome.kind == "rejected"
    assert outcome.reason and "num_items" in outcome.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"pixel_id": "1"}, "pixel_id"),
        ({"event_time": 1.5}, "event_time"),
        ({"event_name": "purchase"}, "event_name"),
        ({"action_source": "email"}, "action_source"),
        ({"language": "EN"}, "language"),
        ({"user_data": {"em": ["A" * 64]}}, "user_data.em"),
        ({"user_data": {"em": []}}, "user_data.em"),
        ({"user_data": {"ph": [sha("1")]}}, "em"),
        # Stricter than the sandbox: unknown user_data keys are refused too.
        ({"user_data": {"em": [sha("a")], "email": "a"}}, "user_data.email"),
        ({"custom_data": {"value": 20.0}}, "custom_data.value"),
        ({"custom_data": {"value": "1e3"}}, "custom_data.value"),
        ({"custom_data": {"num_items": "2"}}, "custom_data.num_items"),
        ({"custom_data": {"content_ids": [507011]}}, "custom_data.content_ids"),
        ({"custom_data": {"currency": "euro"}}, "custom_data.currency"),
        ({"custom_data": {"category_name": "x"}}, "custom_data.category_name"),
        ({"custom_data": {"contents": [{"id": "1", "sku": "x"}]}}, "contents.0.sku"),
        ({"custom_data": {"contents": [{"item_price": 2}]}}, "contents.0.item_price"),
        # Stricter than the sandbox: Pinterest's int64 range is checked too.
        ({"custom_data": {"contents": [{"quantity": 2**63}]}}, "contents.0.quantity"),
    ],
)
def test_pre_send_check_names_the_faulty_field(
    change: dict[str, Any], field: str
) -> None:
    """Every contract break is caught before sending, with the field named."""
    event = {**_base("page_visit", "e-1"), **change}
    problem = contract_problem(event)
    assert problem is not None
    assert field in problem


def test_pre_send_check_accepts_a_well_formed_event() -> None:
    """A well-formed event passes the pre-send check."""
    assert contract_problem(_base("page_visit", "e-1")) is None


@pytest.mark.parametrize(
    ("channel", "source"),
    [(None, "web"), ("web", "web"), ("pos", "offline"), (" Offline ", "offline"),
     ("mobile_app", "web"), ("subscription_contract", "web")],
)  # fmt: skip
def test_action_source_from_sales_channel(channel: str | None, source: str) -> None:
    """Offline and point-of-sale channels are offline, everything else web."""
    props = {} if channel is None else {"$sales_channel_type": channel}
    assert (
        send(make_event("Viewed Product", properties=props))["action_source"] == source
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("en", "en"), ("en-US", "en"), ("FR_fr", "fr"),
                          ("english", None), ("", None)],
)  # fmt: skip
def test_language_from_language_or_locale(raw: str, expected: str | None) -> None:
    """A language or locale gives its two-letter code; anything else is left out."""
    event = send(make_event("Viewed Product", properties={"$language": raw}))
    assert event.get("language") == expected


def test_config_parses_new_destination_keys_and_refuses_bad_values() -> None:
    """The new destination keys are read from config, and bad values are refused."""
    base = {"name": "d", "ad_account_id": "1", "tag_id": "2", "access_token": "t"}
    raw = {"kafka": {"bootstrap_servers": "b", "topic": "t", "group_id": "g"}}
    good = {**base, "partner_name": "ss-converge", "consent_mode": "strict",
            "limited_data_processing": True}  # fmt: skip
    parsed = parse({**raw, "destinations": [good]}).destinations[0]
    assert (parsed.partner_name, parsed.consent_mode) == ("ss-converge", "strict")
    assert parsed.limited_data_processing is True
    for bad in ({"partner_name": "Converge"}, {"consent_mode": "browser"}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            parse({**raw, "destinations": [{**base, **bad}]})
