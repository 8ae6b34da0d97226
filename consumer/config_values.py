"""Reading single configuration values: types, ranges, ``${NAME}`` substitution.

Every helper raises ConfigError with a message that names the key, the value
found and what is allowed.
"""

from __future__ import annotations

import re
from typing import Any

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class ConfigError(ValueError):
    """A configuration file or value that the service cannot run with."""


def substitute(value: Any, env: dict[str, str], where: str) -> Any:
    if isinstance(value, dict):
        return {
            k: substitute(v, env, f"{where}.{k}" if where else k)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(
                    f"{where}: environment variable {name} is not set; export it "
                    "or write the value in the file"
                )
            return env[name]

        return _ENV_REFERENCE.sub(replace, value)
    return value


def table(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        raise ConfigError(f"[{where}] is missing")
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table, got {value!r}")
    return value


def no_unknown(where: str, raw: dict[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            place = f"{where}.{key}" if where else key
            raise ConfigError(
                f"{place}: unknown key; allowed here: {', '.join(sorted(allowed))}"
            )


def text(
    where: str,
    raw: dict[str, Any],
    *,
    required: bool = False,
    default: str = "",
    numbers: bool = False,
) -> str:
    key = where.rsplit(".", 1)[-1]
    value = raw.get(key)
    if value is None:
        if required:
            raise ConfigError(f"{where} is required")
        return default
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {value!r} must be non-empty text")
    return value.strip()


def boolean(where: str, raw: dict[str, Any], *, default: bool) -> bool:
    value = raw.get(where.rsplit(".", 1)[-1], default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} must be true or false")
    return value


def number(
    where: str, raw: dict[str, Any], default: float, low: float, high: float
) -> float:
    value = raw.get(where.rsplit(".", 1)[-1], default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {value!r} must be a number from {low} to {high}")
    if not low <= value <= high:
        raise ConfigError(f"{where}: {value} is out of range; allowed {low} to {high}")
    return float(value)


def settings(where: str, value: Any) -> dict[str, str]:
    table_ = table(where, value)
    settings = {}
    for key, setting in table_.items():
        if isinstance(setting, bool):
            settings[key] = "true" if setting else "false"
        elif isinstance(setting, int | float | str):
            settings[key] = str(setting)
        else:
            raise ConfigError(
                f"{where}.{key}: {setting!r} must be text, a number or a boolean "
                "(librdkafka settings are passed through as given)"
            )
    return settings


def duration(where: str, raw: dict[str, Any], default: float | None) -> float | None:
    """Seconds from a number or text like ``90s``, ``10m``, ``2h``; None for forever."""
    key = where.rsplit(".", 1)[-1]
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, str) and value.strip() == "forever":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None or float(match.group(1)) <= 0:
        raise ConfigError(
            f"{where}: {value!r} is not a duration; use seconds (600), text such "
            'as "10m" or "2h", or "forever"'
        )
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]
