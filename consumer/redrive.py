"""The ``redrive`` command: deliver one destination's dead letters again.

It reads the dead-letter topic with a consumer group of its own
(``<group_id>.redrive.<destination>``), passes over dead letters of other
destinations and stages, and sends the rest through the same mapping and
delivery as the service, so each event keeps its ``event_id``. Only dead
letters that existed when it started are taken, so events that fail again (and
are dead-lettered again) wait for the next redrive.

A redrive filtered by reason must not move that group past the dead letters it
passes over, so it runs as a one-off group that starts where the redrive group
stands and is deleted afterwards. A later unfiltered redrive sends what the
filtered one sent once more, with the same ``event_id``s, which Pinterest
deduplicates.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import structlog
from confluent_kafka import (
    Message,
)

from consumer.config import Config, ConfigError
from consumer.dead_letters import read_headers
from consumer.kafka_admin import (
    KafkaAdminError,
    committed_offsets,
    delete_group,
    end_offsets,
    ensure_topic,
    set_committed_offsets,
)
from consumer.run_stats import RunStats
from consumer.service import Service

log = structlog.get_logger("consumer.redrive")

REDRIVABLE_STAGES = ("deliver", "map")


def redrive_config(config: Config, destination: str) -> Config:
    """The configuration of a redrive run for one destination."""
    chosen = [d for d in config.destinations if d.name == destination]
    if not chosen:
        names = ", ".join(d.name for d in config.destinations)
        raise ConfigError(
            f"--destination {destination!r} is not configured; use {names}"
        )
    kafka = replace(
        config.kafka,
        topic=config.kafka.dead_letter_topic,
        group_id=f"{config.kafka.group_id}.redrive.{destination}",
    )
    return replace(config, kafka=kafka, destinations=tuple(chosen))


def redrive(config: Config, destination: str, reason: str | None = None) -> RunStats:
    """Deliver the destination's dead letters again; return what happened."""
    settings = redrive_config(config, destination)
    kafka = settings.kafka
    ensure_topic(kafka.bootstrap_servers, kafka.topic, extra=kafka.producer)
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic, extra=kafka.consumer)
    if reason is not None:
        one_off = f"{kafka.group_id}.filtered.{uuid.uuid4().hex[:12]}"
        _start_where(settings, kafka.group_id, one_off)
        settings = replace(settings, kafka=replace(kafka, group_id=one_off))

    def wanted(record: Message) -> bool:
        headers = read_headers(record)
        if headers.get("destination") != destination:
            return False
        if headers.get("stage") not in REDRIVABLE_STAGES:
            return False
        if reason is None:
            return True
        said = f"{headers.get('reason', '')} {headers.get('pinterest_message', '')}"
        return reason.lower() in said.lower()

    try:
        return Service(
            settings, exit_when_idle=True, record_filter=wanted, stop_at=ends
        ).run()
    finally:
        if reason is not None:
            _delete_group(settings)


def _start_where(settings: Config, group: str, one_off: str) -> None:
    """Commit the redrive group's offsets for the one-off group."""
    kafka = settings.kafka
    committed = committed_offsets(
        kafka.bootstrap_servers, group, kafka.topic, extra=kafka.consumer
    )
    offsets = {p: o for p, o in committed.items() if o is not None}
    if offsets:  # else the one-off group starts at the beginning, like a first run
        set_committed_offsets(
            kafka.bootstrap_servers, one_off, kafka.topic, offsets, extra=kafka.consumer
        )


def _delete_group(settings: Config) -> None:
    kafka = settings.kafka
    try:
        delete_group(kafka.bootstrap_servers, kafka.group_id, extra=kafka.consumer)
    except KafkaAdminError as exc:
        # Harmless: an empty group expires on its own.
        log.warning("one-off redrive group not deleted", error=str(exc))
