"""Stays: the list with each stay's code state, and one stay's codes, commands and emails."""

from __future__ import annotations

from django.db.models import Count, Q
from django.utils import timezone

from bookings.models import AccessCodeHistory, AccessGrant, Booking, StayLink
from locks.models import AccessCode, CodeState, LockCommand
from portal.models import Organization
from web.selectors.common import with_access


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
    return with_access(list(stays))


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
    # Codes of a stay long over were folded into history (bookings.code_history): no digits.
    history = []
    if grant is not None:
        history = list(
            AccessCodeHistory.objects.filter(holder=grant.holder)
            .select_related("lock")
            .order_by("lock__name", "valid_from", "pk")
        )
    emails = list(booking.emails.order_by("-created_at", "-pk")[:20])
    return {
        "grant": grant,
        "stay_link": StayLink.objects.filter(grant=grant).first() if grant else None,
        "codes": codes,
        "history": history,
        "busy": any(ac.state in (CodeState.SETTING, CodeState.REMOVING) for ac in codes),
        "emails": emails,
        # "Resend" only once a first email went out; until then the page says which doors
        # the first email waits for (it goes out by itself once the code is on every one).
        "email_sent": any(email.sent_at for email in emails),
        "email_waits_for": [ac.lock.name for ac in codes if ac.wanted and not ac.works_on_lock()],
    }
