"""Alerts about stays: a code still not on its locks 24 hours before check-in.

Raised by a beat task; resolved as soon as the last door of the stay reports the code set
(`code_not_set_settled`, called when a code's state changes), not at the task's next run."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from bookings.models import AccessGrant, BookingStatus
from locks.models import AccessCode, CodeState
from portal.models import Alert
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
        errors = "; ".join(sorted({ac.last_error for ac in pending if ac.last_error}))
        gave_up = any(ac.state == CodeState.FAILED for ac in pending)
        alert_raise(
            organization=grant.organization,
            kind="code_not_set",
            subject=subject,
            severity="critical",
            code="code_not_set.gave_up" if gave_up else "code_not_set.retrying",
            params={
                "guest": booking.guest_name or booking.external_id,
                "check_in": f"{booking.check_in:%Y-%m-%d}",
                "property": booking.property.name,
                "locks": ", ".join(ac.lock.name for ac in pending),
                "errors": errors,
            },
            covers=[("code_failed", f"code:{ac.pk}") for ac in pending],
        )
        raised += 1
    return raised


def code_not_set_settled(*, access_code: AccessCode) -> None:
    """A door of a stay got its code: once every door has it, the stay's "code not on the
    lock" alert is over, at once (not at the next run of the beat task)."""
    grant_id = AccessGrant.id_from_holder(access_code.holder)
    if grant_id is None:
        return
    open_alerts = Alert.objects.filter(
        organization_id=access_code.organization_id, kind="code_not_set", resolved_at__isnull=True
    )
    if not open_alerts.exists():  # runs for every code set: one query in the common case
        return
    grant = AccessGrant.objects.filter(pk=grant_id).select_related("organization").first()
    if grant is None:
        return
    codes = AccessCode.objects.filter(holder=grant.holder, wanted=True).select_related("lock")
    if all(ac.state == CodeState.SET or ac.works_on_lock() for ac in codes):
        alert_resolve(
            organization=grant.organization,
            kind="code_not_set",
            subject=f"booking:{grant.booking_id}",
        )
