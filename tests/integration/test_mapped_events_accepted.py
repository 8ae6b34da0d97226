"""Whatever map decides to send, the sandbox accepts over HTTP with ?test=true."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from consumer import codec, envelope
from consumer.config import Destination
from consumer.mapping import map_event
from consumer.sandbox import Sandbox
from tests.unit.envelope_strategies import DESTINATIONS, ENVELOPES

TOKEN = "pina_test"


def _identified(raw: dict[str, Any]) -> dict[str, Any]:
    """The same messy event, but fresh, for every source and with an identity."""
    raw = {k: v for k, v in raw.items() if k not in ("timestamp", "consent")}
    profile = raw.get("profile_properties")
    raw["profile_properties"] = {
        **(profile if isinstance(profile, dict) else {}),
        "$email": "jane@example.com",
        "$ip": "203.0.113.7",
        "$user_agent": "Mozilla/5.0",
    }
    raw["source_id"] = "shop-1"
    return raw


# Most arbitrary events are rejected or skipped; these mostly get sent, so the
# HTTP check sees many messy events that made it through the mapping.
SENDABLE = ENVELOPES.map(_identified)
SENDING = DESTINATIONS.map(
    lambda d: dataclasses.replace(d, consent_mode="off", custom_events=True)
)


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    """An HTTP client bound to one sandbox for the whole module."""
    sandbox = Sandbox(log_requests=False, accounts={"549755885175": TOKEN})
    with (
        sandbox.start(),
        httpx.Client(
            base_url=sandbox.url, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as http,
    ):
        yield http


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=ENVELOPES, destination=DESTINATIONS)
def test_every_sent_event_is_accepted_by_the_sandbox_in_test_mode(
    client: httpx.Client, raw: dict[str, Any], destination: Destination
) -> None:
    """A send outcome passes the sandbox's checks; other outcomes give a reason."""
    _check(client, raw, destination)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=SENDABLE, destination=SENDING)
def test_messy_events_with_an_identity_are_accepted_by_the_sandbox(
    client: httpx.Client, raw: dict[str, Any], destination: Destination
) -> None:
    """Messy but identified fresh events that map to send are accepted over HTTP."""
    _check(client, raw, destination)


def _check(client: httpx.Client, raw: dict[str, Any], destination: Destination) -> None:
    now = time.time()
    try:
        parsed = envelope.from_envelope(raw, now_ms=int(now * 1000))
    except envelope.EnvelopeError as error:
        assert str(error)
        return
    outcome = map_event(codec.decode(codec.encode(parsed)), destination, now)
    if outcome.kind != "send":
        assert outcome.reason
        return
    response = client.post(
        "/ad_accounts/549755885175/events",
        params={"test": "true"},
        json={"data": [outcome.event]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["num_events_processed"] == 1
