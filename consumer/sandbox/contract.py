"""Pinterest's Conversions API request contract as a JSON Schema, plus its responses.

The sandbox validates every request body against ``CONVERSION_EVENTS_SCHEMA`` so that a
payload it accepts is one Pinterest's ``ConversionEvents`` schema (API v5) accepts too.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, relevance

# --- Deliberately stricter than Pinterest ------------------------------------------
# Pinterest only says hashed fields hold strings; it silently ignores plain text. A
# lowercase SHA-256 hex digest is what every studied sender emits, so demanding it here
# makes unhashed personal data leaving a sender fail loudly in tests instead.
HASH_PATTERN = "^[a-f0-9]{64}$"
# Pinterest parses money strings to double; anything that is not a plain decimal number
# (e.g. "1,50", "12 USD", "NaN") is a sender bug even if Pinterest might coerce it.
MONEY_PATTERN = r"^-?\d+(\.\d+)?$"
# ISO 4217 codes are three uppercase letters; Pinterest's schema only says "string".
CURRENCY_PATTERN = "^[A-Z]{3}$"

# --- event_time window -------------------------------------------------------------
# Pinterest rejects events older than about seven days (the figure its integration
# partners filter on; Pinterest's exact boundary is unpublished).
MAX_EVENT_AGE_SECONDS = 7 * 86400
# Pinterest publishes no clock-skew tolerance for future times. One hour tolerates
# skewed clocks yet still catches milliseconds sent where seconds are expected.
MAX_EVENT_FUTURE_SECONDS = 3600

ACTION_SOURCES = ["app_android", "app_ios", "web", "offline"]
EVENT_NAMES = [
    # Listed in Pinterest's API v5 description.
    "add_payment_info", "add_to_cart", "add_to_wishlist", "app_install", "checkout",
    "custom", "initiate_checkout", "lead", "page_visit", "search", "signup",
    "subscribe", "view_category", "view_content", "watch_video",
    # Newer standard events accepted in practice (Pinterest's own GTM tag sends them).
    "app_open", "contact", "customize_product", "find_location", "schedule",
    "start_trial", "submit_application",
]  # fmt: skip
HASHED_USER_FIELDS = [
    "em", "ph", "ge", "db", "ln", "fn", "ct", "st", "zp", "country", "external_id",
    "hashed_maids",
]  # fmt: skip

_STRING: dict[str, Any] = {"type": "string"}
_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
_INT: dict[str, Any] = {"type": "integer"}
_MONEY: dict[str, Any] = {"type": ["string", "null"], "pattern": MONEY_PATTERN}
_HASHED: dict[str, Any] = {
    "type": "array",
    # Stricter than Pinterest: an empty array carries no identity and hides a bug.
    "minItems": 1,
    "items": {"type": "string", "pattern": HASH_PATTERN},
}
_LANGUAGE_CODE: dict[str, Any] = {"type": "string", "pattern": "^[a-z]{2}$"}


def _max_len(n: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": n}


def _int_range(low: int, high: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": low, "maximum": high}


USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **dict.fromkeys(HASHED_USER_FIELDS, _HASHED),
        "client_ip_address": _STRING,
        "client_user_agent": _STRING,
        "click_id": _NULLABLE_STRING,
        "partner_id": _NULLABLE_STRING,
    },
    # Minimum identity: an email, a mobile advertising id, or IP plus user agent.
    "anyOf": [
        {"required": ["em"]},
        {"required": ["hashed_maids"]},
        {"required": ["client_ip_address", "client_user_agent"]},
    ],
}

CONTENT_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "id": _STRING,
        "item_price": {"type": "string", "pattern": MONEY_PATTERN},
        "quantity": _INT,
        "item_name": _STRING,
        "item_category": _STRING,
        "item_brand": _STRING,
    },
}

# external_measurement_id / external_measurement_vendor_id are left out on purpose:
# Pinterest wants them only when it instructs an advertiser to send them.
CUSTOM_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "currency": {"type": ["string", "null"], "pattern": CURRENCY_PATTERN},
        "value": _MONEY,
        "content_ids": {"type": "array", "items": _STRING},
        "contents": {"type": "array", "items": CONTENT_ITEM_SCHEMA},
        "num_items": _INT,
        "order_id": _NULLABLE_STRING,
        "search_string": _NULLABLE_STRING,
        "content_name": _NULLABLE_STRING,
        "content_category": _NULLABLE_STRING,
        "content_brand": _NULLABLE_STRING,
        "opt_out_type": _NULLABLE_STRING,
        "np": _NULLABLE_STRING,
        "predicted_ltv": _MONEY,
    },
}

APP_INFO_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "properties": {
        "app_id": _max_len(200),
        "app_name": _max_len(200),
        "app_package_name": _max_len(200),
        "app_store": _max_len(100),
        "app_version": _max_len(100),
        "install_time": {"type": "integer", "minimum": 0},
        "user_agent": _max_len(16384),
        "window_height": _int_range(0, 30720),
        "window_width": _int_range(0, 30720),
    },
}

_INT_DEVICE_FIELDS = [
    "cpu_cores", "external_storage_free_space", "external_storage_size",
    "screen_density", "screen_height", "screen_width", "storage_free_space",
    "storage_size",
]  # fmt: skip
_STRING_DEVICE_FIELDS = [
    "brand", "carrier", "kernel_version", "model", "os_name", "os_release_name",
    "os_version", "type",
]  # fmt: skip
FORM_FACTORS = [
    "desktop", "laptop", "cellphone", "tablet", "smartwatch", "tv", "vr", "console",
    "other",
]  # fmt: skip
NETWORK_TYPES = [
    "wifi", "cellular_2g", "cellular_3g", "cellular_4g", "cellular_5g", "cellular_6g",
    "ethernet", "unknown",
]  # fmt: skip
OS_FAMILIES = ["ios", "android", "macos", "windows", "linux", "bsd", "other"]
DEVICE_INFO_SCHEMA: dict[str, Any] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "properties": {
        "battery_level": _int_range(0, 100),
        **dict.fromkeys(_STRING_DEVICE_FIELDS, _STRING),
        **dict.fromkeys(_INT_DEVICE_FIELDS, _INT),
        "form_factor": {"enum": FORM_FACTORS},
        "languages": {"type": "array", "maxItems": 100, "items": _LANGUAGE_CODE},
        "locale": _max_len(35),
        "network_type": {"enum": NETWORK_TYPES},
        "os_family": {"enum": OS_FAMILIES},
        "timezone": _max_len(40),
        "timezone_abbr": _max_len(5),
    },
}

# The legacy flat app/device fields that app_info and device_info later grouped.
_FLAT_APP_DEVICE_FIELDS = [
    "app_id", "app_name", "app_version", "device_brand", "device_carrier",
    "device_model", "device_type", "os_version",
]  # fmt: skip
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["event_name", "action_source", "event_time", "event_id", "user_data"],
    "properties": {
        "event_name": {"type": "string", "enum": EVENT_NAMES},
        "action_source": {"type": "string", "enum": ACTION_SOURCES},
        "event_time": _INT,
        "event_id": _STRING,
        "user_data": USER_DATA_SCHEMA,
        "custom_data": CUSTOM_DATA_SCHEMA,
        "event_source_url": _NULLABLE_STRING,
        "opt_out": {"type": "boolean"},
        "partner_name": _NULLABLE_STRING,
        "language": {"type": ["string", "null"], "pattern": "^[a-z]{2}$"},
        **dict.fromkeys(_FLAT_APP_DEVICE_FIELDS, _NULLABLE_STRING),
        "wifi": {"type": "boolean"},
        "app_info": APP_INFO_SCHEMA,
        "device_info": DEVICE_INFO_SCHEMA,
    },
}

CONVERSION_EVENTS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["data"],
    "properties": {
        "data": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": EVENT_SCHEMA,
        }
    },
}

# Stricter than Pinterest: JSON Schema counts 1.0 as an integer, but a float where
# Pinterest wants int64 (event_time from time.time(), say) is a sender bug.
_TYPE_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _checker, v: isinstance(v, int) and not isinstance(v, bool)
)
_StrictValidator = validators.extend(Draft202012Validator, type_checker=_TYPE_CHECKER)
Draft202012Validator.check_schema(CONVERSION_EVENTS_SCHEMA)
VALIDATOR = _StrictValidator(CONVERSION_EVENTS_SCHEMA)

# --- Pinterest's response bodies -----------------------------------------------------
INVALID_REQUEST_CODE = 4196
PARTIAL_FAILURE_CODE = 953
PARTIAL_FAILURE_MESSAGE = (
    "The action could not be processed properly due to some or all data provided "
    "being invalid."
)
# Bodies Pinterest sends with these statuses (code 2 and its "status" field as seen
# on real v5 responses; the others are the examples in Pinterest's OpenAPI file).
ERROR_BODIES: dict[int, dict[str, Any]] = {
    401: {"code": 2, "message": "Authentication failed.", "status": "failure"},
    403: {"code": 29, "message": "You are not permitted to access that resource."},
    429: {
        "code": 8,
        "message": "This request exceeded a rate limit. This can happen if the "
        "client exceeds one of the published rate limits within a short time window.",
    },
    503: {
        "code": 4197,
        "message": "The endpoint has been ramped down and is currently not "
        "accepting any traffic.",
    },
}


def error_body_for_status(status: int) -> dict[str, Any]:
    """Pinterest's error body for ``status``, or a generic ``Error`` for others."""
    body = ERROR_BODIES.get(status)
    if body is not None:
        return dict(body)
    return {"code": status, "message": f"sandbox: injected HTTP {status} response"}


