"""Prometheus metrics of one service instance, served at ``/metrics``.

Each Service has its own registry, so several services in one process (tests,
benchmarks) do not share counters. Counters follow the flow: records read,
events per destination and outcome, dead letters per stage, Pinterest requests
per status and their duration; gauges show what is buffered and unsettled.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The service's counters and gauges in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "converge_pinterest_records",
            "Kafka records read from the events topic.",
            registry=self.registry,
        )
        self.events = Counter(
            "converge_pinterest_events",
            "Events per destination by outcome: sent, dead_lettered, rejected, "
            "skipped.",
            ["destination", "outcome"],
            registry=self.registry,
        )
        self.dead_letters = Counter(
            "converge_pinterest_dead_letters",
            "Dead letters written, by stage: decode, map, deliver.",
            ["stage"],
            registry=self.registry,
        )
        self.requests = Counter(
            "converge_pinterest_requests",
            "Requests to Pinterest by HTTP status ('error' for no answer).",
            ["destination", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "converge_pinterest_request_seconds",
            "Duration of one request to Pinterest.",
            ["destination"],
            registry=self.registry,
        )
        self.buffered_events = Gauge(
            "converge_pinterest_buffered_events",
            "Events batched or in flight, not yet answered.",
            registry=self.registry,
        )
        self.unsettled_records = Gauge(
            "converge_pinterest_unsettled_records",
            "Records read whose pieces are not all settled (they hold commits).",
            registry=self.registry,
        )
        self.paused = Gauge(
            "converge_pinterest_paused",
            "1 while fetching is paused because too much is buffered.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return bytes(generate_latest(self.registry))
