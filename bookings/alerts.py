"""Alerts about stays: a code still not on its locks 24 hours before check-in.

Raised by a beat task; resolved as soon as the last door of the stay reports the code set
(`code_not_set_settled`, called when a code's state changes), not at the task's next run."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from bookings.models import AccessGrant, BookingStatus
from locks.models import AccessCode, CodeState
from locks.selectors import unset_codes_starting
from portal.models import Alert
from portal.services import alert_raise, alert_resolve

WARN_BEFORE = dt.timedelta(hours=24)


def alert_unset_codes(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Raise the alert for every confirmed stay beginning within WARN_BEFORE whose code is not
    working on one of its doors; resolve the open alerts of stays in that window whose doors
    all work now. Returns how many stays have the alert open.

    It starts from the codes not on their lock yet (the partial index `code_unset_from`), not
    from the stays, so a run reads what is due, not the history; and it resolves only alerts
    that are open, all in one statement."""
    now = now or timezone.now()
    pending: dict[int, list[AccessCode]] = {}
    unset = unset_codes_starting(
        before=now + WARN_BEFORE, now=now, holder_prefix="grant:", related=("lock", "backup")
    )
    for ac in unset:
        grant_id = AccessGrant.id_from_holder(ac.holder)
        if grant_id is not None and not ac.works_on_lock():
            pending.setdefault(grant_id, []).append(ac)
    open_alerts = {
        alert.subject: alert
        for alert in Alert.objects.filter(kind="code_not_set", resolved_at__isnull=True)
    }
    _settled_resolve(now=now, pending=set(pending), open_alerts=open_alerts)
    raised = 0
    ids = sorted(pending)
    for start in range(0, len(ids), batch):
        grants = AccessGrant.objects.filter(
            pk__in=ids[start : start + batch],
            active=True,
            booking__status=BookingStatus.CONFIRMED,
            valid_from__lte=now + WARN_BEFORE,
            valid_until__gt=now,
        ).select_related("booking", "booking__property", "organization")
        for grant in grants.order_by("pk"):
            _raise(grant, pending[grant.pk], open_alerts.get(f"booking:{grant.booking_id}"))
            raised += 1
    return raised


def _settled_resolve(*, now: dt.datetime, pending: set[int], open_alerts: dict) -> int:
    """Resolve the open alerts of stays in the window that have nothing pending any more
    (their last door usually resolves it at once: `code_not_set_settled`; this catches the
    rest). Open alerts are few; those already resolved are not touched."""
    open_alerts = {alert.pk: subject for subject, alert in open_alerts.items()}
    by_booking = {}
    for pk, subject in open_alerts.items():
        kind, _, booking_id = subject.partition(":")
        if kind == "booking" and booking_id.isascii() and booking_id.isdecimal():
            by_booking.setdefault(int(booking_id), []).append(pk)
    if not by_booking:
        return 0
    settled = AccessGrant.objects.filter(
        booking_id__in=list(by_booking),
        active=True,
        booking__status=BookingStatus.CONFIRMED,
        valid_from__lte=now + WARN_BEFORE,
        valid_until__gt=now,
    ).exclude(pk__in=list(pending))
    alert_ids = [pk for booking_id in settled.values_list("booking_id", flat=True)
                 for pk in by_booking[booking_id]]  # fmt: skip
    if not alert_ids:
        return 0
    return Alert.objects.filter(pk__in=alert_ids, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


def _raise(grant: AccessGrant, pending: list[AccessCode], alert: Alert | None) -> None:
    """Raise the stay's alert, or refresh it; an open one that already says this is left as
    it is (refreshing it costs three statements and says nothing new: the codes it covers
    were resolved when it was raised, and stay covered while it is open)."""
    booking = grant.booking
    errors = "; ".join(sorted({ac.last_error for ac in pending if ac.last_error}))
    gave_up = any(ac.state == CodeState.FAILED for ac in pending)
    code = "code_not_set.gave_up" if gave_up else "code_not_set.retrying"
    params = {
        "guest": booking.guest_name or booking.external_id,
        "check_in": f"{booking.check_in:%Y-%m-%d}",
        "property": booking.property.name,
        "locks": ", ".join(ac.lock.name for ac in pending),
        "errors": errors,
    }
    covers = [("code_failed", f"code:{ac.pk}") for ac in pending]
    if (
        alert is not None
        and alert.code == code
        and alert.params == params
        and alert.covers == [f"{kind} {subject}" for kind, subject in covers]
    ):
        return
    alert_raise(
        organization=grant.organization,
        kind="code_not_set",
        subject=f"booking:{grant.booking_id}",
        severity="critical",
        code=code,
        params=params,
        covers=covers,
    )


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
