"""Pinterest ``user_data`` from a Converge event: identity fields, IP and click id.

Event-level reserved properties win over profile properties, because Converge
freezes the buyer's details on the event (Placed Order) while the profile can
change later. Hashed fields are arrays of digests; IP, user agent, click id and
partner id are sent as plain strings.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from consumer.codec import ConvergeEvent
from consumer.hashing import hashed, hashed_list

# Pinterest hashed field -> Converge reserved property name (event and profile).
IDENTITY_SOURCES = {
    "em": "email",
    "ph": "phone_number",
    "fn": "first_name",
    "ln": "last_name",
    "ge": "gender",
    "db": "date_of_birth",
    "ct": "city",
    "st": "state",
    "zp": "zip_code",
    "country": "country_code",
}

# Converge documents the customer-id aliases; it has no alias for mobile ad ids,
# so the types below are this service's convention, named after the ids' owners
# (IDFA on iOS, GAID on Android) or generically "maid".
EXTERNAL_ID_ALIASES = ("urn:customer_id:", "urn:user_id:")
MAID_ALIASES = ("urn:maid:", "urn:idfa:", "urn:gaid:")


def user_data(event: ConvergeEvent) -> dict[str, Any]:
    """Every user_data field the event can fill, hashed where Pinterest wants it."""
    reserved = event["properties"]["reserved"]
    profile = event["profile_properties"]
    data: dict[str, Any] = {}
    for field, name in IDENTITY_SOURCES.items():
        # The event's value is the one that describes this conversion; the
        # profile's older value is hashed only when the event has none usable.
        digest = hashed(field, reserved.get(name)) or hashed(field, profile.get(name))
        if digest:
            data[field] = [digest]
    aliases = event["aliases"]
    for field, prefixes in (
        ("external_id", EXTERNAL_ID_ALIASES),
        ("hashed_maids", MAID_ALIASES),
    ):
        digests = hashed_list(field, _alias_values(aliases, prefixes))
        if digests:
            data[field] = digests
    ip = _ip_address(reserved.get("ip")) or _ip_address(profile.get("ip"))
    if ip:
        data["client_ip_address"] = ip
    agent = _text(reserved.get("user_agent")) or _text(profile.get("user_agent"))
    if agent:
        data["client_user_agent"] = agent
    click_id = _custom_text(profile["custom"], "_epik") or _url_parameter(
        reserved.get("url"), "epik"
    )
    if click_id:
        data["click_id"] = click_id
    partner_id = _custom_text(profile["custom"], "partner_id")
    if partner_id:
        data["partner_id"] = partner_id
    return data


def has_identity(data: dict[str, Any]) -> bool:
    """Pinterest's minimum: an email, a mobile ad id, or both IP and user agent."""
    return bool(
        data.get("em")
        or data.get("hashed_maids")
        or (data.get("client_ip_address") and data.get("client_user_agent"))
    )


def _alias_values(aliases: list[str], prefixes: tuple[str, ...]) -> list[str]:
    # The type part of an alias is matched in any letter case; the id keeps its own.
    return [
        alias.strip()[len(prefix) :]
        for alias in aliases
        for prefix in prefixes
        if alias.strip().lower().startswith(prefix)
    ]


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value


def _ip_address(value: str | None) -> str | None:
    # Only a real IPv4 or IPv6 address counts toward the identity rule; a
    # malformed one would satisfy it locally and still match nobody.
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return None


def _custom_text(custom: dict[str, str], key: str) -> str | None:
    # Custom properties are stored as JSON text; only a text or number is an id.
    raw = custom.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    return text or None


def _url_parameter(url: str | None, name: str) -> str | None:
    if not url:
        return None
    try:
        values = parse_qs(urlsplit(url.strip()).query).get(name)
    except ValueError:
        return None
    if not values or not values[0].strip():
        return None
    return values[0].strip()
