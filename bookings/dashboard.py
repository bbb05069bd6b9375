"""Reads for the organization dashboard, in a fixed number of queries whatever the data size."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from bookings.models import Booking, BookingStatus, GuestEmail
from bookings.selectors import access_by_booking
from locks.models import CommandStatus, Lock, LockCommand
from portal.models import Alert, Organization
from properties.models import Property

LIST_LIMIT = 50


@dataclass
class Dashboard:
    property_count: int
    properties: list
    lock_count: int
    locks: list
    stays: list
    failed_commands: list
    alerts: list


def dashboard_for(*, organization: Organization) -> Dashboard:
    today = timezone.now().date()
    props = Property.objects.filter(organization=organization)
    locks = Lock.objects.filter(organization=organization)
    stays = list(
        Booking.objects.filter(
            organization=organization, status=BookingStatus.CONFIRMED, check_out__gte=today
        )
        .select_related("property")
        .order_by("check_in", "pk")[:LIST_LIMIT]
    )
    access = access_by_booking(stays)
    for stay in stays:
        stay.access = access.get(stay.pk, [])
    return Dashboard(
        property_count=props.count(),
        properties=list(props.order_by("name", "pk")[:LIST_LIMIT]),
        lock_count=locks.count(),
        # Locks that need attention first: offline, then battery critical.
        locks=list(
            locks.select_related("property").order_by("online", "-battery_critical", "name")[
                :LIST_LIMIT
            ]
        ),
        stays=stays,
        failed_commands=list(
            LockCommand.objects.filter(organization=organization, status=CommandStatus.FAILED)
            .select_related("lock", "access_code")
            .order_by("-finished_at")[:20]
        ),
        alerts=list(
            Alert.objects.filter(organization=organization, resolved_at__isnull=True).order_by(
                "-created_at"
            )[:20]
        ),
    )


def email_log(*, organization: Organization, query: str = ""):
    qs = GuestEmail.objects.filter(organization=organization).select_related("booking")
    if query:
        qs = qs.filter(Q(to__icontains=query) | Q(subject__icontains=query))
    return qs.order_by("-created_at")
