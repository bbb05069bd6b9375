"""Reads for bookings: the access a stay has on each lock, for one booking or a page."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from bookings.models import AccessGrant, Booking
from locks.models import AccessCode


def access_by_booking(bookings: Iterable[Booking]) -> dict[int, list[dict]]:
    """{booking id: [{lock, lock_name, code, valid_from, valid_until, state, last_error}]} in
    two queries for any number of bookings."""
    bookings = list(bookings)
    grants = {}
    for g in AccessGrant.objects.filter(booking__in=[b.pk for b in bookings]).only(
        "id", "booking_id"
    ):
        grants[g.holder] = grants[f"{g.holder}/app"] = g.booking_id  # code, app access
    result: dict[int, list[dict]] = defaultdict(list)
    codes = (
        AccessCode.objects.filter(holder__in=list(grants))
        .select_related("lock")
        .order_by("lock__name", "lock_id", "kind")
    )
    for ac in codes:
        result[grants[ac.holder]].append(
            {
                "lock": ac.lock_id,
                "lock_name": ac.lock.name,
                "kind": ac.kind,
                "code": ac.code,
                "valid_from": ac.valid_from,
                "valid_until": ac.valid_until,
                "state": ac.state,
                "last_error": ac.last_error,
            }
        )
    return result
