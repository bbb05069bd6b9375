"""Reads for the manager pages. Every function issues a fixed number of queries whatever the
data size (lists are bounded and their related rows fetched in one query each), so a page costs
the same for an operator with five flats as for one with five thousand."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field

from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from bookings.ical.models import IcalFeed
from bookings.models import (
    AccessGrant,
    Booking,
    BookingStatus,
    GuestEmail,
    StandingAccess,
    StayLink,
)
from bookings.pms.models import PmsConnection, PmsEvent, PmsEventOutcome
from locks.models import (
    AccessCode,
    Agent,
    BackupCode,
    Bridge,
    CodeState,
    CommandStatus,
    Lock,
    LockCommand,
    LockEvent,
    NukiWebConnection,
)
from portal.models import Alert, ApiKey, Membership, Organization
from properties.models import Property

LIST_LIMIT = 50
DAY_LIMIT = 25  # stays per day and direction on Today
UPCOMING_LIMIT = 15  # Today shows the next few after tomorrow; the Stays page has the rest
PAGE_SIZE = 50
NEARLY_FULL = 0.9  # share of a lock's code slots in use that counts as "nearly full"
UNSET_STATES = (CodeState.FAILED, CodeState.SETTING, CodeState.PLANNED)


def _with_access(stays: list[Booking]) -> list[Booking]:
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


# Today ------------------------------------------------------------------------------------


@dataclass
class Today:
    today: dt.date
    arrivals: dict[str, list] = field(default_factory=dict)  # "today"/"tomorrow" -> stays
    departures: dict[str, list] = field(default_factory=dict)
    upcoming: list = field(default_factory=list)
    more: dict = field(default_factory=dict)  # "arrivals_today"... -> stays not shown
    attention: list = field(default_factory=list)  # (lock, [reasons])
    failed_commands: list = field(default_factory=list)
    alerts: list = field(default_factory=list)


def locks_needing_attention(*, organization: Organization, limit: int = LIST_LIMIT) -> list:
    """Locks that are offline, battery critical, door left open, have a code that is not set
    in time, or are nearly full, each with its reasons.

    Four small queries instead of one grouped join: grouping every lock row with three
    filtered counts over all codes cost ~200 ms with 1,000 locks and 40,000 codes."""
    now = timezone.now()
    locks = Lock.objects.filter(organization=organization)
    flagged = set(
        locks.filter(
            Q(online=False) | Q(battery_critical=True) | Q(door_state__icontains="open")
        ).values_list("pk", flat=True)[: 10 * limit]
    )
    unset = dict(
        AccessCode.objects.filter(
            organization=organization,
            wanted=True,
            state__in=UNSET_STATES,
            push_after__lte=now,
        )
        .values_list("lock_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    in_use = dict(
        AccessCode.objects.filter(
            organization=organization, state__in=(CodeState.SET, CodeState.SETTING)
        )
        .values_list("lock_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    capacities = dict(locks.filter(pk__in=list(in_use)).values_list("pk", "capacity"))
    full = {
        pk for pk, n in in_use.items() if capacities.get(pk) and n >= NEARLY_FULL * capacities[pk]
    }
    ids = flagged | set(unset) | full
    rows = []
    for lock in (
        locks.filter(pk__in=list(ids))
        .select_related("property")
        .order_by("online", "-battery_critical", "name", "pk")[:limit]
    ):
        reasons = []
        if not lock.online:
            reasons.append("offline")
        if lock.battery_critical:
            reasons.append("battery")
        if "open" in (lock.door_state or ""):
            reasons.append("door")
        if lock.pk in unset:
            reasons.append("codes")
        if lock.pk in full:
            reasons.append("full")
        rows.append((lock, reasons))
    return rows


def today_for(*, organization: Organization, now: dt.datetime | None = None) -> Today:
    now = now or timezone.now()
    today = timezone.localdate(now)
    tomorrow = today + dt.timedelta(days=1)
    base = Booking.objects.filter(organization=organization, status=BookingStatus.CONFIRMED)
    moving = list(
        base.filter(Q(check_in__in=(today, tomorrow)) | Q(check_out__in=(today, tomorrow)))
        .select_related("property")
        .order_by("check_in", "pk")[: 4 * LIST_LIMIT]
    )
    upcoming = list(
        base.filter(check_in__gt=tomorrow)
        .select_related("property")
        .order_by("check_in", "pk")[:UPCOMING_LIMIT]
    )
    data = Today(today=today)
    data.arrivals = {
        "today": [s for s in moving if s.check_in == today],
        "tomorrow": [s for s in moving if s.check_in == tomorrow],
    }
    data.departures = {
        "today": [s for s in moving if s.check_out == today],
        "tomorrow": [s for s in moving if s.check_out == tomorrow],
    }
    # A long list goes on the Stays page: Today shows the first DAY_LIMIT of each and says so.
    for direction, lists in (("arrivals", data.arrivals), ("departures", data.departures)):
        for day, stays in lists.items():
            data.more[f"{direction}_{day}"] = max(0, len(stays) - DAY_LIMIT)
            lists[day] = stays[:DAY_LIMIT]
    shown = {
        s.pk: s for group in (data.arrivals, data.departures) for v in group.values() for s in v
    }
    _with_access(list(shown.values()) + upcoming)
    data.upcoming = upcoming
    data.attention = locks_needing_attention(organization=organization)
    data.failed_commands = failed_commands(organization=organization)
    data.alerts = list(
        Alert.objects.filter(organization=organization, resolved_at__isnull=True).order_by(
            "-created_at"
        )[:20]
    )
    return data


def failed_commands(*, organization: Organization, lock: Lock | None = None, limit: int = 20):
    qs = LockCommand.objects.filter(organization=organization, status=CommandStatus.FAILED)
    if lock is not None:
        qs = qs.filter(lock=lock)
    return list(qs.select_related("lock", "access_code").order_by("-finished_at", "-pk")[:limit])


# Properties -------------------------------------------------------------------------------


def property_list(*, organization: Organization, query: str = ""):
    qs = Property.objects.filter(organization=organization).annotate(lock_count=Count("locks"))
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(address__icontains=query))
    return qs.order_by("name", "pk")


def property_detail(*, prop: Property) -> dict:
    today = timezone.localdate()
    stays = list(
        Booking.objects.filter(property=prop, check_out__gte=today)
        .exclude(status=BookingStatus.CANCELLED)
        .order_by("check_in", "pk")[:LIST_LIMIT]
    )
    for stay in stays:
        stay.property = prop  # the tables name each stay's property: no query per row
    return {
        "locks": list(prop.locks.order_by("name", "pk")[:LIST_LIMIT]),
        "stays": _with_access(stays),
        # The URL itself (encrypted; it may carry the calendar's token) is not read: the
        # pages show url_masked.
        "feeds": list(
            IcalFeed.objects.filter(property=prop).defer("url").order_by("name", "pk")[:LIST_LIMIT]
        ),
        "standing": standing_for(prop=prop),
    }


def standing_for(*, prop: Property) -> list[StandingAccess]:
    """The property's standing access (active first), each with its chosen doors: two queries.
    The codes are not read here: a page shows them only when asked (standing_code)."""
    rows = list(
        StandingAccess.objects.filter(property=prop)
        .defer("code")
        .order_by("-active", "name", "pk")[:LIST_LIMIT]
    )
    doors: dict[int, list[str]] = {}
    through = StandingAccess.locks.through.objects.filter(
        standingaccess_id__in=[a.pk for a in rows]
    )
    for access_id, lock_name in through.order_by("lock__name").values_list(
        "standingaccess_id", "lock__name"
    ):
        doors.setdefault(access_id, []).append(lock_name)
    for access in rows:
        access.door_names = doors.get(access.pk, [])
    return rows


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


@dataclass
class Timeline:
    start: dt.date
    days: list[dt.date]
    rows: list[dict]  # {"stay": Booking, "offset": int, "span": int}


def property_timeline(*, prop: Property, start: dt.date, days: int = 28) -> Timeline:
    """Stays overlapping [start, start+days) laid out as bars on a day grid."""
    end = start + dt.timedelta(days=days)
    stays = list(
        Booking.objects.filter(property=prop, check_in__lt=end, check_out__gt=start)
        .exclude(status=BookingStatus.CANCELLED)
        .order_by("check_in", "pk")[: 2 * LIST_LIMIT]
    )
    _with_access(stays)
    rows = []
    for stay in stays:
        first = max(stay.check_in, start)
        last = min(stay.check_out, end)
        rows.append(
            {
                "stay": stay,
                "offset": (first - start).days,
                "span": max(1, (last - first).days),
            }
        )
    return Timeline(start, [start + dt.timedelta(days=i) for i in range(days)], rows)


# Locks ------------------------------------------------------------------------------------


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


# Stays ------------------------------------------------------------------------------------


def stay_list(
    *,
    organization: Organization,
    query: str = "",
    status: str = "",
    property_id: int | None = None,
    when: str = "upcoming",
):
    qs = Booking.objects.filter(organization=organization).select_related("property")
    today = timezone.localdate()
    if query:
        qs = qs.filter(
            Q(guest_name__icontains=query)
            | Q(guest_email__icontains=query)
            | Q(external_id__icontains=query)
        )
    if status:
        qs = qs.filter(status=status)
    if property_id:
        qs = qs.filter(property_id=property_id)
    if when == "upcoming":
        qs = qs.filter(check_out__gte=today).order_by("check_in", "pk")
    elif when == "past":
        qs = qs.filter(check_out__lt=today).order_by("-check_in", "-pk")
    else:
        qs = qs.order_by("-check_in", "-pk")
    return qs


def stays_with_access(stays) -> list:
    return _with_access(list(stays))


def stay_detail(*, booking: Booking) -> dict:
    grant = AccessGrant.objects.filter(booking=booking).first()
    codes = []
    if grant is not None:
        codes = list(
            AccessCode.objects.filter(holder=grant.holder)
            .select_related("lock")
            .annotate(
                attempts=Count("commands"),
            )
            .order_by("lock__name", "pk")
        )
        latest = {}
        for cmd in LockCommand.objects.filter(access_code__in=codes).order_by("created_at", "pk"):
            latest[cmd.access_code_id] = cmd
        for ac in codes:
            ac.command = latest.get(ac.pk)
    return {
        "grant": grant,
        "stay_link": StayLink.objects.filter(grant=grant).first() if grant else None,
        "codes": codes,
        "busy": any(ac.state in (CodeState.SETTING, CodeState.REMOVING) for ac in codes),
        "emails": list(booking.emails.order_by("-created_at", "-pk")[:20]),
    }


# Integrations and settings ---------------------------------------------------------------


def integrations_for(*, organization: Organization) -> dict:
    return {
        "bridges": list(
            Bridge.objects.filter(organization=organization)
            .annotate(lock_count=Count("locks"))
            .order_by("name", "pk")
        ),
        "agents": list(
            Agent.objects.filter(organization=organization)
            .annotate(lock_count=Count("locks"))
            .order_by("name", "pk")
        ),
        "nuki_web": NukiWebConnection.objects.filter(organization=organization).first(),
        "feeds": list(
            IcalFeed.objects.filter(organization=organization)
            .defer("url")
            .select_related("property")
            .order_by("property__name", "name", "pk")[:LIST_LIMIT]
        ),
        "feed_count": IcalFeed.objects.filter(organization=organization).count(),
        "nuki_web_locks": Lock.objects.filter(organization=organization, driver="nuki_web").count(),
    }


DELIVERIES_SHOWN = 5  # per PMS connection on the Integrations page


def pms_for(*, organization: Organization) -> dict:
    """PMS connections (at most one per kind), their last deliveries and the listings waiting
    for a property: three queries whatever the number of events."""
    connections = list(
        PmsConnection.objects.filter(organization=organization).defer("secret").order_by("kind")
    )
    latest = (
        PmsEvent.objects.filter(organization=organization)
        .defer("body", "headers")
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("connection_id")],
                order_by=[F("received_at").desc(), F("pk").desc()],
            )
        )
        .filter(rank__lte=DELIVERIES_SHOWN)
        .order_by("connection_id", "-received_at", "-pk")
    )
    deliveries: dict[int, list] = {}
    for event in latest:
        deliveries.setdefault(event.connection_id, []).append(event)
    for conn in connections:
        conn.deliveries = deliveries.get(conn.pk, [])
    kinds = {conn.pk: conn.get_kind_display() for conn in connections}
    unmapped = [
        {**row, "kind": kinds.get(row["connection_id"], "")}
        for row in PmsEvent.objects.filter(
            organization=organization, outcome=PmsEventOutcome.UNMAPPED
        )
        .exclude(listing_id="")
        .values("connection_id", "listing_id")
        .annotate(waiting=Count("pk"), last=Max("received_at"))
        .order_by("-last")[:LIST_LIMIT]
    ]
    return {"pms_connections": connections, "pms_unmapped": unmapped}


def settings_for(*, organization: Organization) -> dict:
    pools = list(
        Lock.objects.filter(organization=organization, backup_pool_size__gt=0)
        .select_related("property")
        .order_by("property__name", "name", "pk")[:LIST_LIMIT]
    )
    available = dict(
        BackupCode.objects.filter(
            lock__in=[lock.pk for lock in pools], status=BackupCode.Status.AVAILABLE
        )
        .values_list("lock_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for lock in pools:
        lock.backup_available = available.get(lock.pk, 0)
    return {
        "backup_pools": pools,
        "step_up_properties": list(
            Property.objects.filter(organization=organization)
            .exclude(step_up_verifier="")
            .order_by("name", "pk")[:LIST_LIMIT]
        ),
        "api_keys": list(
            ApiKey.objects.filter(organization=organization).order_by("revoked_at", "-created_at")[
                :100
            ]
        ),
        "members": list(
            Membership.objects.filter(organization=organization)
            .select_related("user")
            .order_by("user__username")[:200]
        ),
    }


def email_log(*, organization: Organization, query: str = ""):
    qs = GuestEmail.objects.filter(organization=organization).select_related("booking")
    if query:
        qs = qs.filter(Q(to__icontains=query) | Q(subject__icontains=query))
    return qs.order_by("-created_at", "-pk")
