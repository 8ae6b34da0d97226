"""Shared pytest fixtures: a real Kafka broker per session, unique topics and groups."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from consumer.kafka_admin import ensure_topic, wait_for_broker
from consumer.local_kafka import LocalKafka

# An external or containerised broker may still be electing its controller.
_EXTERNAL_BROKER_WAIT_S = 60.0


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        probe = subprocess.run(
            ["docker", "info"], capture_output=True, timeout=15, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap servers of a real broker: $KAFKA_BOOTSTRAP_SERVERS, Docker or local."""
    if external := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        wait_for_broker(external, _EXTERNAL_BROKER_WAIT_S)
        yield external
    elif os.environ.get("CONVERGE_TEST_DOCKER") == "1" and _docker_answers():
        # Optional dependency (the `docker` extra), so imported only when asked for.
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            bootstrap = container.get_bootstrap_server()
            wait_for_broker(bootstrap, _EXTERNAL_BROKER_WAIT_S)
            yield bootstrap
    else:
        with LocalKafka() as broker:
            yield broker.bootstrap_servers


@pytest.fixture
def make_topic(
    kafka_bootstrap: str, request: pytest.FixtureRequest
) -> Callable[..., str]:
    """Factory: ``make_topic(partitions=3)`` creates a fresh topic for this test."""

    def make(partitions: int = 3) -> str:
        slug = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80]
        name = f"test-{slug}-{uuid.uuid4().hex[:8]}"
        ensure_topic(kafka_bootstrap, name, partitions)
        return name

    return make


@pytest.fixture
def topic(make_topic: Callable[..., str]) -> str:
    """A fresh three-partition topic for this test."""
    return make_topic()


@pytest.fixture
def unique_group(request: pytest.FixtureRequest) -> str:
    """A consumer group id no other test uses."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", request.node.name)[:80]
    return f"test-{slug}-{uuid.uuid4().hex[:8]}"
