"""Every handed case in tests/cases/mapping-cases.jsonl, run envelope → Avro → map."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from consumer import codec, envelope
from consumer.config import Destination
from consumer.mapping import map_event
from consumer.sandbox import contract

CASES_FILE = Path(__file__).resolve().parent.parent / "cases" / "mapping-cases.jsonl"
CASES = [
    json.loads(line)
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip()
]
_MISSING = object()


def _destination(settings: dict[str, Any]) -> Destination:
    options = dict(settings)
    if options.get("sources") is not None:
        options["sources"] = frozenset(options["sources"])
    return Destination(
        name="case", ad_account_id="549755885175", tag_id="2612345678901",
        access_token="pina_test", **options,
    )  # fmt: skip


def _resolve_timestamp(raw: dict[str, Any], now: float) -> dict[str, Any]:
    event = copy.deepcopy(raw)
    stamp = event.get("timestamp")
    if isinstance(stamp, dict) and "relative_seconds" in stamp:
        event["timestamp"] = int(now) + stamp["relative_seconds"]
    return event


def _lookup(event: Any, path: str) -> Any:
    node = event
    for part in path.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _check(event: dict[str, Any], path: str, expected: Any) -> None:
    actual = _lookup(event, path)
    if isinstance(expected, dict) and expected.get("absent") is True:
        assert actual is _MISSING, f"{path} should be absent, is {actual!r}"
        return
    assert actual is not _MISSING, f"{path} is missing"
    if isinstance(expected, dict) and "sha256_of" in expected:
        digest = hashlib.sha256(expected["sha256_of"].encode("utf-8")).hexdigest()
        assert actual == [digest], f"{path} is not the digest of the expected text"
    elif isinstance(expected, dict) and "float" in expected:
        assert isinstance(actual, str), f"{path} must be a string, is {actual!r}"
        assert Decimal(actual) == Decimal(str(expected["float"])), path
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
        assert type(actual) is type(expected), f"{path} has the wrong JSON type"


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_handed_case(case: dict[str, Any]) -> None:
    """The handed case's expectation holds for the event the service would send."""
    now = time.time()
    parsed = envelope.from_envelope(_resolve_timestamp(case["input"], now))
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
        _check(outcome.event, path, expected)
