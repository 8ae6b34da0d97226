"""Converge's JSON server envelope: one event per line, turned into the Avro record.

The envelope is Converge's webhook body in snake case: ``event_name``,
``event_id``, ``timestamp``, ``source_id``, ``properties``,
``profile_properties``, ``aliases`` and ``consent``. Values are coerced to the
schema's types (ids that arrive as numbers become strings, prices that arrive as
numeric text become numbers); a value that cannot be coerced is an error naming
its path. Properties outside the spec are kept as JSON text in ``custom`` maps.
"""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from typing import Any

from consumer.codec import ConvergeEvent

TOP_LEVEL_KEYS = (
    "event_name",
    "event_id",
    "timestamp",
    "source_id",
    "properties",
    "profile_properties",
    "aliases",
    "consent",
)

ITEM_FIELDS = {
    "product_id": "string",
    "variant_id": "string",
    "sku": "string",
    "name": "string",
    "variant_name": "string",
    "price": "double",
    "currency": "string",
    "vendor": "string",
    "quantity": "long",
    "url": "string",
    "image_url": "string",
}
PROPERTY_FIELDS = {
    **ITEM_FIELDS,
    "id": "string",
    "description": "string",
    "total_price": "double",
    "total_tax": "double",
    "total_shipping": "double",
    "total_discount": "double",
    "query": "string",
    "referrer": "string",
}
IDENTITY_FIELDS = dict.fromkeys(
    (
        "email",
        "phone_number",
        "first_name",
        "last_name",
        "city",
        "state",
        "zip_code",
        "country_code",
        "gender",
        "date_of_birth",
        "ip",
        "user_agent",
    ),
    "string",
)
RESERVED_FIELDS = {
    **IDENTITY_FIELDS,
    "url": "string",
    "is_new_customer": "boolean",
    "sales_channel_type": "string",
    "language": "string",
}
PROFILE_FIELDS = {**IDENTITY_FIELDS}

# Epoch values above this are milliseconds, not seconds: 1e11 seconds is the
# year 5138, while 1e11 milliseconds is March 1973.
_MILLISECONDS_THRESHOLD = 1e11
# The end of the year 9999 in milliseconds: later times fit no calendar
# Pinterest or Avro's long would take.
_LATEST_MS = 253_402_300_799_999


class EnvelopeError(ValueError):
    """An input line that is not a valid Converge event; the message names the path."""


