"""Avro encoding and decoding of Converge events as they sit in Kafka.

Values are schemaless Avro written with the bundled schema
(``schemas/converge_event.avsc``). A value in Confluent's wire format (a zero
byte and a four-byte schema id in front) is recognised and refused with a reason,
because resolving its schema needs a Schema Registry this service does not query.
"""

from __future__ import annotations

import io
import json
import struct
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import fastavro

ConvergeEvent = dict[str, Any]
"""A decoded event: the Avro record as a dict, every optional field present."""

SCHEMA_FILE = "converge_event.avsc"

_CONFLUENT_MAGIC = 0
_CONFLUENT_HEADER = 5


class DecodeError(ValueError):
    """A Kafka value that is not a Converge event this service can read."""


@cache
def schema() -> Any:
    """Return the parsed bundled schema (read once per process)."""
    repo_copy = Path(__file__).resolve().parent.parent / "schemas" / SCHEMA_FILE
    if repo_copy.is_file():
        text = repo_copy.read_text(encoding="utf-8")
    else:
        text = resources.files("consumer").joinpath(SCHEMA_FILE).read_text("utf-8")
    return fastavro.parse_schema(json.loads(text))


def encode(event: ConvergeEvent) -> bytes:
    """Encode an event as schemaless Avro with the bundled schema."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema(), event)
    return out.getvalue()


def decode(value: bytes | None) -> ConvergeEvent:
    """Decode one Kafka value, or raise DecodeError saying what is wrong with it."""
    if not value:
        raise DecodeError("empty value: a Converge event needs an Avro-encoded body")
    if value[0] == _CONFLUENT_MAGIC and len(value) >= _CONFLUENT_HEADER:
        # An event name is never empty, so schemaless Avro of our schema never
        # starts with a zero byte: a leading zero means Confluent framing.
        (schema_id,) = struct.unpack(">I", value[1:_CONFLUENT_HEADER])
        raise DecodeError(
            f"value is in Confluent wire format (schema id {schema_id}); this service "
            "reads schemaless Avro written with schemas/converge_event.avsc, as "
            "'converge-pinterest produce' writes it"
        )

    if value[:1] == b"{" and value.rstrip()[-1:] == b"}":
        # A common mistake: the JSON envelope produced straight to the topic.
        raise DecodeError(
            "value looks like JSON text, not Avro; produce events with "
            "'converge-pinterest produce', which encodes them"
        )
    buffer = io.BytesIO(value)
    try:
        event = fastavro.schemaless_reader(buffer, schema(), None)
    except Exception as exc:  # noqa: BLE001 - any reader failure means bad bytes
        raise DecodeError(
            f"not a Converge event in Avro ({type(exc).__name__}: {exc}); "
            "the value may be truncated or written with another schema"
        ) from None

    if buffer.tell() != len(value):
        raise DecodeError(
            f"{len(value) - buffer.tell()} bytes left over after the event: "
            "the value was written with another schema or is corrupt"
        )
    if not isinstance(event, dict) or not event["event_name"].strip():
        raise DecodeError("event_name is empty: the value is not a Converge event")
    return event
