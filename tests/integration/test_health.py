"""The health endpoint tells people when Pinterest refuses a destination's token."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from consumer import config
from consumer.sandbox import SandboxClient
from consumer.service import Service

from .conftest import MAIN, cli


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_health_reports_refused_credentials_then_recovery(
    write_config: Callable[..., Path], sandbox_client: SandboxClient
) -> None:
    """While a token is refused the health body says so; once fixed it is ok."""
    path = write_config()
    port = _free_port()
    path.write_text(
        path.read_text("utf-8") + f"\n[service]\nhealth_port = {port}\n", "utf-8"
    )
    settings = config.load(path)
    assert cli("produce", "--config", str(path), "--generate", "40").returncode == 0
    sandbox_client.add_fault(refuse_token=MAIN["access_token"])
    service = Service(settings)
    runner = threading.Thread(target=service.run)
    runner.start()
    url = f"http://127.0.0.1:{port}/health"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "health never reported the refusal"
            try:
                body = httpx.get(url, timeout=2).json()
            except httpx.TransportError:
                body = {}
            if body.get("destinations", {}).get("main", {}).get("state") == (
                "credentials_refused"
            ):
                break
            time.sleep(0.2)
        assert body["status"] == "degraded"
        assert body["destinations"]["variants"]["state"] == "ok"
        assert body["unsettled_records"] > 0
        assert MAIN["access_token"] not in str(body)

        sandbox_client.clear_faults()
        deadline = time.monotonic() + 60
        while httpx.get(url, timeout=2).json()["status"] != "ok":
            assert time.monotonic() < deadline, "health never recovered"
            time.sleep(0.2)

        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert 'converge_pinterest_requests_total{destination="main",status="401"}' in (
            text
        )
        assert 'converge_pinterest_events_total{destination="variants",' in text
        assert "converge_pinterest_records_total 40.0" in text
        assert MAIN["access_token"] not in text
    finally:
        sandbox_client.clear_faults()
        service.request_stop()
        runner.join(60)
    assert not runner.is_alive()
    assert service.stats.destinations["main"].sent > 0
