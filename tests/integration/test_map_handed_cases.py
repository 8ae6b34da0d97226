"""Every handed case through the ``map`` command, as a person would run it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.unit.case_support import CASES, check, resolve_timestamp

from .conftest import cli


@pytest.fixture(scope="module")
def mapped(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Run ``map`` once over all cases, one destination per case; rows by case."""
    folder = tmp_path_factory.mktemp("cases")
    lines = [
        "[kafka]",
        'bootstrap_servers = "127.0.0.1:9"',
        'topic = "unused"',
        'group_id = "unused"',
    ]
    for number, case in enumerate(CASES):
        lines += [
            "[[destinations]]",
            f"name = {json.dumps(case['name'])}",
            f'ad_account_id = "5497558{number:05d}"',
            'tag_id = "2612345678901"',
            'access_token = "pina_case"',
            *(f"{k} = {json.dumps(v)}" for k, v in case["destination"].items()),
        ]
    (folder / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    now = time.time()
    inputs = [resolve_timestamp(case["input"], now) for case in CASES]
    (folder / "cases.jsonl").write_text(
        "".join(json.dumps(i) + "\n" for i in inputs), encoding="utf-8"
    )

    result = cli(
        "map", "--config", str(folder / "config.toml"), str(folder / "cases.jsonl")
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # Each input line yields one row per destination; keep the case's own pair.
    by_case = {}
    for case, start in zip(CASES, range(0, len(rows), len(CASES)), strict=True):
        block = rows[start : start + len(CASES)]
        own = (r for r in block if r["destination"] == case["name"])
        by_case[case["name"]] = next(own)
    return by_case


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_map_command_meets_the_handed_case(
    case: dict[str, Any], mapped: dict[str, dict[str, Any]]
) -> None:
    """The map command's line for the case meets its expectation."""
    row = mapped[case["name"]]
    expect = case["expect"]
    if expect in ("rejected", "skipped"):
        assert row["outcome"] == expect
        assert len(row["reason"]) > 10
        return
    assert row["outcome"] == "send", row.get("reason")
    for path, expected in expect.items():
        check(row["event"], path, expected)
