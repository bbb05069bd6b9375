"""What the page reads share: the list bound and each stay's code state per lock."""

from __future__ import annotations

from bookings.models import AccessGrant, Booking
from locks.models import AccessCode

LIST_LIMIT = 50


def with_access(stays: list[Booking]) -> list[Booking]:
    """Each stay's code state per lock, for tables: two queries of plain values (model
    instances and timestamps are not needed to draw a badge, and cost most of a page's time)."""
    grants = dict(
        AccessGrant.objects.filter(booking__in=[s.pk for s in stays]).values_list(
            "pk", "booking_id"
        )
    )
    access: dict[int, list] = {}
    rows = (
        AccessCode.objects.filter(holder__in=[f"grant:{pk}" for pk in grants])
        .order_by("lock__name", "lock_id")
        .values_list("holder", "lock_id", "lock__name", "state", "last_error")
    )
    for holder, lock_id, lock_name, state, last_error in rows:
        booking_id = grants[int(holder.partition(":")[2])]
        access.setdefault(booking_id, []).append(
            {"lock": lock_id, "lock_name": lock_name, "state": state, "last_error": last_error}
        )
    for stay in stays:
        stay.access = access.get(stay.pk, [])
        stay.code_state = _overall_state(stay.access)
    return stays


def _overall_state(access: list[dict]) -> str:
    """One word for a stay's code across its locks: the worst state wins."""
    states = {a["state"] for a in access}
    for state in ("failed", "setting", "removing", "planned", "set", "removed"):
        if state in states:
            return state
    return "none"
