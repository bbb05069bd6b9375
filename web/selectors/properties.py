"""Properties: the list, one property's page (locks, stays, feeds, standing access) and its
timeline of stays."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from bookings.ical.models import IcalFeed
from bookings.models import Booking, BookingStatus, StandingAccess
from portal.models import Organization
from properties.models import Property
from web.selectors.common import LIST_LIMIT, with_access


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
        "stays": with_access(stays),
        # The URL itself (encrypted; it may carry the calendar's token) is not read: the
        # pages show url_masked.
        "feeds": list(
            IcalFeed.objects.filter(property=prop)
            .defer("url")
            .select_related("property")  # its status names the property's zone
            .order_by("name", "pk")[:LIST_LIMIT]
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
    with_access(stays)
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
