"""Locks: the list, one lock's activity log (and its CSV), commands and backup code pool."""

from __future__ import annotations

import csv
import datetime as dt
import io

from bookings.models import AccessGrant
from locks.models import BackupCode, CommandStatus, Lock, LockCommand, LockEvent
from portal.models import Organization
from web.selectors.common import LIST_LIMIT


def lock_list(*, organization: Organization, query: str = "", property_id: int | None = None):
    qs = Lock.objects.filter(organization=organization).select_related("property")
    if query:
        qs = qs.filter(name__icontains=query)
    if property_id:
        qs = qs.filter(property_id=property_id)
    return qs.order_by("property__name", "name", "pk")


def lock_events(
    *,
    lock: Lock,
    kind: str = "",
    since: dt.date | None = None,
    until: dt.date | None = None,
):
    qs = LockEvent.objects.filter(lock=lock)
    if kind:
        qs = qs.filter(kind=kind)
    if since:
        qs = qs.filter(occurred_at__date__gte=since)
    if until:
        qs = qs.filter(occurred_at__date__lte=until)
    return qs.order_by("-occurred_at", "-pk")


def lock_event_kinds(*, lock: Lock) -> list[str]:
    return list(
        LockEvent.objects.filter(lock=lock).order_by("kind").values_list("kind", flat=True)
        .distinct()[:50]
    )  # fmt: skip


def lock_events_csv(*, events, tz) -> str:
    """The activity log as CSV in the lock's local time; plain values, not model instances
    (a few thousand rows in well under the page budget)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["occurred_at", "kind", "source", "message"])
    rows = events.values_list("occurred_at", "kind", "source", "message")
    for occurred_at, kind, source, message in rows.iterator(chunk_size=5000):
        if message[:1] in ("=", "+", "-", "@"):  # no formulas in a spreadsheet
            message = "'" + message
        writer.writerow([occurred_at.astimezone(tz).isoformat(), kind, source, message])
    return out.getvalue()


def recent_commands(*, lock: Lock, limit: int = 10) -> list:
    return list(lock.commands.order_by("-created_at", "-pk")[:limit])


def failed_commands(*, organization: Organization, lock: Lock | None = None, limit: int = 20):
    qs = LockCommand.objects.filter(organization=organization, status=CommandStatus.FAILED)
    if lock is not None:
        qs = qs.filter(lock=lock)
    return list(
        qs.select_related("lock__property", "access_code").order_by("-finished_at", "-pk")[:limit]
    )


def backup_pool_codes(*, lock: Lock, limit: int = LIST_LIMIT) -> list[BackupCode]:
    """The digits of the lock's pool (available ones first), for the reveal only."""
    return list(
        BackupCode.objects.filter(lock=lock)
        .exclude(status=BackupCode.Status.RETIRED)
        .order_by("status", "pk")
        .only("pk", "code", "status")[:limit]
    )


def backup_pool(*, lock: Lock, limit: int = LIST_LIMIT) -> list[BackupCode]:
    """The lock's backup codes in use or given out (retired ones are history), each with the
    stay it went to: two queries. Digits are deferred: shown only when asked for."""
    rows = list(
        BackupCode.objects.filter(lock=lock)
        .exclude(status=BackupCode.Status.RETIRED)
        .select_related("access_code")
        .defer("code", "access_code__code")
        .order_by("status", "-taken_at", "pk")[:limit]
    )

    def grant_of(backup: BackupCode) -> int | None:
        kind, _, rest = backup.taken_by.partition(":")
        return int(rest) if kind == "grant" and rest.isdigit() else None

    stays = dict(
        AccessGrant.objects.filter(
            pk__in=[g for b in rows if (g := grant_of(b))], organization_id=lock.organization_id
        ).values_list("pk", "booking_id")
    )
    for b in rows:
        b.stay_id = stays.get(grant_of(b))
    return rows