def parse_line(line: str, now_ms: int | None = None) -> ConvergeEvent:
    """Parse one JSON line of the envelope into the Avro-shaped event."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    return from_envelope(raw, now_ms)


def from_envelope(raw: Any, now_ms: int | None = None) -> ConvergeEvent:
    """Turn a decoded envelope object into the Avro-shaped event."""
    if not isinstance(raw, dict):
        raise EnvelopeError("an event must be a JSON object")
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise EnvelopeError(
            f"unknown key {unknown[0]!r} at top level; the server envelope has "
            f"{', '.join(TOP_LEVEL_KEYS)} (snake case)"
        )

    name = raw.get("event_name")
    if not isinstance(name, str) or not name.strip():
        raise EnvelopeError("event_name is missing or empty; it names the event")

    event_id = _coerce("event_id", raw.get("event_id"), "string")
    timestamp_ms = _timestamp_ms(raw.get("timestamp"), now_ms)
    if timestamp_ms > _LATEST_MS:
        raise EnvelopeError(f"timestamp {raw.get('timestamp')!r} is past the year 9999")
    event = {
        "event_name": name.strip(),
        "timestamp_ms": timestamp_ms,
        "event_id": event_id if event_id and event_id.strip() else None,
        "source_id": _coerce("source_id", raw.get("source_id"), "string"),
        "properties": _properties(_object("properties", raw.get("properties"))),
        "profile_properties": _profile(
            _object("profile_properties", raw.get("profile_properties"))
        ),
        "aliases": _aliases(raw.get("aliases")),
        "consent": _consent(raw.get("consent")),
    }
    try:
        json.dumps(event, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # JSON allows escapes of lone surrogates, which no UTF-8 text can hold.
        raise EnvelopeError(
            "the event holds text that is not valid Unicode (a lone \\uD8xx escape)"
        ) from None
    return event


def _object(path: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise EnvelopeError(f"{path} must be a JSON object, got {_kind(value)}")
    return value


def _properties(raw: dict[str, Any]) -> dict[str, Any]:
    props: dict[str, Any] = {"reserved": {}, "custom": {}, "items": [], "coupons": []}
    for key, value in raw.items():
        path = f"properties.{key}"
        if key == "items":
            props["items"] = _items(path, value)
        elif key == "coupon":
            props["coupons"] = _coupons(path, value)
        elif key.startswith("$") and key[1:] in RESERVED_FIELDS:
            field = key[1:]
            props["reserved"][field] = _coerce(path, value, RESERVED_FIELDS[field])
        elif key in PROPERTY_FIELDS:
            props[key] = _coerce(path, value, PROPERTY_FIELDS[key])
        else:
            props["custom"][key] = json.dumps(value, ensure_ascii=False)
    return props


def _profile(raw: dict[str, Any]) -> dict[str, Any]:
    profile: dict[str, Any] = {"custom": {}}
    for key, value in raw.items():
        path = f"profile_properties.{key}"
        if key.startswith("$") and key[1:] in PROFILE_FIELDS:
            profile[key[1:]] = _coerce(path, value, PROFILE_FIELDS[key[1:]])
        elif key == "cookie_id":
            profile[key] = _coerce(path, value, "string")
        else:
            profile["custom"][key] = json.dumps(value, ensure_ascii=False)
    return profile


def _items(path: str, value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EnvelopeError(f"{path} must be a list of items, got {_kind(value)}")
    items = []
    for index, raw in enumerate(value):
        item_path = f"{path}.{index}"
        if not isinstance(raw, dict):
            raise EnvelopeError(f"{item_path} must be an object, got {_kind(raw)}")
        item: dict[str, Any] = {"custom": {}}
        for key, field_value in raw.items():
            if key in ITEM_FIELDS:
                item[key] = _coerce(f"{item_path}.{key}", field_value, ITEM_FIELDS[key])
            else:
                item["custom"][key] = json.dumps(field_value, ensure_ascii=False)
        items.append(item)
    return items


def _coupons(path: str, value: Any) -> list[str]:
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    return [str(_coerce(path, code, "string")) for code in values if code is not None]


def _aliases(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise EnvelopeError("aliases must be a list of strings such as 'urn:email:...'")
    return list(value)


def _consent(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    raw = _object("consent", value)
    consent: dict[str, Any] = {}
    for category in ("analytics", "marketing"):
        state = raw.get(category)
        if state is not None and state not in ("granted", "denied"):
            raise EnvelopeError(
                f"consent.{category} is {state!r}; use 'granted' or 'denied'"
            )
        consent[category] = state
    return consent


def _timestamp_ms(value: Any, now_ms: int | None) -> int:
    if value is None:
        # Converge uses the time of receipt when a server event has none.
        return now_ms if now_ms is not None else int(time.time() * 1000)
    if isinstance(value, bool):
        raise EnvelopeError("timestamp must be ISO 8601 text or epoch seconds")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise EnvelopeError(f"timestamp {value!r} is not a valid epoch time")
        if value >= _MILLISECONDS_THRESHOLD:
            return int(value)
        # round, not truncate: 1075494541.587 * 1000 is 1075494541586.9999.
        return round(value * 1000)
    if isinstance(value, str):
        text = value.strip()
        if _is_number(text) and "_" not in text:
            # Numeric text is epoch time; fromisoformat would read "20261201"
            # as a date without a zone.
            return _timestamp_ms(float(text), now_ms)
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise EnvelopeError(
                f"timestamp {value!r} is not ISO 8601 (like 2026-12-01T10:00:00Z) "
                "nor epoch seconds"
            ) from None
        if moment.tzinfo is None:
            raise EnvelopeError(
                f"timestamp {value!r} has no time zone; add one, such as Z or +01:00"
            )
        return int(moment.timestamp() * 1000)
    raise EnvelopeError(f"timestamp must be text or a number, got {_kind(value)}")


def _coerce(path: str, value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "string":
        return _as_string(path, value)
    if kind == "double":
        return _as_double(path, value)
    if kind == "long":
        return _as_long(path, value)
    return _as_boolean(path, value)


def _as_string(path: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise EnvelopeError(f"{path} must be text, got {_kind(value)}")


def _as_double(path: str, value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str) and "_" not in value and _is_number(value.strip()):
        number = float(value.strip())
    else:
        raise EnvelopeError(f"{path} must be a number, got {_show(value)}")
    if not math.isfinite(number):
        raise EnvelopeError(f"{path} must be a finite number, got {_show(value)}")
    return number


def _as_long(path: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        # Kept exact: a double would round whole numbers above 2**53.
        if abs(value) >= 2**63:
            raise EnvelopeError(f"{path} is too large, got {_show(value)}")
        return value
    number = _as_double(path, value)
    if not number.is_integer():
        raise EnvelopeError(f"{path} must be a whole number, got {_show(value)}")
    if abs(number) >= 2**63:
        raise EnvelopeError(f"{path} is too large, got {_show(value)}")
    return int(number)


def _as_boolean(path: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise EnvelopeError(f"{path} must be true or false, got {_show(value)}")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(
        type(value), "a number"
    )


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."
