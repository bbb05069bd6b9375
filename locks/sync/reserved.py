"""Codes that other apps hold back for good on some locks, asked through registered callbacks.

Why: the engine decides which digits are free on a lock (`desired.codes_taken`), but some are
reserved by an app above it, e.g. bookings' standing access (cleaners, owners) whose code is on
a lock one day at a time yet must never be drawn for a guest. Locks never imports bookings, so
bookings registers a callback here when it starts (BookingsConfig.ready). A callback answers a
queryset of one column, `code` (`.values_list("code")`), which the engine unions into its own
query: still one statement, and no SQL text crosses the apps.

This module imports no model, so an app's `apps.py` may import it at the top.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

# lock ids, candidate digits -> QuerySet of ("code",) rows: those candidates reserved there.
ReservedCodes = Callable[..., QuerySet]

_callbacks: list[ReservedCodes] = []


def register(callback: ReservedCodes) -> None:
    """Ask `callback(lock_ids=[...], candidates=[...])` whenever the engine checks codes.
    Registering the same callback twice (a second `ready()` in tests) keeps one."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def reserved_querysets(*, lock_ids: list[int], candidates: list[str]) -> list[QuerySet]:
    """Every registered app's reserved candidates on these locks, as querysets to union."""
    return [callback(lock_ids=lock_ids, candidates=candidates) for callback in _callbacks]
