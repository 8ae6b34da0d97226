"""TOML configuration: loading, ${NAME} substitution and checks that explain."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumer.config import DEFAULT_API_URL, Config, ConfigError, load

BASE = """
[kafka]
bootstrap_servers = "127.0.0.1:9092"
topic = "events"
group_id = "pinterest"

[[destinations]]
name = "main"
ad_account_id = "549755810001"
tag_id = "2612345678901"
access_token = "pina_secret"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load(write(tmp_path, text), environ={} if env is None else env)


def error_of(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text, env)
    return str(info.value)


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    """Only kafka and one destination are needed; everything else has a default."""
    config = load_text(tmp_path, BASE)
    assert config.pinterest.api_url == DEFAULT_API_URL
    assert config.pinterest.test_mode is False
    assert config.delivery.batch_size == 1000
    (main,) = config.destinations
    assert main.name == "main"
    assert main.content_id == "product_id"
    assert main.consent_mode == "off"
    assert main.sources is None
    assert config.path == tmp_path / "config.toml"


def test_access_token_is_not_in_the_destination_repr(tmp_path: Path) -> None:
    """The token never shows up when a destination is printed or logged."""
    (main,) = load_text(tmp_path, BASE).destinations
    assert "pina_secret" not in repr(main)


def test_environment_reference_is_substituted(tmp_path: Path) -> None:
    """${NAME} inside a string is replaced from the given environment."""
    text = BASE.replace('"pina_secret"', '"pina_${TOKEN}_x"')
    (main,) = load_text(tmp_path, text, {"TOKEN": "abc"}).destinations
    assert main.access_token == "pina_abc_x"


def test_substituted_value_is_not_substituted_again(tmp_path: Path) -> None:
    """An environment value that itself looks like ${X} is taken literally."""
    text = BASE.replace('"pina_secret"', '"${TOKEN}"')
    env = {"TOKEN": "${OTHER}", "OTHER": "leak"}
    (main,) = load_text(tmp_path, text, env).destinations
    assert main.access_token == "${OTHER}"


def test_missing_environment_variable_names_variable_and_key(tmp_path: Path) -> None:
    """An unset variable is a ConfigError naming it and where it is used."""
    text = BASE.replace('"pina_secret"', '"${PINTEREST_TOKEN}"')
    message = error_of(tmp_path, text)
    assert "PINTEREST_TOKEN" in message
    assert "access_token" in message


