"""The mapping stage: one Converge event and one destination give one Outcome.

Event-level fields, routing, consent and the event_time window live here;
user_data is built in ``mapping_user``, custom_data in ``mapping_custom`` and
the pre-send contract check in ``mapping_check``. Nothing here logs: events
carry personal data.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from consumer.codec import ConvergeEvent
from consumer.config import Destination
from consumer.mapping_check import contract_problem
from consumer.mapping_custom import custom_data
from consumer.mapping_user import has_identity, user_data

# Pinterest refuses events older than about seven days (the figure its
# integration partners filter on; Pinterest publishes no exact boundary).
MAX_AGE_SECONDS = 7 * 86_400
# Pinterest publishes no tolerance for future times. An hour absorbs skewed
# clocks yet still catches milliseconds or microseconds taken for seconds.
MAX_FUTURE_SECONDS = 3_600

# Sales channels where the sale happened away from a website or app.
OFFLINE_CHANNELS = frozenset({"offline", "pos"})
DERIVED_ID_PREFIX = "cvg-derived-"

_LANGUAGE = re.compile(r"^([a-z]{2})(?:[-_][a-z0-9]+)*$")


@dataclass(frozen=True)
class Outcome:
    """What to do with one event for one destination, and why when not sending."""

    destination: str
    kind: Literal["send", "rejected", "skipped"]
    event: dict[str, Any] | None
    reason: str | None
    event_id: str


def map_event(event: ConvergeEvent, destination: Destination, now: float) -> Outcome:
    """Map ``event`` for ``destination``; ``now`` is the current epoch in seconds."""
    return _map(event, destination, now, lambda: user_data(event))


def map_for_each(
    event: ConvergeEvent, destinations: Iterable[Destination], now: float
) -> Iterator[tuple[Destination, Outcome | Exception]]:
    """Map one event for several destinations, each outcome or its error.

    user_data does not depend on the destination and hashing is the costly
    part of mapping, so it is built at most once per event. A destination
    whose mapping raises gets the exception, and the others still get theirs.
    """
    built: list[dict[str, Any]] = []

    def users() -> dict[str, Any]:
        if not built:
            built.append(user_data(event))
        return built[0]

    for destination in destinations:
        try:
            yield destination, _map(event, destination, now, users)
        except Exception as exc:  # noqa: BLE001 - handed to the caller, not lost
            yield destination, exc


def _map(
    event: ConvergeEvent,
    destination: Destination,
    now: float,
    users_of_event: Callable[[], dict[str, Any]],
) -> Outcome:
    event_id = event_id_of(event)

    def outcome(kind: Literal["rejected", "skipped"], reason: str) -> Outcome:
        return Outcome(destination.name, kind, None, reason, event_id)

    if not destination.receives_source(event["source_id"]):
        return outcome(
            "skipped",
            f"source {event['source_id']!r} is not one this destination receives"
            if event["source_id"] is not None
            else "the event names no source_id and this destination lists sources",
        )
    name = destination.pinterest_event_name(event["event_name"])
    if name is None:
        return outcome(
            "skipped",
            f"{event['event_name']!r} has no Pinterest event for this destination",
        )
    if consent_reason := _consent_block(event, destination.consent_mode):
        return outcome("skipped", consent_reason)

    event_time = event["timestamp_ms"] // 1000
    if event_time < now - MAX_AGE_SECONDS:
        return outcome(
            "rejected",
            "event_time is more than 7 days in the past; Pinterest refuses such events",
        )
    if event_time > now + MAX_FUTURE_SECONDS:
        return outcome(
            "rejected",
            "event_time is more than 1 hour in the future; the clock or the "
            "timestamp unit is wrong",
        )

    users = users_of_event()
    if not has_identity(users):
        return outcome(
            "rejected",
            "user_data has no email (em), no mobile ad id (hashed_maids) and not "
            "both client_ip_address and client_user_agent; Pinterest needs one "
            "of these (a phone number alone is not enough)",
        )

    pinterest: dict[str, Any] = {
        "event_name": name,
        "action_source": _action_source(event),
        "event_time": event_time,
        "event_id": event_id,
        "user_data": users,
    }
    reserved = event["properties"]["reserved"]
    if url := _text(reserved.get("url")):
        pinterest["event_source_url"] = url
    if language := _language(reserved.get("language")):
        pinterest["language"] = language
    if destination.partner_name:
        pinterest["partner_name"] = destination.partner_name
    custom = custom_data(event, name, destination.content_id)
    if destination.limited_data_processing:
        custom["opt_out_type"] = "LDP"
    if custom:
        pinterest["custom_data"] = custom

    if problem := contract_problem(pinterest):
        return outcome("rejected", problem)
    return Outcome(destination.name, "send", pinterest, None, event_id)


def event_id_of(event: ConvergeEvent) -> str:
    """Converge's event id, or one derived from the event's content.

    The derived id is a SHA-256 over the name, time, source and properties, so
    mapping the same event again (a redelivery) gives the same id and Pinterest
    can deduplicate it; the prefix shows it was not Converge's.
    """
    given = event.get("event_id")
    if given and given.strip():
        # Kept exactly as Converge has it: the browser tag sends the same text
        # and Pinterest deduplicates only on an exact match.
        return str(given)
    canonical = json.dumps(
        [
            event["event_name"],
            event["timestamp_ms"],
            event["source_id"],
            event["properties"],
        ],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return DERIVED_ID_PREFIX + digest[:32]


def _consent_block(event: ConvergeEvent, mode: str) -> str | None:
    consent = event.get("consent") or {}
    marketing = consent.get("marketing")
    if mode == "on" and marketing == "denied":
        return "marketing consent is denied and this destination respects it"
    if mode == "strict" and marketing != "granted":
        return (
            "marketing consent is not granted and this destination sends only "
            "with consent"
        )
    return None


def _action_source(event: ConvergeEvent) -> str:
    # Converge's default channel is web. App events stay web: Pinterest's app
    # sources need iOS or Android and app details that Converge does not carry.
    channel = (event["properties"]["reserved"].get("sales_channel_type") or "").strip()
    return "offline" if channel.lower() in OFFLINE_CHANNELS else "web"


def _language(value: str | None) -> str | None:
    if value is None:
        return None
    match = _LANGUAGE.match(value.strip().lower())
    return match.group(1) if match else None


def _text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    return value.strip()
