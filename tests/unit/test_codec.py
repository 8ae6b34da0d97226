"""Avro codec of Kafka values: round trips, and DecodeError for anything else."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumer import codec
from consumer.codec import DecodeError
from consumer.envelope import from_envelope

EVENT = from_envelope(
    {
        "event_name": "Placed Order",
        "timestamp": 1_796_119_200,
        "event_id": "ev-1",
        "source_id": "web-shop",
        "properties": {
            "id": "o-1",
            "total_price": 30,
            "items": [{"product_id": "p-1", "price": 15, "quantity": 2, "x": 1}],
            "coupon": ["A"],
            "$email": "a@example.com",
            "gift": True,
        },
        "profile_properties": {"$email": "a@example.com", "cookie_id": "c"},
        "aliases": ["urn:email:a@example.com"],
        "consent": {"marketing": "granted"},
    }
)
GOOD = codec.encode(EVENT)


def reason(value: bytes | None) -> str:
    with pytest.raises(DecodeError) as info:
        codec.decode(value)
    return str(info.value)


def test_encoded_event_decodes_to_the_same_fields() -> None:
    """encode then decode keeps every field that was set."""
    decoded = codec.decode(GOOD)
    assert decoded["event_name"] == "Placed Order"
    assert decoded["timestamp_ms"] == 1_796_119_200_000
    assert decoded["event_id"] == "ev-1"
    assert decoded["properties"]["items"][0]["quantity"] == 2
    assert decoded["properties"]["custom"] == {"gift": "true"}
    assert decoded["profile_properties"]["email"] == "a@example.com"
    assert decoded["consent"] == {"analytics": None, "marketing": "granted"}


def test_minimal_event_round_trips_with_defaults() -> None:
    """An event with only the required fields decodes with optional fields empty."""
    decoded = codec.decode(codec.encode(from_envelope({"event_name": "x"}, 5)))
    assert decoded["event_name"] == "x"
    assert decoded["timestamp_ms"] == 5
    assert decoded["event_id"] is None


@pytest.mark.parametrize("value", [None, b""])
def test_empty_value_is_refused(value: bytes | None) -> None:
    """A tombstone or empty value is a DecodeError saying it is empty."""
    assert "empty value" in reason(value)


def test_confluent_framed_value_is_refused_with_schema_id() -> None:
    """A zero byte plus a schema id is recognised as Confluent's wire format."""
    message = reason(b"\x00" + struct.pack(">I", 1234) + GOOD)
    assert "Confluent wire format" in message
    assert "1234" in message


def test_short_value_starting_with_zero_is_still_a_decode_error() -> None:
    """Fewer than five bytes with a leading zero are not mistaken for framing."""
    assert "not a Converge event" in reason(b"\x00\x02")


@pytest.mark.parametrize("cut", [1, 5, len(GOOD) // 2, len(GOOD) - 1])
def test_truncated_value_is_refused(cut: int) -> None:
    """A value cut short anywhere is a DecodeError mentioning truncation."""
    assert "truncated" in reason(GOOD[:cut])


def test_trailing_bytes_are_refused_with_their_count() -> None:
    """Bytes left over after a complete event are reported, with how many."""
    assert reason(GOOD + b"\x01\x02\x03").startswith("3 bytes left over")


def test_blank_event_name_is_refused() -> None:
    """A record whose event_name is only spaces is not a Converge event."""
    value = codec.encode({**EVENT, "event_name": "   "})
    assert "event_name is empty" in reason(value)


def test_invalid_utf8_in_text_is_refused() -> None:
    """A string field that is not UTF-8 is a DecodeError, not a UnicodeDecodeError."""
    value = codec.encode({**EVENT, "event_name": "ab"})
    broken = value.replace(b"ab", b"\xff\xfe", 1)
    assert "not a Converge event" in reason(broken)


def test_plain_text_is_refused() -> None:
    """JSON written to the topic by mistake is a DecodeError."""
    reason(b'{"event_name": "Placed Order"}')


@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_ever_raise_decode_error(value: bytes) -> None:
    """Random bytes either decode to an event with a name or raise DecodeError."""
    try:
        event = codec.decode(value)
    except DecodeError:
        return
    assert event["event_name"].strip()


@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), max_size=4),
    st.integers(0, len(GOOD)),
    st.binary(max_size=8),
)
def test_mutated_events_only_ever_raise_decode_error(
    flips: list[tuple[int, int]], cut: int, tail: bytes
) -> None:
    """Corrupted, cut and extended copies of a real event never raise anything else."""
    value = bytearray(GOOD)
    for index, byte in flips:
        value[index] = byte
    try:
        event = codec.decode(bytes(value[:cut]) + tail)
    except DecodeError:
        return
    assert event["event_name"].strip()


def test_json_text_in_the_topic_is_named_as_such() -> None:
    """A JSON envelope produced straight to Kafka is recognised and explained."""
    with pytest.raises(DecodeError, match="looks like JSON text"):
        codec.decode(b'{"event_name": "Viewed Product"}')
