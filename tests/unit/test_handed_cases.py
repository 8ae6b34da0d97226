"""Every handed case in tests/cases/mapping-cases.jsonl, run envelope → Avro → map."""

from __future__ import annotations

import time
from typing import Any

import pytest

from consumer import codec, envelope
from consumer.config import Destination
from consumer.mapping import map_event
from consumer.sandbox import contract
from tests.unit.case_support import CASES, check, resolve_timestamp


def _destination(settings: dict[str, Any]) -> Destination:
    options = dict(settings)
    if options.get("sources") is not None:
        options["sources"] = frozenset(options["sources"])
    return Destination(
        name="case", ad_account_id="549755885175", tag_id="2612345678901",
        access_token="pina_test", **options,
    )  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_handed_case(case: dict[str, Any]) -> None:
    """The handed case's expectation holds for the event the service would send."""
    now = time.time()
    parsed = envelope.from_envelope(resolve_timestamp(case["input"], now))
    event = codec.decode(codec.encode(parsed))
    outcome = map_event(event, _destination(case["destination"]), now)
    expect = case["expect"]
    if expect in ("rejected", "skipped"):
        assert outcome.kind == expect, outcome
        assert outcome.event is None
        assert outcome.reason and len(outcome.reason.split()) >= 3
        return
    assert outcome.kind == "send", outcome.reason
    assert outcome.event is not None
    assert contract.validation_error({"data": [outcome.event]}) is None
    for path, expected in expect.items():
        check(outcome.event, path, expected)