def test_load_does_not_read_os_environ_when_environ_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explicit environ replaces the process environment entirely."""
    monkeypatch.setenv("ONLY_IN_OS", "x")
    text = BASE.replace('"pina_secret"', '"${ONLY_IN_OS}"')
    assert "ONLY_IN_OS" in error_of(tmp_path, text, {})


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    """A missing file is reported with its path, not as an OSError."""
    with pytest.raises(ConfigError, match="cannot read config file"):
        load(tmp_path / "absent.toml", environ={})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    """A TOML syntax error is reported as a ConfigError naming the file."""
    message = error_of(tmp_path, "[kafka\n")
    assert "not valid TOML" in message


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    """A file in another encoding is a ConfigError, so the command exits with 2."""
    path = tmp_path / "config.toml"
    path.write_bytes((BASE + "# café\n").encode("latin-1"))
    with pytest.raises(ConfigError):
        load(path, environ={})


def test_unknown_top_level_key_lists_allowed_keys(tmp_path: Path) -> None:
    """A misspelt section is named together with the sections allowed."""
    message = error_of(tmp_path, BASE + "\n[pintrest]\napi_url = 'x'\n")
    assert "pintrest" in message
    assert "pinterest" in message
    assert "delivery" in message


def test_unknown_destination_key_is_named(tmp_path: Path) -> None:
    """A misspelt destination key is named with the keys that are allowed."""
    message = error_of(tmp_path, BASE + 'acess_token = "x"\n')
    assert "acess_token" in message
    assert "access_token" in message


def test_missing_destinations_explains_what_is_needed(tmp_path: Path) -> None:
    """Without [[destinations]] the message says which keys one needs."""
    message = error_of(tmp_path, BASE.split("[[destinations]]", maxsplit=1)[0])
    assert "destinations" in message
    assert "ad_account_id" in message


def test_missing_kafka_section_is_reported(tmp_path: Path) -> None:
    """A config without [kafka] names the missing section."""
    text = BASE.split("[[destinations]]")[1]
    assert "[kafka] is missing" in error_of(tmp_path, "[[destinations]]" + text)


def test_required_key_missing_is_named(tmp_path: Path) -> None:
    """A destination without tag_id names the key that is required."""
    message = error_of(tmp_path, BASE.replace('tag_id = "2612345678901"\n', ""))
    assert "destinations.main.tag_id is required" in message


@pytest.mark.parametrize("value", ['"12ab"', '"1234567890123456789"', "-5"])
def test_bad_ad_account_id_names_key_value_and_rule(tmp_path: Path, value: str) -> None:
    """ad_account_id must be at most 18 digits; the message shows the value given."""
    text = BASE.replace('ad_account_id = "549755810001"', f"ad_account_id = {value}")
    message = error_of(tmp_path, text)
    assert "destinations.main.ad_account_id" in message
    assert value.strip('"') in message
    assert "digits" in message


def test_numeric_ad_account_id_and_tag_id_are_taken_as_text(tmp_path: Path) -> None:
    """TOML integers for ids become the same digits as text."""
    text = BASE.replace('"549755810001"', "549755810001").replace(
        '"2612345678901"', "2612345678901"
    )
    (main,) = load_text(tmp_path, text).destinations
    assert main.ad_account_id == "549755810001"
    assert main.tag_id == "2612345678901"


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("content_id", '"gtin"', "variant_id"),
        ("consent_mode", '"maybe"', "strict"),
        ("partner_name", '"Converge"', "ss-"),
        ("custom_events", '"yes"', "true or false"),
        ("sources", '"web"', "list"),
        ("retry_for", '"soon"', "forever"),
    ],
)
def test_bad_destination_value_names_key_value_and_what_is_allowed(
    tmp_path: Path, key: str, value: str, allowed: str
) -> None:
    """Every destination check's message has the key, the value and the choices."""
    message = error_of(tmp_path, BASE + f"{key} = {value}\n")
    assert f"destinations.main.{key}" in message
    assert value.strip('"') in message
    assert allowed in message


def test_unknown_pinterest_event_name_lists_the_names(tmp_path: Path) -> None:
    """A mapping to a name Pinterest lacks lists the names it has."""
    text = BASE + '[destinations.events]\n"Signed Up" = "sign_up"\n'
    message = error_of(tmp_path, text)
    assert "'Signed Up'" in message
    assert "sign_up" in message
    assert "signup" in message
    assert "false" in message


def test_events_table_false_turns_a_default_row_off(tmp_path: Path) -> None:
    """false in the events table means: send nothing for that Converge event."""
    text = BASE + '[destinations.events]\n"Placed Order" = false\nSearched = "search"\n'
    (main,) = load_text(tmp_path, text).destinations
    assert main.pinterest_event_name("Placed Order") is None
    assert main.pinterest_event_name("Searched") == "search"
    assert main.pinterest_event_name("Added To Cart") == "add_to_cart"
    assert main.pinterest_event_name("Unheard Of") is None


@pytest.mark.parametrize("value", ['["checkout"]', "{ name = 'checkout' }"])
def test_events_table_value_of_wrong_type_is_a_config_error(
    tmp_path: Path, value: str
) -> None:
    """Any non-name value in the events table is explained, not a crash."""
    text = BASE + f'[destinations.events]\n"Placed Order" = {value}\n'
    assert "Placed Order" in error_of(tmp_path, text)


def test_duplicate_destination_name_is_refused(tmp_path: Path) -> None:
    """Two destinations may not share a name."""
    second = BASE.split("[[destinations]]")[1].replace("549755810001", "1")
    message = error_of(tmp_path, BASE + "[[destinations]]" + second)
    assert "'main'" in message
    assert "twice" in message


@pytest.mark.parametrize(
    ("key", "value", "low", "high"),
    [
        ("batch_size", 0, "1", "1000"),
        ("batch_size", 1001, "1", "1000"),
        ("max_in_flight", 65, "1", "64"),
        ("commit_interval_ms", 99, "100", "60000"),
        ("max_buffered_events", 999, "1000", "10000000"),
    ],
)
def test_delivery_value_out_of_range_names_key_value_and_range(
    tmp_path: Path, key: str, value: int, low: str, high: str
) -> None:
    """Out-of-range delivery numbers show the key, the value and the allowed range."""
    message = error_of(tmp_path, BASE + f"[delivery]\n{key} = {value}\n")
    assert f"delivery.{key}" in message
    assert str(value) in message
    assert low in message
    assert high in message


