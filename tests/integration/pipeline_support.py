"""Helpers of the pipeline tests: producing events, reading dead letters, offsets."""

from __future__ import annotations

import json
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from consumer import config
from consumer.kafka_admin import committed_offsets, end_offsets
from consumer.produce import produce


def dead_letters_of(settings: config.Config) -> list[Any]:
    """Every record of the dead-letter topic."""
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.dead_letter_topic)
    reader = Consumer(
        {"bootstrap.servers": kafka.bootstrap_servers, "group.id": "test-dlq-reader"}
    )
    reader.assign([TopicPartition(kafka.dead_letter_topic, p, 0) for p in ends])
    records = []
    while len(records) < sum(ends.values()):
        message = reader.poll(5)
        assert message is not None and message.error() is None
        records.append(message)
    reader.close()
    return records


def all_committed(settings: config.Config) -> bool:
    """Whether the group committed every non-empty partition up to its end."""
    kafka = settings.kafka
    ends = end_offsets(kafka.bootstrap_servers, kafka.topic)
    committed = committed_offsets(kafka.bootstrap_servers, kafka.group_id, kafka.topic)
    return all(committed[p] == end for p, end in ends.items() if end)


def write_events(settings: config.Config, events: list[dict[str, Any]]) -> None:
    """Produce envelope events through a file, as `produce` reads them."""
    assert settings.path is not None
    path = settings.path.with_name("events.jsonl")
    path.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    report = produce(settings, [str(path)])
    assert report.produced == len(events) and not report.invalid
