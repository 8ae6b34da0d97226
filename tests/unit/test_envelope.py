"""Converge's JSON envelope to the Avro-shaped event: coercions, path-naming errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer import codec
from consumer.envelope import EnvelopeError, from_envelope, parse_line

NOW_MS = 1_796_119_200_000


def parse(**fields: Any) -> dict[str, Any]:
    return from_envelope({"event_name": "Placed Order", **fields}, now_ms=NOW_MS)


def error(raw: Any) -> str:
    with pytest.raises(EnvelopeError) as info:
        from_envelope(raw, now_ms=NOW_MS)
    return str(info.value)


def test_full_envelope_maps_every_section() -> None:
    """Spec properties, reserved $ fields, items, coupons and custom keys land in
    their Avro places."""
    event = parse(
        event_id="ev-1",
        timestamp="2026-12-01T10:00:00Z",
        source_id="web-shop",
        properties={
            "id": "order-1",
            "total_price": "12.50",
            "$email": "a@example.com",
            "$is_new_customer": "TRUE",
            "coupon": "SAVE10",
            "gift_wrap": {"color": "red"},
            "items": [{"product_id": 7, "quantity": "2", "size": "M"}],
        },
        profile_properties={"$email": "a@example.com", "cookie_id": 5, "tier": 2},
        aliases=["urn:email:a@example.com"],
        consent={"marketing": "granted"},
    )
    assert event["event_id"] == "ev-1"
    assert event["timestamp_ms"] == NOW_MS
    props = event["properties"]
    assert props["id"] == "order-1"
    assert props["total_price"] == 12.5
    assert props["reserved"] == {"email": "a@example.com", "is_new_customer": True}
    assert props["coupons"] == ["SAVE10"]
    assert props["custom"] == {"gift_wrap": '{"color": "red"}'}
    assert props["items"] == [
        {"product_id": "7", "quantity": 2, "custom": {"size": '"M"'}}
    ]
    profile = event["profile_properties"]
    assert profile == {
        "email": "a@example.com",
        "cookie_id": "5",
        "custom": {"tier": "2"},
    }
    assert event["consent"] == {"analytics": None, "marketing": "granted"}
    assert codec.decode(codec.encode(event))["properties"]["total_price"] == 12.5


def test_missing_timestamp_uses_time_of_receipt() -> None:
    """Without a timestamp the given now is used, as Converge does."""
    assert parse()["timestamp_ms"] == NOW_MS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_796_119_200, NOW_MS),
        (1_796_119_200_000, NOW_MS),
        ("1796119200", NOW_MS),
        ("2026-12-01T11:00:00+01:00", NOW_MS),
        ("2026-12-01T10:00:00.250Z", NOW_MS + 250),
    ],
)
def test_timestamp_forms_agree(value: Any, expected: int) -> None:
    """Epoch seconds, epoch milliseconds, numeric text and ISO 8601 all convert."""
    assert parse(timestamp=value)["timestamp_ms"] == expected


def test_fractional_epoch_seconds_keep_their_milliseconds() -> None:
    """Epoch seconds given with three decimals convert to exactly those milliseconds."""
    assert parse(timestamp=1075494541.587)["timestamp_ms"] == 1075494541587


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2026-12-01T10:00:00", "no time zone"),
        ("yesterday", "not ISO 8601"),
        (-1, "not a valid epoch time"),
        (True, "ISO 8601 text or epoch seconds"),
        ([1], "text or a number"),
        (1e300, "past the year 9999"),
    ],
)
def test_bad_timestamp_says_what_is_wrong(value: Any, fragment: str) -> None:
    """Every timestamp refusal names the timestamp and the accepted forms."""
    message = error({"event_name": "x", "timestamp": value})
    assert "timestamp" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("raw", "fragments"),
    [
        ([], ["JSON object"]),
        ({"eventName": "x"}, ["'eventName'", "event_name", "snake case"]),
        ({"event_name": "  "}, ["event_name"]),
        ({"event_name": "x", "properties": []}, ["properties", "a list"]),
        ({"event_name": "x", "properties": {"price": "12,50"}}, ["properties.price"]),
        (
            {"event_name": "x", "properties": {"items": [{"quantity": 1.5}]}},
            ["properties.items.0.quantity", "whole number", "1.5"],
        ),
        (
            {"event_name": "x", "properties": {"items": "sku-1"}},
            ["properties.items", "list of items"],
        ),
        (
            {"event_name": "x", "properties": {"$is_new_customer": "yes"}},
            ["properties.$is_new_customer", "true or false", '"yes"'],
        ),
        (
            {"event_name": "x", "profile_properties": {"$email": ["a"]}},
            ["profile_properties.$email", "text"],
        ),
        ({"event_name": "x", "aliases": "urn:email:a"}, ["aliases"]),
        ({"event_name": "x", "consent": {"marketing": "yes"}}, ["consent.marketing"]),
        ({"event_name": "x", "event_id": {"a": 1}}, ["event_id", "an object"]),
    ],
)
def test_bad_value_error_names_its_path(raw: Any, fragments: list[str]) -> None:
    """Each refused value is reported with the path to it (and its value)."""
    message = error(raw)
    for fragment in fragments:
        assert fragment in message


def test_long_values_are_shortened_in_messages() -> None:
    """A huge offending value is cut so the error line stays short."""
    message = error({"event_name": "x", "properties": {"price": "x" * 500}})
    assert len(message) < 120
    assert "..." in message


@pytest.mark.parametrize(
    ("value", "expected"), [(12, "12"), (12.0, "12"), (1.5, "1.5"), (True, "true")]
)
def test_ids_arriving_as_numbers_become_text(value: Any, expected: str) -> None:
    """Numeric or boolean ids are kept as the text a sender would have written."""
    assert parse(properties={"product_id": value})["properties"]["product_id"] == (
        expected
    )


def test_blank_event_id_becomes_none() -> None:
    """An empty event id is treated as absent."""
    assert parse(event_id="  ")["event_id"] is None


def test_numeric_text_prices_become_numbers() -> None:
    """Prices as numeric text are coerced; non-finite text is refused."""
    assert parse(properties={"price": " 9.99 "})["properties"]["price"] == 9.99
    message = error({"event_name": "x", "properties": {"price": "NaN"}})
    assert "properties.price" in message


def test_single_coupon_and_list_of_coupons_both_become_a_list() -> None:
    """coupon may be one code or several; nulls among them are skipped."""
    assert parse(properties={"coupon": "A"})["properties"]["coupons"] == ["A"]
    coupons = parse(properties={"coupon": ["A", None, 3]})["properties"]["coupons"]
    assert coupons == ["A", "3"]


def test_unknown_dollar_property_is_kept_as_custom() -> None:
    """A $-prefixed key that is not reserved is kept verbatim in custom."""
    props = parse(properties={"$mood": "happy"})["properties"]
    assert props["custom"] == {"$mood": '"happy"'}
    assert props["reserved"] == {}


def test_lone_surrogate_is_refused_before_encoding() -> None:
    """JSON escapes of lone surrogates are an EnvelopeError, not an encoder crash."""
    with pytest.raises(EnvelopeError):
        parse_line('{"event_name": "x\\ud800"}', now_ms=NOW_MS)


def test_parse_line_reports_json_errors_with_column() -> None:
    """A line that is not JSON says so with the column."""
    with pytest.raises(EnvelopeError, match=r"not JSON: .* at column"):
        parse_line('{"event_name": ', now_ms=NOW_MS)


def test_large_whole_numbers_are_kept_exactly() -> None:
    """A quantity that fits a long is kept exactly, not rounded through a double."""
    quantity = 2**53 + 1
    assert parse(properties={"quantity": quantity})["properties"]["quantity"] == (
        quantity
    )


def test_quantity_beyond_long_is_refused() -> None:
    """A whole number that does not fit Avro's long is an error naming the path."""
    message = error({"event_name": "x", "properties": {"quantity": 2**64}})
    assert "properties.quantity" in message
    assert "too large" in message


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
_keys = st.sampled_from(
    ["price", "quantity", "product_id", "items", "coupon", "$email", "x", "$ip"]
)


@given(
    st.fixed_dictionaries(
        {"event_name": st.text(min_size=1, max_size=8)},
        optional={
            "timestamp": _json,
            "event_id": _json,
            "source_id": _json,
            "properties": st.dictionaries(_keys, _json, max_size=4),
            "profile_properties": st.dictionaries(_keys, _json, max_size=3),
            "aliases": _json,
            "consent": _json,
        },
    )
)
def test_every_accepted_envelope_encodes_and_round_trips(raw: dict[str, Any]) -> None:
    """Whatever from_envelope accepts, the Avro codec encodes and decodes unchanged;
    anything else is an EnvelopeError."""
    line = json.dumps(raw)
    try:
        event = parse_line(line, now_ms=NOW_MS)
    except EnvelopeError:
        return
    decoded = codec.decode(codec.encode(event))
    assert decoded["event_name"] == event["event_name"]
    assert decoded["timestamp_ms"] == event["timestamp_ms"]
