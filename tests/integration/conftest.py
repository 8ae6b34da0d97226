"""Pipeline test fixtures: a sandbox per test and configurations pointing at it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consumer import config
from consumer.sandbox import Sandbox, SandboxClient

MAIN = {"name": "main", "ad_account_id": "549755810001", "access_token": "pina_main"}
VARIANTS = {
    "name": "variants",
    "ad_account_id": "549755810002",
    "access_token": "pina_variants",
    "content_id": "variant_id",
    "sources": ["web-shop"],
    "custom_events": True,
}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh Pinterest sandbox on a free loopback port."""
    with Sandbox(log_requests=False) as running:
        yield running


@pytest.fixture
def sandbox_client(sandbox: Sandbox) -> Iterator[SandboxClient]:
    """The sandbox's admin API over HTTP."""
    with SandboxClient(sandbox.url) as client:
        yield client


@pytest.fixture
def write_config(
    kafka_bootstrap: str,
    topic: str,
    unique_group: str,
    sandbox: Sandbox,
    tmp_path: Path,
) -> Callable[..., Path]:
    """Factory writing a TOML config for this test's topic, group and sandbox."""

    def write(
        destinations: list[dict[str, Any]] | None = None, **delivery: int
    ) -> Path:
        destinations = destinations or [MAIN, VARIANTS]
        settings = {
            # Fast retries and short lingers keep the tests quick; the defaults
            # are for production traffic.
            "linger_ms": 100,
            "retry_initial_ms": 50,
            "retry_max_ms": 400,
            "commit_interval_ms": 200,
            **delivery,
        }
        lines = [
            "[kafka]",
            f"bootstrap_servers = {json.dumps(kafka_bootstrap)}",
            f"topic = {json.dumps(topic)}",
            f"group_id = {json.dumps(unique_group)}",
            "[pinterest]",
            f"api_url = {json.dumps(sandbox.url)}",
            "[delivery]",
            *(f"{key} = {value}" for key, value in settings.items()),
        ]
        for destination in destinations:
            lines.append("[[destinations]]")
            lines.append('tag_id = "2612345678901"')
            lines.extend(f"{k} = {json.dumps(v)}" for k, v in destination.items())
            sandbox.state.add_account(
                destination["ad_account_id"], destination["access_token"]
            )
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    return write


@pytest.fixture
def load_config(write_config: Callable[..., Path]) -> Callable[..., config.Config]:
    """Factory: write a config for this test and load it."""

    def load(*args: Any, **kwargs: Any) -> config.Config:
        return config.load(write_config(*args, **kwargs))

    return load


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m consumer`` with arguments, capturing its output."""
    return subprocess.run(
        [sys.executable, "-m", "consumer", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
