"""Structured logging: JSON lines for machines, readable lines on a terminal.

Two guards keep secrets and personal data out of every line: values of keys
that name credentials are replaced, and any text that contains a registered
secret (the configured access tokens) or looks like an email address is
masked before it is rendered.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_KEYS = re.compile(r"token|authorization|password|secret", re.IGNORECASE)
_EMAIL = re.compile(r"[^\s@'\"<>(),;:]+@[^\s@'\"<>(),;:]+\.[A-Za-z]{2,}")
_secrets: set[str] = set()


KAFKA_LOGGER = logging.getLogger("librdkafka")
"""Pass as librdkafka's ``logger`` setting so its lines become structured logs."""


def register_secrets(values: Iterable[str]) -> None:
    """Remember values that must never appear in a log line."""
    _secrets.update(v for v in values if len(v) >= 4)


def redact(text: str) -> str:
    """Mask registered secrets and email addresses in a piece of text."""
    # Longest first, so a secret that starts another one cannot leave its tail.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return _EMAIL.sub("[email]", text)


def _clean(key: str, value: Any) -> Any:
    """A log value with credentials and personal data masked, however nested."""
    if _SECRET_KEYS.search(key) and key != "credentials_refused":
        return "[redacted]"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(key, v) for v in value]
    # Anything else (an exception, say) is rendered as its text, then masked.
    return redact(str(value))


def _scrub(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in list(event.items()):
        event[key] = _clean(key, value)
    return event


class _Repeats(logging.Filter):
    """Lets the same library message through once per interval.

    librdkafka reports every failed reconnect; while a broker is down that is
    hundreds of identical lines, delivered in bursts at the next poll.
    """

    # One line per distinct message every ten seconds still shows an outage
    # as it goes on, without drowning the service's own lines.
    INTERVAL_S = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.getMessage()}"
        now = time.monotonic()
        if now - self._last.get(key, -self.INTERVAL_S) < self.INTERVAL_S:
            return False
        if len(self._last) > 1000:  # bounded: old keys are of no use
            self._last.clear()
        self._last[key] = now
        return True


def configure(
    level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Set up structlog for the process; JSON unless the stream is a terminal."""
    stream = sys.stderr if stream is None else stream
    if json is None:
        json = not stream.isatty()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _scrub,
    ]
    # librdkafka and other libraries log through the standard library; render
    # their lines the same way, with the same scrubbing.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    handler.addFilter(_Repeats())
    root = logging.getLogger()
    root.handlers = [handler]
    # Libraries speak up only from warnings on, unless debugging was asked for.
    root.setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
