"""Today: arrivals and departures today and tomorrow, the next stays, locks needing attention,
failed commands and open alerts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils import timezone

from bookings.ical.models import IcalFeed
from bookings.models import Booking, BookingStatus
from locks.models import AccessCode, CodeState, Lock
from portal.models import Alert, Organization
from portal.times import zone
from properties.models import Property
from web.selectors.common import LIST_LIMIT, with_access
from web.selectors.locks import failed_commands

DAY_LIMIT = 25  # stays per day and direction on Today
UPCOMING_LIMIT = 15  # Today shows the next few after tomorrow; the Stays page has the rest
NEARLY_FULL = 0.9  # share of a lock's code slots in use that counts as "nearly full"
UNSET_STATES = (CodeState.FAILED, CodeState.SETTING, CodeState.PLANNED)


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


def local_days(*, organization: Organization, now: dt.datetime) -> dict[str, dt.date]:
    """Each of the organization's property zones with its local date at `now`: a property in
    Auckland is already in tomorrow while its Los Angeles organization is still in today, and
    its guests arrive on Auckland's date. One query, as many rows as zones (a handful)."""
    names = (
        Property.objects.filter(organization=organization)
        .values_list("timezone", flat=True)
        .distinct()
        .order_by()
    )
    return {name: now.astimezone(zone(name)).date() for name in names}


def _per_zone(days: dict[str, dt.date], condition: Callable[[dt.date], Q]) -> Q:
    """Stays whose property is in one of `days`' zones and that meet `condition` for that
    zone's own date."""
    wanted = Q(pk__in=[])  # an organization without properties: nothing
    for name, day in days.items():
        wanted |= Q(property__timezone=name) & condition(day)
    return wanted


def _moving(day: dt.date) -> Q:
    both = (day, day + dt.timedelta(days=1))
    return Q(check_in__in=both) | Q(check_out__in=both)


def _coming(day: dt.date) -> Q:
    return Q(check_in__gt=day + dt.timedelta(days=1))


def today_for(*, organization: Organization, now: dt.datetime | None = None) -> Today:
    """Today's and tomorrow's arrivals and departures, and the next stays. "Today" is each
    property's own date (its zone), not the organization's: a stay is listed under the day
    it has at its property, the page's date (the organization's) only heads the page."""
    now = now or timezone.now()
    days = local_days(organization=organization, now=now)
    base = Booking.objects.filter(organization=organization, status=BookingStatus.CONFIRMED)
    moving = list(
        base.filter(_per_zone(days, _moving))
        .select_related("property")
        .order_by("check_in", "pk")[: 4 * LIST_LIMIT]
    )
    upcoming = list(
        base.filter(_per_zone(days, _coming))
        .select_related("property")
        .order_by("check_in", "pk")[:UPCOMING_LIMIT]
    )
    data = Today(today=timezone.localdate(now))

    def on(stay: Booking, field: str, offset: int) -> bool:
        return getattr(stay, field) == days[stay.property.timezone] + dt.timedelta(days=offset)

    data.arrivals = {
        "today": [s for s in moving if on(s, "check_in", 0)],
        "tomorrow": [s for s in moving if on(s, "check_in", 1)],
    }
    data.departures = {
        "today": [s for s in moving if on(s, "check_out", 0)],
        "tomorrow": [s for s in moving if on(s, "check_out", 1)],
    }
    # A long list goes on the Stays page: Today shows the first DAY_LIMIT of each and says so.
    for direction, lists in (("arrivals", data.arrivals), ("departures", data.departures)):
        for day, stays in lists.items():
            data.more[f"{direction}_{day}"] = max(0, len(stays) - DAY_LIMIT)
            lists[day] = stays[:DAY_LIMIT]
    shown = {
        s.pk: s for group in (data.arrivals, data.departures) for v in group.values() for s in v
    }
    with_access(list(shown.values()) + upcoming)
    data.upcoming = upcoming
    data.attention = locks_needing_attention(organization=organization)
    data.failed_commands = failed_commands(organization=organization)
    data.alerts = alert_zones(
        organization=organization,
        alerts=list(
            Alert.objects.filter(organization=organization, resolved_at__isnull=True).order_by(
                "-created_at"
            )[:20]
        ),
    )
    return data


# The rows an alert's subject ("lock:12") can name, each with the way to its property's zone.
_SUBJECT_ZONES = {
    "lock": (Lock, "property__timezone"),
    "booking": (Booking, "property__timezone"),
    "ical_feed": (IcalFeed, "property__timezone"),
}


def alert_zones(*, organization: Organization, alerts: list[Alert]) -> list[Alert]:
    """Set each alert's `zone`: its property's (through the lock, stay or feed it is about),
    else the organization's (a bridge, a PMS listing). One query per kind of subject."""
    wanted: dict[str, set[int]] = {}
    for alert in alerts:
        kind, _, pk = (alert.subject or "").partition(":")
        if kind in _SUBJECT_ZONES and pk.isdigit():
            wanted.setdefault(kind, set()).add(int(pk))
    zones: dict[tuple[str, int], str] = {}
    for kind, pks in wanted.items():
        model, path = _SUBJECT_ZONES[kind]
        rows = model.objects.filter(organization=organization, pk__in=pks).values_list("pk", path)
        zones.update({(kind, pk): tz for pk, tz in rows if tz})
    for alert in alerts:
        kind, _, pk = (alert.subject or "").partition(":")
        key = (kind, int(pk)) if pk.isdigit() else None
        alert.zone = zones.get(key, organization.timezone)
    return alerts
