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


# --- Production secrets ------------------------------------------------------------------------
# Every example or default value for a secret that appears anywhere in this repository
# (.env.example, docker-compose.yml, the README, the settings' development default). Anyone can
# read them, so a production start with one of them is refused. portal/tests/test_production.py
# scans the repository and fails when a placeholder appears there that is not listed here.
PLACEHOLDER_SECRETS = frozenset(
    {
        "change-me",
        "change-me-in-production",
        "changeme",
        "insecure-dev-key-change-me-in-production-0123456789",
        "secret",
        "secret-key",
    }
)
# Fragments that mark a value as a placeholder wherever they appear in it (Django's own generated
# development keys start with "django-insecure-").
PLACEHOLDER_MARKERS = ("change-me", "changeme", "insecure", "placeholder")
# The development default (no LATCHKEY_PRODUCTION): public, so refused in production.
DEV_SECRET_KEY = "insecure-dev-key-change-me-in-production-0123456789"
SECRET_KEY_MIN_LENGTH = 50  # Django's own `check --deploy` threshold
ENCRYPTION_KEY_MIN_LENGTH = 32
GENERATE_SECRET_KEY = 'python3 -c "import secrets; print(secrets.token_urlsafe(50))"'
GENERATE_ENCRYPTION_KEY = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


def is_placeholder(value: str) -> bool:
    """True for a secret copied from this repository (or recognisably a stand-in for one)."""
    folded = value.strip().lower()
    return folded in PLACEHOLDER_SECRETS or any(mark in folded for mark in PLACEHOLDER_MARKERS)


def _weak_secret(value: str, *, min_length: int) -> str | None:
    """Why `value` cannot serve as a production secret, or None."""
    if not value:
        return "is not set"
    if is_placeholder(value):
        return "is a placeholder from the repository; anyone can read it"
    if len(value) < min_length:
        return f"is shorter than {min_length} characters"
    if len(set(value)) < 5:
        return "has fewer than 5 different characters"
    return None


def check_production_secrets(
    *, secret_key: str, secret_key_fallbacks: list[str], encryption_keys: list[str]
) -> None:
    """Refuse to start a production process (web, worker, beat, manage.py) with a secret anyone
    can guess. Runs from settings at import, so every process type fails the same way, before it
    serves or runs anything; the message names the variable and how to make a good value."""
    problem = _weak_secret(secret_key, min_length=SECRET_KEY_MIN_LENGTH)
    if problem:
        raise ConfigError(
            f"Environment variable SECRET_KEY {problem} (LATCHKEY_PRODUCTION=true). "
            f"Generate one with: {GENERATE_SECRET_KEY}"
        )
    for old in secret_key_fallbacks:
        if is_placeholder(old):
            raise ConfigError(
                "Environment variable SECRET_KEY_FALLBACKS lists a placeholder from the "
                "repository: whatever was signed with it can be forged. Drop it."
            )
    if not encryption_keys:
        raise ConfigError(
            "Environment variable LATCHKEY_ENCRYPTION_KEY is not set (LATCHKEY_PRODUCTION=true): "
            "secrets at rest need their own key, not one derived from SECRET_KEY. "
            f"Generate one with: {GENERATE_ENCRYPTION_KEY}"
        )
    # The newest key encrypts and signs: it must be strong. Older keys only read what they wrote,
    # so a weak one may stay listed until `manage.py rotate_secrets` has moved everything off it.
    problem = _weak_secret(encryption_keys[0], min_length=ENCRYPTION_KEY_MIN_LENGTH)
    if problem is None and encryption_keys[0] in {secret_key, *secret_key_fallbacks}:
        problem = "repeats SECRET_KEY; it must be a key of its own"
    if problem:
        raise ConfigError(
            f"Environment variable LATCHKEY_ENCRYPTION_KEY: the newest (first) key {problem} "
            f"(LATCHKEY_PRODUCTION=true). Generate one with: {GENERATE_ENCRYPTION_KEY}"
        )
    if len(set(encryption_keys)) != len(encryption_keys):
        raise ConfigError("Environment variable LATCHKEY_ENCRYPTION_KEY lists a key twice.")


def get_proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """`X-Forwarded-Proto` or `X-Forwarded-Proto:https` → Django's SECURE_PROXY_SSL_HEADER."""

    def parse(raw: str) -> tuple[str, str]:
        header, _, value = raw.strip().partition(":")
        header, value = header.strip(), (value.strip() or "https")
        if not header or not all(c.isalnum() or c in "-_" for c in header):
            raise ValueError("expected a header name such as X-Forwarded-Proto[:https]")
        return "HTTP_" + header.upper().replace("-", "_"), value

    return _parse(name, parse, None)