def _describe(error: ValidationError) -> str:
    # Some jsonschema messages echo the whole offending value (a 1001-event list, an
    # unhashed email); reword those so responses stay short and carry no personal data.
    instance = error.instance
    if error.validator == "pattern":
        return f"value does not match {error.validator_value!r}"
    if error.validator == "anyOf":
        options = " | ".join("+".join(s["required"]) for s in error.validator_value)
        return f"none of the required alternatives is present ({options})"
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{instance!r:.60} is not one of the allowed values ({allowed})"
    if error.validator in ("minItems", "maxItems") and isinstance(instance, list):
        bound = "at least" if error.validator == "minItems" else "at most"
        return f"has {len(instance)} items, {bound} {error.validator_value} allowed"
    return str(error.message)[:300]


def validation_error(body: Any) -> str | None:
    """Pinterest-style 400 message for the most relevant schema violation, else None."""
    errors = list(VALIDATOR.iter_errors(body))
    if not errors:
        return None
    error = max(errors, key=relevance)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    suffix = f" at {where.lstrip('.')}" if where else ""
    return f"Invalid request: {_describe(error)}{suffix}"


def check_event_time(
    event_time: int, now: int, max_age_seconds: int = MAX_EVENT_AGE_SECONDS
) -> str | None:
    """Pinterest's per-event error message if ``event_time`` is out of window."""
    if event_time < now - max_age_seconds:
        direction = "past"
    elif event_time > now + MAX_EVENT_FUTURE_SECONDS:
        direction = "future"
    else:
        return None
    return (
        f"Invalid event_timestamp parameter. Given timestamp is in the {direction}. "
        f"Current timestamp: {now}, Given event_timestamp: {event_time}"
    )
