"""The ``redrive`` command: deliver one destination's dead letters again.

It reads the dead-letter topic with a consumer group of its own
(``<group_id>.redrive.<destination>``), passes over dead letters of other
destinations, other stages and (when asked) other reasons, and sends the rest
through the same mapping and delivery as the service, so each event keeps its
``event_id``. Only dead letters that existed when it started are taken, so
events that fail again (and are dead-lettered again) wait for the next redrive.
"""

from __future__ import annotations

from dataclasses import replace

from confluent_kafka import Message

from consumer.config import Config, ConfigError
from consumer.dead_letters import read_headers
from consumer.kafka_admin import end_offsets, ensure_topic
from consumer.run_stats import RunStats
from consumer.service import Service

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

    def wanted(record: Message) -> bool:
        partition, offset = record.partition(), record.offset()
        if partition is None or offset is None or offset >= ends.get(partition, 0):
            return False
        headers = read_headers(record)
        if headers.get("destination") != destination:
            return False
        if headers.get("stage") not in REDRIVABLE_STAGES:
            return False
        if reason is None:
            return True
        said = f"{headers.get('reason', '')} {headers.get('pinterest_message', '')}"
        return reason.lower() in said.lower()

    return Service(settings, exit_when_idle=True, record_filter=wanted).run()
