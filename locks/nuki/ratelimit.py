"""What the Nuki clients share about rate limits (no Django here): reading a 429's Retry-After,
the shape of the budget they take a token from before every request, and one TLS context.

A budget is passed in by whoever builds the client (the portal: locks/budgets.py, shared by
every worker through Redis), so these clients stay free of the portal's settings and stores."""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import ssl
import time
from collections.abc import Callable
from typing import Protocol

import httpx2

# Retry-After missing or unreadable: wait this long (seconds) before the next request.
DEFAULT_RETRY_AFTER = 30.0
# A Retry-After further away than this is read as this (a broken header must not park a lock
# for days).
MAX_RETRY_AFTER = 3600.0


class RequestBudget(Protocol):
    def take(self) -> float:
        """0.0: the request may go now; else seconds until one may (nothing was taken)."""

    def hold(self, seconds: float) -> float:
        """Send nothing more until `seconds` from now (a 429's Retry-After)."""


def retry_after_seconds(value: str | None, *, now: Callable[[], float] = time.time) -> float:
    """Seconds to wait from a Retry-After header: delta-seconds ("120") or an HTTP date
    ("Wed, 21 Oct 2026 07:28:00 GMT"), per RFC 9110. Missing or unreadable: the default; in
    the past: 0; bounded by MAX_RETRY_AFTER."""
    if value is None or not value.strip():
        return DEFAULT_RETRY_AFTER
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return DEFAULT_RETRY_AFTER
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = when.timestamp() - now()
    if seconds != seconds:  # NaN
        return DEFAULT_RETRY_AFTER
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """One TLS context per process for every client. Why: httpx2 builds a new one for each
    client it makes, loading the system's CA certificates each time (about 40 ms of CPU, 120 ms
    on a busy machine), and the portal makes a client per command: that was a third of a
    Nuki Web reconcile's time (bench/fleet_budget.py). A context is safe to share."""
    return httpx2.create_ssl_context(trust_env=False)
