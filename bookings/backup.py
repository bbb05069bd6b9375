"""Stays that fall back on a backup code: the lock cannot be reached close to check-in.

A stay qualifies when its check-in is less than the organization's `backup_lead_minutes`
away (or has passed), and its code is still not working on a lock that the last command
found unreachable. The stay's code becomes a backup code already on that lock (and on every
other door of the stay, as a normal code or from their pools), and the guest gets the usual
email: nothing in it says "backup". See locks/backup.py for the residual risk while the lock
stays unreachable.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from bookings import dispatch
from bookings.models import AccessGrant, BookingStatus
from bookings.services import code_name, standing_codes, stay_locks
from locks.backup import backup_take
from locks.models import (
    AccessCode,
    CodeState,
    CommandKind,
    CommandStatus,
    LockCommand,
    ObservedCode,
)
from locks.selectors import unset_codes_starting
from locks.sync.desired import access_put
from portal.models import Alert, Organization
from portal.services import alert_raise, alert_resolve
from portal.times import local_stamp


def backup_codes_assign(
    *,
    lock_ids: list[int] | None = None,
    access_code_ids: list[int] | None = None,
    now: dt.datetime | None = None,
    batch: int = 200,
) -> int:
    """Give backup codes to the stays that need one now. Returns how many got one.

    Runs every minute over every organization, so it reads only what could need a backup:
    codes not on their lock yet whose stay begins within the longest backup lead (the partial
    index `code_unset_from`), and of those only the ones a lock could have given up on
    (`_maybe_given_up`, without a query). Only those stays are locked, each in its own
    transaction and skipped when someone else holds it (the next run takes it).
    `lock_ids`, `access_code_ids`: only those locks' or codes' stays (a command just failed)."""
    now = now or timezone.now()
    longest = Organization.objects.aggregate(m=Max("backup_lead_minutes"))["m"] or 0
    codes = unset_codes_starting(
        before=now + dt.timedelta(minutes=longest),
        now=now,
        holder_prefix="grant:",
        related=("lock", "backup", "organization"),
        lock_ids=lock_ids,
        pks=access_code_ids,
    )
    candidates: set[int] = set()
    for ac in codes:
        lead = dt.timedelta(minutes=ac.organization.backup_lead_minutes)
        grant_id = AccessGrant.id_from_holder(ac.holder)
        if grant_id is None or ac.valid_from > now + lead:
            continue
        if _maybe_given_up(ac) and not ac.works_on_lock():
            candidates.add(grant_id)
    ordered = sorted(candidates)
    given = 0
    for start in range(0, len(ordered), batch):
        grants = AccessGrant.objects.filter(
            pk__in=ordered[start : start + batch],
            active=True,
            booking__status=BookingStatus.CONFIRMED,
        ).values_list("pk", flat=True)
        for grant_id in grants.order_by("pk"):
            if grant_backup(grant_id=grant_id, now=now, skip_locked=True):
                given += 1
    return given


def _maybe_given_up(ac: AccessCode) -> bool:
    """Could `_given_up` say yes for this code? Without a query: its lock is offline, or the
    cloud accepted exactly this write (a queued write) and the lock has not confirmed it."""
    if not ac.lock.online:
        return True
    return ac.state == CodeState.SETTING and ac.applied == ac.desired_snapshot()


# Attempts on an unreachable lock before a stay about to begin falls back on a backup code
# (one failure may be a blip; a stay whose window has begun does not wait).
BACKUP_AFTER_ATTEMPTS = 2


# A write the cloud accepted (Nuki Web queues it while the lock is unreachable, and retries
# daily) but the lock has not confirmed after this long counts as not reaching the lock.
QUEUED_GRACE = dt.timedelta(minutes=5)


def _given_up(ac: AccessCode, *, begun: bool, now: dt.datetime) -> bool:
    """Is this lock unreachable for this code, beyond a blip?"""
    last = (
        LockCommand.objects.filter(access_code=ac, kind=CommandKind.SYNC_CODE)
        .order_by("-pk")
        .values("attempts", "status", "finished_at")
        .first()
    ) or {}
    if not ac.lock.online:
        if begun or ac.state == CodeState.FAILED:
            return True
        return last.get("attempts", 0) >= BACKUP_AFTER_ATTEMPTS
    queued = (
        ac.state == CodeState.SETTING
        and ac.applied == ac.desired_snapshot()
        and last.get("status") == CommandStatus.SUCCEEDED
    )
    return queued and last["finished_at"] is not None and last["finished_at"] <= now - QUEUED_GRACE


@transaction.atomic
def grant_backup(
    *, grant_id: int, now: dt.datetime | None = None, skip_locked: bool = False
) -> bool:
    """Switch one stay to a backup code if a lock it needs is unreachable. True if it did.
    `skip_locked`: a stay someone else is changing right now is left for the next run."""
    now = now or timezone.now()
    grant = (
        AccessGrant.objects.select_for_update(of=("self",), skip_locked=skip_locked)
        .select_related("booking", "booking__property", "organization")
        .filter(pk=grant_id, active=True)
        .first()
    )
    if grant is None or grant.booking.status != BookingStatus.CONFIRMED:
        return False
    codes = AccessCode.objects.filter(holder=grant.holder, wanted=True).select_related("lock")
    missing = [ac for ac in codes if not ac.works_on_lock()]
    begun = grant.valid_from <= now
    unreachable = [ac.lock for ac in missing if _given_up(ac, begun=begun, now=now)]
    if not unreachable:
        return False
    booking = grant.booking
    locks = stay_locks(booking)
    lock_ids = [lock.pk for lock in locks]
    reserved = standing_codes(property_id=booking.property_id)

    def usable(code: str) -> bool:
        """Free on every door of the stay for its window (backup codes themselves aside)."""
        clash = (
            AccessCode.objects.filter(
                lock_id__in=lock_ids,
                wanted=True,
                code=code,
                valid_from__lt=grant.valid_until,
                valid_until__gt=grant.valid_from,
            )
            .exclude(holder=grant.holder)
            .exclude(holder__startswith="backup:")
            .exists()
        )
        foreign = ObservedCode.objects.filter(
            lock_id__in=lock_ids, access_code__isnull=True, code=code
        ).exists()
        return not (clash or foreign or code in reserved)

    name = code_name(grant, booking)
    subject = f"booking:{booking.pk}"
    doors = ", ".join(lock.name for lock in unreachable)
    who = booking.guest_name or booking.external_id
    params = {
        "doors": doors,
        "guest": who,
        "check_in": f"{booking.check_in:%Y-%m-%d}",
        "property": booking.property.name,
    }
    # One cause (the door cannot be reached), one alert: this one stands for the stay's
    # "code not on the lock" alerts.
    covers = [("code_not_set", subject)] + [("code_failed", f"code:{ac.pk}") for ac in missing]
    code = backup_take(
        unreachable=unreachable,
        locks=locks,
        holder=grant.holder,
        name=name,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        usable=usable,
    )
    if code is None:
        pool = any(lock.backup_pool_size for lock in unreachable)
        alert_raise(
            organization=grant.organization,
            kind="no_backup_code",
            subject=subject,
            severity="critical",
            code="no_backup_code.pool_empty" if pool else "no_backup_code.no_pool",
            params=params,
            covers=covers,
        )
        return False
    grant.code = code
    grant.save(update_fields=["code"])
    access_put(
        organization=grant.organization,
        holder=grant.holder,
        locks=locks,
        code=code,
        name=name,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        now=now,
    )
    alert_resolve(organization=grant.organization, kind="no_backup_code", subject=subject)
    until_text = local_stamp(grant.valid_until, booking.property.timezone)
    alert_raise(
        organization=grant.organization,
        kind="backup_code_given",
        subject=subject,
        message=f"{who} got a backup code because {doors} could not be reached in time. "
        f"Until the lock answers again the code also works after check-out, {until_text}; "
        f"it is narrowed to the stay, or removed, as soon as the lock is reachable.",
        fix="Bring the lock back online (power, Wi-Fi, bridge); the portal does the rest.",
    )
    dispatch.send_on_commit(dispatch.SEND_ACCESS_EMAIL, grant.pk)
    return True


def backup_settled(*, access_code: AccessCode) -> None:
    """A door of a stay got its code: once every door has it, a "no backup code" alert is
    over (the lock came back in time), and so is the residual-risk alert of a backup code
    (its window is now narrowed to the stay on every door)."""
    grant_id = AccessGrant.id_from_holder(access_code.holder)
    open_alerts = Alert.objects.filter(
        organization_id=access_code.organization_id,
        kind__in=["no_backup_code", "backup_code_given"],
        resolved_at__isnull=True,
    )
    # Runs for every code set: most organizations have no such alert open, one query says so.
    if not grant_id or not open_alerts.exists():
        return
    grant = AccessGrant.objects.filter(pk=grant_id).first()
    if grant is None or not open_alerts.filter(subject=f"booking:{grant.booking_id}").exists():
        return
    states = AccessCode.objects.filter(holder=grant.holder, wanted=True).values_list(
        "state", flat=True
    )
    if all(state == CodeState.SET for state in states):
        for kind in ("no_backup_code", "backup_code_given"):
            alert_resolve(
                organization=grant.organization, kind=kind, subject=f"booking:{grant.booking_id}"
            )