def test_delivery_fraction_is_refused_as_not_whole(tmp_path: Path) -> None:
    """A fractional batch size is refused with its value."""
    message = error_of(tmp_path, BASE + "[delivery]\nbatch_size = 10.5\n")
    assert "delivery.batch_size" in message
    assert "10.5" in message
    assert "whole number" in message


def test_delivery_boolean_is_not_a_number(tmp_path: Path) -> None:
    """true is not taken as 1."""
    message = error_of(tmp_path, BASE + "[delivery]\nmax_in_flight = true\n")
    assert "delivery.max_in_flight" in message
    assert "True" in message


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("600", 600.0), ('"90s"', 90.0), ('"10m"', 600.0), ('"2h"', 7200.0)],
)
def test_retry_for_accepts_seconds_and_units(
    tmp_path: Path, value: str, seconds: float
) -> None:
    """retry_for takes seconds or text with s, m, h units."""
    config = load_text(tmp_path, BASE + f"[delivery]\nretry_for = {value}\n")
    assert config.delivery.retry_for_seconds == seconds
    assert config.destinations[0].retry_for_seconds == seconds


def test_retry_for_forever_is_none_and_destination_overrides(tmp_path: Path) -> None:
    """'forever' means None; a destination's own retry_for wins over delivery's."""
    text = BASE + 'retry_for = "5m"\n[delivery]\nretry_for = "forever"\n'
    config = load_text(tmp_path, text)
    assert config.delivery.retry_for_seconds is None
    assert config.destinations[0].retry_for_seconds == 300.0


def test_api_url_must_be_http_and_loses_trailing_slash(tmp_path: Path) -> None:
    """api_url is normalised without '/' at the end and must be http(s)."""
    config = load_text(tmp_path, BASE + '[pinterest]\napi_url = "http://h:1/v5/"\n')
    assert config.pinterest.api_url == "http://h:1/v5"
    message = error_of(tmp_path, BASE + '[pinterest]\napi_url = "ftp://h/v5"\n')
    assert "pinterest.api_url" in message
    assert "ftp://h/v5" in message
    assert DEFAULT_API_URL in message


def test_timeout_seconds_range_is_enforced(tmp_path: Path) -> None:
    """pinterest.timeout_seconds must lie within 1 to 600."""
    message = error_of(tmp_path, BASE + "[pinterest]\ntimeout_seconds = 0.5\n")
    assert "pinterest.timeout_seconds" in message
    assert "0.5" in message
    assert "600" in message


def test_librdkafka_settings_pass_through_as_text(tmp_path: Path) -> None:
    """Kafka client settings become strings; booleans are lowercase."""
    text = BASE.replace(
        'group_id = "pinterest"\n',
        'group_id = "pinterest"\n[kafka.consumer]\n"enable.idle" = true\n'
        '"session.timeout.ms" = 45000\n',
    )
    config = load_text(tmp_path, text)
    assert config.kafka.consumer == {
        "enable.idle": "true",
        "session.timeout.ms": "45000",
    }


def test_librdkafka_setting_of_wrong_type_is_named(tmp_path: Path) -> None:
    """A list as a librdkafka setting names the key and the types allowed."""
    text = BASE.replace(
        'group_id = "pinterest"\n',
        'group_id = "pinterest"\n[kafka.producer]\n"acks" = [1]\n',
    )
    message = error_of(tmp_path, text)
    assert "kafka.producer.acks" in message
    assert "[1]" in message
    assert "text, a number or a boolean" in message


def test_blank_required_text_is_refused(tmp_path: Path) -> None:
    """Whitespace-only text counts as missing and is shown as given."""
    message = error_of(tmp_path, BASE.replace('topic = "events"', 'topic = "  "'))
    assert "kafka.topic" in message
    assert "non-empty text" in message


def test_receives_source_respects_the_sources_list(tmp_path: Path) -> None:
    """A destination with sources receives only those; without, it receives all."""
    config = load_text(tmp_path, BASE + 'sources = ["web-shop"]\n')
    (main,) = config.destinations
    assert main.receives_source("web-shop")
    assert not main.receives_source("pos")
    assert not main.receives_source(None)
