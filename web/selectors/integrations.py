"""The Integrations page: bridges, agents, Nuki Web, iCal feeds and PMS connections."""

from __future__ import annotations

from django.db.models import Count, F, Max, Window
from django.db.models.functions import RowNumber

from bookings.ical.models import IcalFeed
from bookings.pms.models import PmsConnection, PmsEvent, PmsEventOutcome
from locks.models import Agent, Bridge, Lock, NukiWebConnection
from portal.models import Organization
from web.selectors.common import LIST_LIMIT


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
