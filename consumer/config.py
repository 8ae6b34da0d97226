"""The service's TOML configuration: loading, ``${NAME}`` substitution and checks.

Every problem is a ConfigError whose message names the key, the value found and
what is allowed, so the command can stop at start with exit status 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from consumer.config_values import (
    ConfigError,
    boolean,
    duration,
    no_unknown,
    number,
    settings,
    substitute,
    table,
    text,
)
from consumer.event_names import PINTEREST_EVENT_NAMES, SEED_EVENTS

__all__ = ["Config", "ConfigError", "Destination", "load", "parse"]

DEFAULT_API_URL = "https://api.pinterest.com/v5"
CONTENT_ID_MODES = ("product_id", "variant_id", "sku")
MAX_BATCH_SIZE = 1000  # Pinterest takes 1 to 1000 events per request.

# librdkafka settings that would let offsets be committed before delivery.
_SERVICE_OWNED = ("enable.auto.commit", "enable.auto.offset.store")
_AD_ACCOUNT_ID = re.compile(r"^\d{1,18}$")


@dataclass(frozen=True)
class Destination:
    """One Pinterest ad account (with its tag and token) that receives events."""

    name: str
    ad_account_id: str
    tag_id: str
    access_token: str = field(repr=False)
    content_id: str = "product_id"
    sources: frozenset[str] | None = None
    custom_events: bool = False
    events: dict[str, str | None] = field(default_factory=dict)
    partner_name: str | None = None
    consent_mode: str = "off"
    limited_data_processing: bool = False
    # None retries forever; set from the destination's retry_for, else delivery's.
    retry_for_seconds: float | None = 600.0

    CONSENT_MODES: ClassVar[tuple[str, ...]] = ("off", "on", "strict")

    def pinterest_event_name(self, converge_name: str) -> str | None:
        """The Pinterest name this destination sends for a Converge event, if any."""
        if converge_name in self.events:
            return self.events[converge_name]
        if converge_name in SEED_EVENTS:
            return SEED_EVENTS[converge_name]
        return "custom" if self.custom_events else None

    def receives_source(self, source_id: str | None) -> bool:
        """Whether events of this Converge source are meant for this destination."""
        return self.sources is None or source_id in self.sources


@dataclass(frozen=True)
class KafkaSettings:
    """Where the events are read from and how the consumer group is named."""

    bootstrap_servers: str
    topic: str
    group_id: str
    dead_letter_topic: str = ""
    consumer: dict[str, str] = field(default_factory=dict)
    producer: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PinterestSettings:
    """Where batches are posted."""

    api_url: str = DEFAULT_API_URL
    test_mode: bool = False
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class DeliverySettings:
    """Batching, concurrency and commit cadence of the service loop."""

    batch_size: int = MAX_BATCH_SIZE
    # Half a second keeps a trickle of events near real time for Pinterest's
    # reporting while still filling batches when traffic is high.
    linger_ms: int = 500
    max_in_flight: int = 2
    # Upper bound on mapped events held in memory; above it partitions pause.
    max_buffered_events: int = 20_000
    # The same for one destination, so one that is down cannot take the whole
    # budget while the others still deliver.
    max_buffered_per_destination: int = 10_000
    # Committing once a second bounds re-delivery after a crash to about a
    # second of settled work without a broker round trip per batch.
    commit_interval_ms: int = 1000
    retry_initial_ms: int = 500
    retry_max_ms: int = 30_000
    # How long a batch is retried before its events become dead letters; ten
    # minutes rides out brief outages and deploys, None retries forever.
    retry_for_seconds: float | None = 600.0


@dataclass(frozen=True)
class ServiceSettings:
    """Operational endpoints of the running service."""

    # 0 turns the health endpoint off; loopback by default so nothing is
    # exposed unless asked for.
    health_port: int = 0
    health_host: str = "127.0.0.1"
    # How long a stop may wait for requests already on the wire; under the
    # 30 s that orchestrators such as Kubernetes grant before killing.
    shutdown_seconds: float = 20.0


@dataclass(frozen=True)
class Config:
    """The whole configuration of one service instance."""

    kafka: KafkaSettings
    pinterest: PinterestSettings
    delivery: DeliverySettings
    destinations: tuple[Destination, ...]
    service: ServiceSettings = field(default_factory=ServiceSettings)
    path: Path | None = None


def load(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    """Read, substitute and check a configuration file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not UTF-8 text; save it as UTF-8, as TOML requires"
        ) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    env = dict(os.environ) if environ is None else environ
    return parse(substitute(raw, env, ""), path)


