"""The README tells the truth: its mapping example and its example configuration."""

from __future__ import annotations

import json
import re
from pathlib import Path

from consumer import config

from .conftest import cli

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(marker: str) -> str:
    match = re.search(
        rf"<!-- readme-map-example: {marker} -->\n```json\n(.*?)```", README, re.S
    )
    assert match, f"no {marker} block in README.md"
    return match.group(1)


def test_readme_map_example_is_what_map_prints(tmp_path: Path) -> None:
    """Running map on the README's example input prints the README's output."""
    (tmp_path / "in.jsonl").write_text(_block("input"), encoding="utf-8")
    (tmp_path / "config.toml").write_text(
        "[kafka]\nbootstrap_servers = '127.0.0.1:9'\ntopic = 't'\ngroup_id = 'g'\n"
        "[[destinations]]\nname = 'main-shop'\nad_account_id = '549755885175'\n"
        "tag_id = '2612345678901'\naccess_token = 'pina_example'\n",
        encoding="utf-8",
    )
    result = cli(
        "map", "--config", str(tmp_path / "config.toml"), str(tmp_path / "in.jsonl")
    )
    assert result.returncode == 0, result.stderr
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["outcome"] == "send"
    printed = row["event"]
    del printed["event_time"]  # the example has no timestamp: time of reading
    assert printed == json.loads(_block("output"))


def test_example_and_demo_configurations_load() -> None:
    """config/example.toml and config/demo.toml pass every configuration check."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
        "PINTEREST_TOKEN_MAIN": "pina_x",
        "DEMO_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
        "DEMO_PINTEREST_API_URL": "http://127.0.0.1:1/v5",
    }
    example = config.load(ROOT / "config" / "example.toml", environ=env)
    assert example.destinations[0].pinterest_event_name("Signed Up") == "signup"
    demo = config.load(ROOT / "config" / "demo.toml", environ=env)
    assert [d.name for d in demo.destinations] == ["shop-main", "shop-variants"]
