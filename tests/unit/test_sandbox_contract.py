"""Tests of the sandbox's copy of Pinterest's request contract, without a server.

Each violation must be rejected with a message that names the offending field, since
that message is what a developer reads when a sender builds a bad payload.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from consumer.sandbox.contract import (
    MAX_EVENT_AGE_SECONDS,
    MAX_EVENT_FUTURE_SECONDS,
    check_event_time,
    validation_error,
)

NOW = 1_767_225_600
EMAIL_HASH = hashlib.sha256(b"jane.doe@example.com").hexdigest()


def _event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": NOW,
        "event_id": "ord-1001-checkout",
        "user_data": {"em": [EMAIL_HASH]},
    }
    event.update(overrides)
    return event


def _body(*events: dict[str, Any]) -> dict[str, Any]:
    return {"data": list(events) or [_event()]}


def _error_for(event: dict[str, Any]) -> str:
    message = validation_error(_body(event))
    assert message is not None, "the payload should have been rejected"
    assert message.startswith("Invalid request: ")
    return message


def test_minimal_valid_event_passes() -> None:
    """An event with only the required fields and an email hash is accepted."""
    assert validation_error(_body()) is None


def test_full_documented_example_passes() -> None:
    """The documented checkout example, with every optional block, is accepted."""
    event = _event(
        event_source_url="https://shop.example/thanks",
        opt_out=False,
        partner_name="ss-converge",
        language="en",
        wifi=True,
        app_info={"app_name": "Shop", "install_time": 0, "window_width": 1080},
        device_info={"os_family": "android", "languages": ["en"], "cpu_cores": 8},
        user_data={
            "em": [EMAIL_HASH],
            "ph": [hashlib.sha256(b"15551234567").hexdigest()],
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0",
            "click_id": "dj0yJnU9",
        },
        custom_data={
            "currency": "USD",
            "value": "59.90",
            "order_id": "1001",
            "content_ids": ["SKU-1"],
            "contents": [{"id": "SKU-1", "item_price": "29.95", "quantity": 2}],
            "num_items": 2,
            "np": None,
        },
    )
    assert validation_error(_body(event)) is None


@pytest.mark.parametrize(
    "user_data",
    [
        {"hashed_maids": [EMAIL_HASH]},
        {"client_ip_address": "203.0.113.7", "client_user_agent": "Mozilla/5.0"},
    ],
)
def test_identity_alternatives_to_email_pass(user_data: dict[str, Any]) -> None:
    """A mobile ad id, or IP plus user agent, satisfies the identity rule without em."""
    assert validation_error(_body(_event(user_data=user_data))) is None


def test_unknown_root_key_is_named() -> None:
    """An unknown key next to ``data`` is rejected and named."""
    message = validation_error({"data": [_event()], "test": True})
    assert message == (
        "Invalid request: Additional properties are not allowed ('test' was unexpected)"
    )


def test_unknown_event_key_is_named() -> None:
    """An unknown event-level key is rejected, naming the key and the event."""
    message = _error_for(_event(advertiser_tracking_enabled=True))
    assert "'advertiser_tracking_enabled' was unexpected" in message
    assert message.endswith("at data[0]")


def test_unknown_custom_data_key_is_named_like_pinterest() -> None:
    """An unknown custom_data key gets Pinterest's wording plus where it was found."""
    message = _error_for(_event(custom_data={"category_name": "shoes"}))
    assert message == (
        "Invalid request: Additional properties are not allowed "
        "('category_name' was unexpected) at data[0].custom_data"
    )


def test_unknown_contents_item_key_is_named() -> None:
    """An unknown key inside a contents item is rejected and located."""
    contents = [{"id": "SKU-1", "item_brand_id": "b-1"}]
    message = _error_for(_event(custom_data={"contents": contents}))
    assert "'item_brand_id' was unexpected" in message
    assert "data[0].custom_data.contents[0]" in message


@pytest.mark.parametrize(
    ("custom_data", "where"),
    [
        ({"value": 59.9}, "custom_data.value"),
        ({"predicted_ltv": 120}, "custom_data.predicted_ltv"),
        ({"order_id": 1001}, "custom_data.order_id"),
        ({"content_ids": [1]}, "custom_data.content_ids[0]"),
        ({"contents": [{"id": 1}]}, "custom_data.contents[0].id"),
        ({"contents": [{"item_price": 29.95}]}, "custom_data.contents[0].item_price"),
    ],
)
def test_number_where_string_required_is_rejected(
    custom_data: dict[str, Any], where: str
) -> None:
    """Money and ids sent as JSON numbers are rejected, naming the field."""
    message = _error_for(_event(custom_data=custom_data))
    assert "is not of type 'string'" in message
    assert message.endswith(f"at data[0].{where}")


@pytest.mark.parametrize(
    ("event", "where"),
    [
        (_event(event_time=str(NOW)), "event_time"),
        (_event(custom_data={"num_items": "2"}), "custom_data.num_items"),
        (_event(custom_data={"contents": [{"quantity": "2"}]}), "custom_data.contents"),
    ],
)
def test_string_where_integer_required_is_rejected(
    event: dict[str, Any], where: str
) -> None:
    """Counts and times sent as strings are rejected, naming the field."""
    message = _error_for(event)
    assert "is not of type 'integer'" in message
    assert f"at data[0].{where}" in message


