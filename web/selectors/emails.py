"""The guest email log."""

from __future__ import annotations

from django.db.models import Q

from bookings.models import GuestEmail
from portal.models import Organization


def email_log(*, organization: Organization, query: str = ""):
    qs = GuestEmail.objects.filter(organization=organization).select_related("booking__property")
    if query:
        qs = qs.filter(Q(to__icontains=query) | Q(subject__icontains=query))
    return qs.order_by("-created_at", "-pk")
