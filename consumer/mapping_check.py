"""Pre-send check of one mapped event against Pinterest's request contract.

An event that fails is rejected on its own instead of joining a batch, where one
bad event makes Pinterest refuse or fail the request for all the others.
"""

from __future__ import annotations

import re
from typing import Any

from consumer.event_names import PINTEREST_EVENT_NAMES
from consumer.hashing import HASHED_FIELDS
from consumer.mapping_user import has_identity

ACTION_SOURCES = frozenset({"app_android", "app_ios", "web", "offline"})
EVENT_KEYS = frozenset(
    {
        "event_name", "action_source", "event_time", "event_id", "user_data",
        "custom_data", "event_source_url", "partner_name", "language",
    }
)  # fmt: skip
REQUIRED_KEYS = ("event_name", "action_source", "event_time", "event_id", "user_data")
PLAIN_USER_FIELDS = frozenset(
    {"client_ip_address", "client_user_agent", "click_id", "partner_id"}
)
CUSTOM_TEXT_FIELDS = frozenset(
    {
        "currency", "order_id", "search_string", "content_name", "content_category",
        "content_brand", "opt_out_type",
    }
)  # fmt: skip
CONTENT_TEXT_FIELDS = frozenset({"id", "item_name", "item_category", "item_brand"})
INT64_MAX = 2**63 - 1

_DIGEST = re.compile(r"^[a-f0-9]{64}$")
_MONEY = re.compile(r"^\d+(\.\d+)?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


def contract_problem(event: dict[str, Any]) -> str | None:
    """What makes ``event`` unacceptable to Pinterest, in words, or None if fine."""
    unknown = sorted(set(event) - EVENT_KEYS)
    if unknown:
        return f"{unknown[0]} is not a field of Pinterest's event"
    for key in REQUIRED_KEYS:
        if key not in event:
            return f"{key} is missing; Pinterest requires it"
    if event["event_name"] not in PINTEREST_EVENT_NAMES:
        return f"event_name {event['event_name']!r} is not a Pinterest event name"
    if event["action_source"] not in ACTION_SOURCES:
        return f"action_source {event['action_source']!r} is not one Pinterest takes"
    if not _is_int(event["event_time"]):
        return "event_time must be whole epoch seconds"
    if not isinstance(event["event_id"], str) or not event["event_id"].strip():
        return "event_id must be non-empty text"
    for key in ("event_source_url", "partner_name"):
        if key in event and not isinstance(event[key], str):
            return f"{key} must be text"
    if "language" in event and not _matches(_LANGUAGE, event["language"]):
        return "language must be a two-letter lowercase ISO 639-1 code"
    problem = _user_data_problem(event["user_data"])
    if problem is None and "custom_data" in event:
        problem = _custom_data_problem(event["custom_data"])
    return problem


def _user_data_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "user_data must be an object"
    for key, value in data.items():
        where = f"user_data.{key}"
        if key in HASHED_FIELDS:
            if not isinstance(value, list) or not value:
                return f"{where} must be a non-empty list of SHA-256 digests"
            if not all(_matches(_DIGEST, v) for v in value):
                return f"{where} holds a value that is not a lowercase SHA-256 digest"
        elif key in PLAIN_USER_FIELDS:
            if not isinstance(value, str) or not value.strip():
                return f"{where} must be non-empty text"
        else:
            return f"{where} is not a field of Pinterest's user_data"
    if not has_identity(data):
        return (
            "user_data has no email (em), no mobile ad id (hashed_maids) and not "
            "both client_ip_address and client_user_agent; Pinterest needs one"
        )
    return None


def _custom_data_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "custom_data must be an object"
    for key, value in data.items():
        where = f"custom_data.{key}"
        if key in CUSTOM_TEXT_FIELDS:
            if not isinstance(value, str) or not value.strip():
                return f"{where} must be non-empty text"
        elif key == "value":
            if not _matches(_MONEY, value):
                return f"{where} must be a decimal number written as text"
        elif key == "num_items":
            if not _is_int(value):
                return f"{where} must be a whole number that fits 64 bits"
        elif key == "content_ids":
            if not isinstance(value, list) or not all(_is_text(v) for v in value):
                return f"{where} must be a list of non-empty text ids"
        elif key == "contents":
            if not isinstance(value, list):
                return f"{where} must be a list"
            for index, item in enumerate(value):
                if problem := _content_problem(f"{where}.{index}", item):
                    return problem
        else:
            return f"{where} is not a field of Pinterest's custom_data"
    if "currency" in data and not _matches(_CURRENCY, data["currency"]):
        return "custom_data.currency must be a three-letter ISO 4217 code"
    return None


def _content_problem(where: str, item: Any) -> str | None:
    if not isinstance(item, dict) or not item:
        return f"{where} must be a non-empty object"
    for key, value in item.items():
        if key in CONTENT_TEXT_FIELDS:
            if not _is_text(value):
                return f"{where}.{key} must be non-empty text"
        elif key == "item_price":
            if not _matches(_MONEY, value):
                return f"{where}.item_price must be a decimal number written as text"
        elif key == "quantity":
            if not _is_int(value):
                return f"{where}.quantity must be a whole number that fits 64 bits"
        else:
            return f"{where}.{key} is not a field of Pinterest's contents"
    return None


def _is_int(value: Any) -> bool:
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and -INT64_MAX - 1 <= value <= INT64_MAX
    )


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and bool(pattern.match(value))
