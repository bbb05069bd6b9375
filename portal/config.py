"""Strict configuration from the environment.

Every variable is read here, once, with its type. A value that does not parse stops start-up
with a message naming the variable, so a typo in production fails loudly instead of silently
falling back to a default.
"""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


class ConfigError(ImproperlyConfigured):
    """A configuration variable is present but its value cannot be used."""


env = environ.Env()
_env_file = os.environ.get("LATCHKEY_ENV_FILE", str(BASE_DIR / ".env"))
if Path(_env_file).is_file():
    environ.Env.read_env(_env_file, overwrite=False)


def _parse(name: str, cast, default):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Environment variable {name}={raw!r} is not valid: {exc}") from None


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected a number of 0 or more")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("expected a number of 0 or more")
    return value


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone") from None
    return raw


def _url(raw: str) -> str:
    if raw and "://" not in raw:
        raise ValueError("expected a URL such as scheme://host/...")
    return raw


def _rate(raw: str) -> str:
    num, slash, period = raw.strip().partition("/")
    if not (num.isdigit() and slash and period[:1] in ("s", "m", "h", "d")):
        raise ValueError("expected a rate such as 10/h (per s, m, h or d)")
    return raw.strip()


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def get_bool(name: str, default: bool) -> bool:
    return _parse(name, _bool, default)


def get_int(name: str, default: int) -> int:
    return _parse(name, _positive_int, default)


def get_float(name: str, default: float) -> float:
    return _parse(name, _positive_float, default)


def get_str(name: str, default: str) -> str:
    return _parse(name, str, default)


def get_url(name: str, default: str) -> str:
    return _parse(name, _url, default)


def get_rate(name: str, default: str) -> str:
    return _parse(name, _rate, default)


def get_list(name: str, default: list[str]) -> list[str]:
    return _parse(name, _list, default)


def get_timezone(name: str, default: str) -> str:
    return _parse(name, _timezone, default)


def get_database(name: str, default: str) -> dict:
    raw = _parse(name, _url, default)
    try:
        return env.db_url_config(raw)
    except (ValueError, KeyError, ImproperlyConfigured) as exc:
        raise ConfigError(f"Environment variable {name}={raw!r} is not valid: {exc}") from None