def test_float_event_time_is_rejected() -> None:
    """A float event_time (e.g. from time.time()) is rejected even if integral."""
    assert "data[0].event_time" in _error_for(_event(event_time=float(NOW)))


@pytest.mark.parametrize(
    "field", ["event_name", "action_source", "event_time", "event_id", "user_data"]
)
def test_missing_required_field_is_named(field: str) -> None:
    """Each required event field, when missing, is named in the message."""
    event = _event()
    del event[field]
    assert f"'{field}' is a required property at data[0]" in _error_for(event)


@pytest.mark.parametrize(
    "user_data",
    [
        {"ph": [EMAIL_HASH]},
        {"external_id": [EMAIL_HASH], "click_id": "dj0yJnU9"},
        {"client_ip_address": "203.0.113.7"},
    ],
)
def test_identity_rule_broken_is_rejected(user_data: dict[str, Any]) -> None:
    """Without em, hashed_maids or IP plus user agent the event is rejected."""
    message = _error_for(_event(user_data=user_data))
    assert "em | hashed_maids | client_ip_address+client_user_agent" in message
    assert message.endswith("at data[0].user_data")


def test_unhashed_email_is_rejected_without_echoing_it() -> None:
    """A plain-text email is rejected, and the message does not repeat the address."""
    message = _error_for(_event(user_data={"em": ["jane.doe@example.com"]}))
    assert "data[0].user_data.em[0]" in message
    assert "jane" not in message


@pytest.mark.parametrize(
    "hashed", [[EMAIL_HASH.upper()], [], [EMAIL_HASH[:63]], EMAIL_HASH]
)
def test_hashed_field_must_be_nonempty_list_of_lowercase_digests(hashed: Any) -> None:
    """Uppercase, truncated, empty or unwrapped digests are rejected (stricter rule)."""
    assert "data[0].user_data.em" in _error_for(_event(user_data={"em": hashed}))


@pytest.mark.parametrize("value", ["12,50", "12 USD", "NaN", "1e3", ""])
def test_money_string_must_be_a_decimal_number(value: str) -> None:
    """A money string that is not a plain decimal number is rejected (stricter rule)."""
    message = _error_for(_event(custom_data={"value": value}))
    assert message.endswith("at data[0].custom_data.value")


def test_currency_must_be_three_uppercase_letters() -> None:
    """A lowercase currency code is rejected (stricter rule)."""
    message = _error_for(_event(custom_data={"currency": "usd"}))
    assert message.endswith("at data[0].custom_data.currency")


def test_unknown_event_name_is_rejected() -> None:
    """An event_name outside Pinterest's list (e.g. ``purchase``) is rejected."""
    message = _error_for(_event(event_name="purchase"))
    assert "'purchase' is not one of the allowed values" in message
    assert message.endswith("at data[0].event_name")


def test_newer_event_names_are_accepted() -> None:
    """Standard events newer than the OpenAPI text (e.g. start_trial) are accepted."""
    assert validation_error(_body(_event(event_name="start_trial"))) is None


def test_action_source_outside_the_four_values_is_rejected() -> None:
    """An action_source other than app_android, app_ios, web, offline is rejected."""
    assert "data[0].action_source" in _error_for(_event(action_source="email"))


def test_language_must_be_two_lowercase_letters() -> None:
    """A locale like en-US in ``language`` is rejected."""
    assert "data[0].language" in _error_for(_event(language="en-US"))


def test_zero_events_are_rejected() -> None:
    """An empty data array is rejected, naming ``data``."""
    assert validation_error({"data": []}) == (
        "Invalid request: has 0 items, at least 1 allowed at data"
    )


def test_more_than_1000_events_are_rejected() -> None:
    """A batch of 1001 events is rejected, naming ``data`` and the limit."""
    events = [copy.deepcopy(_event(event_id=f"e{i}")) for i in range(1001)]
    assert validation_error({"data": events}) == (
        "Invalid request: has 1001 items, at most 1000 allowed at data"
    )


def test_exactly_1000_events_are_accepted() -> None:
    """A batch of exactly 1000 events is within the limit."""
    events = [_event(event_id=f"e{i}") for i in range(1000)]
    assert validation_error({"data": events}) is None


def test_event_time_inside_window_has_no_error() -> None:
    """Times from seven days ago up to one hour ahead pass."""
    assert check_event_time(NOW - MAX_EVENT_AGE_SECONDS, NOW) is None
    assert check_event_time(NOW + MAX_EVENT_FUTURE_SECONDS, NOW) is None


def test_event_older_than_seven_days_gets_pinterests_message() -> None:
    """A stale event gets Pinterest's past-timestamp message with both timestamps."""
    sent = NOW - MAX_EVENT_AGE_SECONDS - 1
    assert check_event_time(sent, NOW) == (
        "Invalid event_timestamp parameter. Given timestamp is in the past. "
        f"Current timestamp: {NOW}, Given event_timestamp: {sent}"
    )


def test_event_more_than_an_hour_ahead_gets_future_message() -> None:
    """An event time in milliseconds reads as far future and is refused."""
    message = check_event_time(NOW * 1000, NOW)
    assert message is not None
    assert "Given timestamp is in the future" in message
    assert f"Given event_timestamp: {NOW * 1000}" in message


def test_event_age_limit_can_be_narrowed() -> None:
    """A caller-supplied age limit replaces the seven-day default."""
    assert check_event_time(NOW - 61, NOW, max_age_seconds=60) is not None
