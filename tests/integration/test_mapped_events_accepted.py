"""Whatever map decides to send, the sandbox accepts over HTTP with ?test=true."""

from __future__ import annotations

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
from tests.unit.test_mapping_properties import DESTINATIONS, ENVELOPES

TOKEN = "pina_test"


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
