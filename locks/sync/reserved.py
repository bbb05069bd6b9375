"""Codes that other apps hold back for good on a property's locks, given by registered callbacks.

Why: the engine decides which digits are free on a lock (`desired.codes_taken`), but some are
reserved by an app above it, e.g. bookings' standing access (cleaners, owners) whose code is on
a lock one day at a time yet must never be drawn for a guest. Locks never imports bookings, so
bookings registers a callback here when it starts (BookingsConfig.ready).

A callback takes no argument and answers a queryset of two columns, the code and the id of the
property it is reserved on (`.values_list("code", "property_id")`), filtered by nothing that
changes between calls (e.g. `active=True`). The engine compiles it once per process and unions
it into its own query, narrowed to the locks' properties and the candidates: still one
statement per booking, and no SQL text crosses the apps.

This module imports no model, so an app's `apps.py` may import it at the top.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import QuerySet

ReservedCodes = Callable[[], QuerySet]

_callbacks: list[ReservedCodes] = []


def register(callback: ReservedCodes) -> None:
    """Union `callback()`'s (code, property id) rows into every check of free codes.
    Registering the same callback twice (a second `ready()` in tests) keeps one."""
    if callback not in _callbacks:
        _callbacks.append(callback)


def reserved_callbacks() -> tuple[ReservedCodes, ...]:
    """The registered callbacks, in registration order."""
    return tuple(_callbacks)
