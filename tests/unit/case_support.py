"""The handed cases in tests/cases/mapping-cases.jsonl and how to check them."""

from __future__ import annotations

import copy
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).resolve().parent.parent / "cases" / "mapping-cases.jsonl"
CASES = [
    json.loads(line)
    for line in CASES_FILE.read_text(encoding="utf-8").splitlines()
    if line.strip()
]
_MISSING = object()


def resolve_timestamp(raw: dict[str, Any], now: float) -> dict[str, Any]:
    """The case's input with a relative timestamp made absolute."""
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


def check(event: dict[str, Any], path: str, expected: Any) -> None:
    """Assert one expectation (dotted path, absent, sha256_of, float) of a case."""
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
