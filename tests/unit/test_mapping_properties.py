"""Property test: any envelope event either fails parsing or maps to a sound Outcome."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from consumer import codec, envelope
from consumer.config import Destination
from consumer.mapping import map_event
from consumer.mapping_check import contract_problem
from consumer.sandbox import contract
from tests.unit.envelope_strategies import DESTINATIONS, ENVELOPES, NOW


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=ENVELOPES, destination=DESTINATIONS)
def test_any_event_parses_to_an_error_or_maps_to_a_sound_outcome(
    raw: dict[str, Any], destination: Destination
) -> None:
    """Messy input fails parsing, or sends a schema-valid event, or says why not."""
    try:
        parsed = envelope.from_envelope(raw, now_ms=NOW * 1000)
    except envelope.EnvelopeError as error:
        assert str(error)
        return
    event = codec.decode(codec.encode(parsed))
    outcome = map_event(event, destination, NOW)
    assert outcome.destination == "prop"
    assert isinstance(outcome.event_id, str)
    assert outcome.event_id.strip()
    if outcome.kind == "send":
        assert outcome.reason is None
        assert outcome.event is not None
        assert contract_problem(outcome.event) is None
        assert contract.validation_error({"data": [outcome.event]}) is None
        assert contract.check_event_time(outcome.event["event_time"], NOW) is None
    else:
        assert outcome.kind in ("rejected", "skipped")
        assert outcome.event is None
        assert outcome.reason
        assert outcome.reason.strip()
    assert map_event(event, destination, NOW) == outcome
