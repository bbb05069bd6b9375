"""Alerts about stays: a code still not on its locks 24 hours before check-in."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from bookings.models import AccessGrant, BookingStatus
from locks.models import AccessCode, CodeState
from portal.services import alert_raise, alert_resolve

WARN_BEFORE = dt.timedelta(hours=24)


def alert_unset_codes(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    grants = AccessGrant.objects.filter(
        active=True,
        booking__status=BookingStatus.CONFIRMED,
        valid_from__lte=now + WARN_BEFORE,
        valid_until__gt=now,
    ).select_related("booking", "booking__property", "organization")
    raised = 0
    for grant in grants:
        pending = [
            ac
            for ac in AccessCode.objects.filter(holder=grant.holder, wanted=True)
            .exclude(state=CodeState.SET)
            .select_related("lock")
            if not ac.works_on_lock()
        ]
        subject = f"booking:{grant.booking_id}"
        if not pending:
            alert_resolve(organization=grant.organization, kind="code_not_set", subject=subject)
            continue
        booking = grant.booking
        locks = ", ".join(ac.lock.name for ac in pending)
        errors = "; ".join(sorted({ac.last_error for ac in pending if ac.last_error}))
        alert_raise(
            organization=grant.organization,
            kind="code_not_set",
            subject=subject,
            severity="critical",
            message=(
                f"The code for {booking.guest_name or booking.external_id} "
                f"(check-in {booking.check_in:%Y-%m-%d} at {booking.property.name}) "
                f"is not yet on: {locks}." + (f" Last error: {errors}" if errors else "")
            ),
            fix="Check that the lock is online, then retry the command; or give the guest "
            "another way in.",
        )
        raised += 1
    return raised