def parse(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Check an already-read configuration mapping."""
    no_unknown("", raw, {"kafka", "pinterest", "delivery", "destinations", "service"})
    destinations = raw.get("destinations", [])
    if not isinstance(destinations, list) or not destinations:
        raise ConfigError(
            "destinations: at least one [[destinations]] table is needed "
            "(name, ad_account_id, tag_id, access_token)"
        )
    delivery = _delivery(table("delivery", raw.get("delivery", {})))
    parsed = tuple(
        _destination(i, d, delivery.retry_for_seconds)
        for i, d in enumerate(destinations)
    )
    names = [d.name for d in parsed]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"destinations.name: {name!r} is used twice")
    return Config(
        kafka=_kafka(table("kafka", raw.get("kafka"))),
        pinterest=_pinterest(table("pinterest", raw.get("pinterest", {}))),
        delivery=delivery,
        destinations=parsed,
        service=_service(table("service", raw.get("service", {}))),
        path=path,
    )


def _service(raw: dict[str, Any]) -> ServiceSettings:
    no_unknown("service", raw, {"health_port", "health_host", "shutdown_seconds"})
    port = number("service.health_port", raw, 0, 0, 65535)
    if not float(port).is_integer():
        raise ConfigError(f"service.health_port: {port} must be a whole number")
    return ServiceSettings(
        health_port=int(port),
        health_host=text("service.health_host", raw, default="127.0.0.1"),
        shutdown_seconds=number("service.shutdown_seconds", raw, 20.0, 1, 3600),
    )


def _kafka(raw: dict[str, Any]) -> KafkaSettings:
    allowed = {"bootstrap_servers", "topic", "group_id", "dead_letter_topic"}
    no_unknown("kafka", raw, allowed | {"consumer", "producer"})
    topic = text("kafka.topic", raw, required=True)
    dead_letters = text("kafka.dead_letter_topic", raw, default=f"{topic}.dead-letters")
    if dead_letters == topic:
        raise ConfigError(
            f"kafka.dead_letter_topic: {dead_letters!r} is the events topic itself; "
            "dead letters need a topic of their own"
        )
    consumer = settings("kafka.consumer", raw.get("consumer", {}))
    for key in _SERVICE_OWNED:
        if consumer.get(key, "false").lower() != "false":
            raise ConfigError(
                f"kafka.consumer.{key}: {consumer[key]!r} is not allowed; the service "
                "commits offsets itself, only after Pinterest accepted the events"
            )
    return KafkaSettings(
        bootstrap_servers=text("kafka.bootstrap_servers", raw, required=True),
        topic=topic,
        group_id=text("kafka.group_id", raw, required=True),
        dead_letter_topic=dead_letters,
        consumer=consumer,
        producer=settings("kafka.producer", raw.get("producer", {})),
    )


def _pinterest(raw: dict[str, Any]) -> PinterestSettings:
    no_unknown("pinterest", raw, {"api_url", "test_mode", "timeout_seconds"})
    api_url = text("pinterest.api_url", raw, default=DEFAULT_API_URL).rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        raise ConfigError(
            f"pinterest.api_url: {api_url!r} is not an http(s) URL; "
            f"the default is {DEFAULT_API_URL}"
        )
    return PinterestSettings(
        api_url=api_url,
        test_mode=boolean("pinterest.test_mode", raw, default=False),
        timeout_seconds=number("pinterest.timeout_seconds", raw, 30.0, 1, 600),
    )


def _delivery(raw: dict[str, Any]) -> DeliverySettings:
    defaults = DeliverySettings()
    limits = {
        "batch_size": (1, MAX_BATCH_SIZE),
        "linger_ms": (0, 60_000),
        "max_in_flight": (1, 64),
        "max_buffered_events": (1000, 10_000_000),
        "max_buffered_per_destination": (1000, 10_000_000),
        "commit_interval_ms": (100, 60_000),
        "retry_initial_ms": (10, 60_000),
        "retry_max_ms": (100, 3_600_000),
    }
    no_unknown("delivery", raw, {*limits, "retry_for"})
    values: dict[str, Any] = {
        key: int(number(f"delivery.{key}", raw, getattr(defaults, key), low, high))
        for key, (low, high) in limits.items()
    }
    for key, (low, high) in limits.items():
        if key in raw and not isinstance(raw[key], int):
            raise ConfigError(
                f"delivery.{key}: {raw[key]!r} must be written as a whole number "
                f"(no decimal point) from {low} to {high}"
            )
    if values["retry_initial_ms"] > values["retry_max_ms"]:
        raise ConfigError(
            f"delivery.retry_initial_ms: {values['retry_initial_ms']} is above "
            f"delivery.retry_max_ms ({values['retry_max_ms']}); the first wait "
            "cannot be longer than the longest"
        )
    values["retry_for_seconds"] = duration(
        "delivery.retry_for", raw, defaults.retry_for_seconds
    )
    return DeliverySettings(**values)


def _destination(index: int, raw: Any, retry_for: float | None) -> Destination:
    where = f"destinations[{index}]"
    raw = table(where, raw)
    allowed = {
        "name",
        "ad_account_id",
        "tag_id",
        "access_token",
        "content_id",
        "sources",
        "custom_events",
        "events",
        "partner_name",
        "consent_mode",
        "limited_data_processing",
        "retry_for",
    }
    no_unknown(where, raw, allowed)
    name = text(f"{where}.name", raw, required=True)
    where = f"destinations.{name}"
    ad_account_id = text(f"{where}.ad_account_id", raw, required=True, numbers=True)
    if not _AD_ACCOUNT_ID.match(ad_account_id):
        raise ConfigError(
            f"{where}.ad_account_id: {ad_account_id!r} must be digits only (at most "
            "18), as in the Ads Manager URL"
        )
    content_id = text(f"{where}.content_id", raw, default="product_id")
    if content_id not in CONTENT_ID_MODES:
        raise ConfigError(
            f"{where}.content_id: {content_id!r} is not allowed; use one of "
            f"{', '.join(CONTENT_ID_MODES)}"
        )
    sources = raw.get("sources")
    if sources is not None and (
        not isinstance(sources, list) or not all(isinstance(s, str) for s in sources)
    ):
        raise ConfigError(f"{where}.sources: {sources!r} must be a list of source ids")
    # Pinterest asks third-party senders to name themselves "ss-<name>", lowercase.
    partner_name = text(f"{where}.partner_name", raw) or None
    if partner_name is not None and not re.match(r"^ss-[a-z0-9_-]+$", partner_name):
        raise ConfigError(
            f"{where}.partner_name: {partner_name!r} is not allowed; use 'ss-' "
            "followed by lowercase letters, digits, '_' or '-', such as ss-converge"
        )
    # Converge's consent modes: off sends everything, on holds events whose
    # marketing consent is denied, strict sends only with consent granted.
    consent_mode = text(f"{where}.consent_mode", raw, default="off")
    if consent_mode not in Destination.CONSENT_MODES:
        raise ConfigError(
            f"{where}.consent_mode: {consent_mode!r} is not allowed; use one of "
            f"{', '.join(Destination.CONSENT_MODES)}"
        )
    return Destination(
        name=name,
        ad_account_id=ad_account_id,
        tag_id=text(f"{where}.tag_id", raw, required=True, numbers=True),
        access_token=text(f"{where}.access_token", raw, required=True),
        content_id=content_id,
        sources=None if sources is None else frozenset(sources),
        custom_events=boolean(f"{where}.custom_events", raw, default=False),
        events=_events(f"{where}.events", raw.get("events", {})),
        partner_name=partner_name,
        consent_mode=consent_mode,
        retry_for_seconds=duration(f"{where}.retry_for", raw, retry_for),
        limited_data_processing=boolean(
            f"{where}.limited_data_processing", raw, default=False
        ),
    )


def _events(where: str, raw: Any) -> dict[str, str | None]:
    events: dict[str, str | None] = {}
    for converge_name, pinterest_name in table(where, raw).items():
        if pinterest_name is False:
            events[converge_name] = None  # turns a default row off
            continue
        if not isinstance(pinterest_name, str) or (
            pinterest_name not in PINTEREST_EVENT_NAMES
        ):
            raise ConfigError(
                f"{where}.{converge_name!r}: {pinterest_name!r} is not a Pinterest "
                f"event name; use one of {', '.join(sorted(PINTEREST_EVENT_NAMES))}, "
                "or false to send nothing for it"
            )
        events[converge_name] = pinterest_name
    return events
