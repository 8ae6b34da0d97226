"""Log redaction: registered secrets, email addresses and credential-named keys,
for structlog calls and for lines from the standard logging module."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from consumer import logs

TOKEN = "pina_AbCdEf0123456789"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """JSON logs into a buffer; the secrets, root logger and structlog are restored."""
    saved_secrets = set(logs._secrets)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure(level="debug", json=True, stream=buffer)
    logs.register_secrets([TOKEN])
    try:
        yield buffer
    finally:
        logs._secrets.clear()
        logs._secrets.update(saved_secrets)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_redact_masks_registered_secret_and_email() -> None:
    """redact() replaces a registered secret and an email address in free text."""
    saved = set(logs._secrets)
    try:
        logs.register_secrets([TOKEN])
        text = logs.redact(f"Bearer {TOKEN} for first.last+tag@shop.example.co.uk")
    finally:
        logs._secrets.clear()
        logs._secrets.update(saved)
    assert text == "Bearer [redacted] for [email]"


def test_register_secrets_ignores_values_shorter_than_four() -> None:
    """Very short values are not registered, so common text is not masked."""
    saved = set(logs._secrets)
    try:
        logs.register_secrets(["", "ab", "xyz"])
        assert logs.redact("ab xyz") == "ab xyz"
    finally:
        logs._secrets.clear()
        logs._secrets.update(saved)


def test_structlog_line_scrubs_event_text_and_credential_keys(
    stream: io.StringIO,
) -> None:
    """Credential-named keys are replaced and text values are redacted."""
    structlog.get_logger("t").warning(
        f"posting with {TOKEN} for a@example.com",
        access_token="anything",
        Authorization="Bearer x",
        password="hunter2",
        client_secret="s",
        detail=f"token={TOKEN}",
        credentials_refused=True,
    )
    (line,) = lines(stream)
    assert line["event"] == "posting with [redacted] for [email]"
    for key in ("access_token", "Authorization", "password", "client_secret"):
        assert line[key] == "[redacted]"
    assert line["detail"] == "token=[redacted]"
    assert line["credentials_refused"] is True
    assert TOKEN not in stream.getvalue()


def test_stdlib_logging_line_is_scrubbed(stream: io.StringIO) -> None:
    """A librdkafka line through stdlib logging, with % arguments, is redacted."""
    logs.KAFKA_LOGGER.warning("sasl user %s token %s", "a@example.com", TOKEN)
    (line,) = lines(stream)
    assert line["event"] == "sasl user [email] token [redacted]"
    assert line["logger"] == "librdkafka"


def test_stdlib_exception_traceback_is_scrubbed(stream: io.StringIO) -> None:
    """The rendered traceback of a stdlib logger.exception is redacted too."""
    try:
        raise RuntimeError(f"refused {TOKEN} for a@example.com")
    except RuntimeError:
        logging.getLogger("httpx").exception("request failed")
    (line,) = lines(stream)
    assert "RuntimeError: refused [redacted] for [email]" in line["exception"]
    assert TOKEN not in stream.getvalue()


def test_structlog_exception_traceback_is_scrubbed(stream: io.StringIO) -> None:
    """A structlog exception() call renders a redacted traceback."""
    try:
        raise ValueError(TOKEN)
    except ValueError:
        structlog.get_logger().exception("boom")
    assert TOKEN not in stream.getvalue()
    assert "[redacted]" in lines(stream)[0]["exception"]


def test_console_renderer_is_scrubbed_too() -> None:
    """The human-readable renderer gets the same scrubbing as JSON."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved = set(logs._secrets)
    buffer = io.StringIO()
    try:
        logs.configure(json=False, stream=buffer)
        logs.register_secrets([TOKEN])
        structlog.get_logger().warning("hello a@example.com", note=TOKEN)
        logging.getLogger("x").warning("plain %s", TOKEN)
    finally:
        logs._secrets.clear()
        logs._secrets.update(saved)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        structlog.reset_defaults()
    text = buffer.getvalue()
    assert TOKEN not in text
    assert "a@example.com" not in text
    assert not text.lstrip().startswith("{")


def test_configure_chooses_json_for_a_non_terminal(stream: io.StringIO) -> None:
    """With json=None a stream that is not a terminal gets JSON lines."""
    logs.configure(stream=stream)
    structlog.get_logger().warning("x")
    assert json.loads(stream.getvalue().splitlines()[-1])["event"] == "x"


def test_level_filters_structlog_calls(stream: io.StringIO) -> None:
    """Below the configured level, structlog calls write nothing."""
    logs.configure(level="warning", json=True, stream=stream)
    structlog.get_logger().info("quiet")
    assert stream.getvalue() == ""


def test_secrets_inside_nested_values_are_scrubbed(stream: io.StringIO) -> None:
    """A registered token or an email nested in a dict or list never reaches the log."""
    structlog.get_logger().warning(
        "answer", body={"user": "a@example.com", "auth": TOKEN}, ids=[TOKEN]
    )
    text = stream.getvalue()
    assert TOKEN not in text
    assert "a@example.com" not in text


def test_secret_inside_a_non_text_value_is_scrubbed(stream: io.StringIO) -> None:
    """An exception object passed as a value is redacted like its text would be."""
    structlog.get_logger().warning("failed", error=RuntimeError(f"bad {TOKEN}"))
    assert TOKEN not in stream.getvalue()


def test_overlapping_secrets_leave_no_part_behind() -> None:
    """When one secret is a prefix of another, no part of the longer one remains."""
    saved = set(logs._secrets)
    # Forty pairs: the chance that set order happens to hide the bug is 2**-40.
    pairs = [(f"tok{i:03d}", f"tok{i:03d}-LONGTAIL{i:03d}") for i in range(40)]
    try:
        logs.register_secrets(value for pair in pairs for value in pair)
        text = logs.redact(" ".join(long for _, long in pairs))
    finally:
        logs._secrets.clear()
        logs._secrets.update(saved)
    assert "LONGTAIL" not in text
