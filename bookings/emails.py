"""Guest emails: the code with its window in the property's local time, in the guest's
language; every message kept in the database."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from bookings.models import AccessGrant, BookingStatus, GuestEmail
from bookings.stay_links import TOKEN_MARK, expand_token, stay_link_rotated_since, stay_url
from locks.models import AccessCode, CodeState

logger = logging.getLogger(__name__)

# One template per language keeps the guest's email readable to translators as a whole text.
SUBJECTS = {
    ("en", GuestEmail.Kind.ACCESS): "Your door code for {property}",
    ("en", GuestEmail.Kind.UPDATED): "Your stay at {property} was changed: your door code",
    ("de", GuestEmail.Kind.ACCESS): "Ihr Türcode für {property}",
    ("de", GuestEmail.Kind.UPDATED): "Ihr Aufenthalt in {property} wurde geändert: Ihr Türcode",
}


def grant_ready(grant: AccessGrant) -> bool:
    """True when the stay's code is set on every lock it should be on (and there is one)."""
    states = list(
        AccessCode.objects.filter(holder=grant.holder, wanted=True).values_list("state", flat=True)
    )
    return bool(states) and all(state == CodeState.SET for state in states)


def access_email_send(*, grant_id: int, force: bool = False) -> GuestEmail | None:
    """Send the access email once per announced window (again only if the window changed).

    Locks the grant row so two workers that saw the last two locks become `set` at the same
    moment do not both send.
    """
    with transaction.atomic():
        grant = (
            AccessGrant.objects.select_for_update()
            .select_related("booking", "booking__property")
            .filter(pk=grant_id)
            .first()
        )
        if grant is None or not grant.active:
            return None
        booking = grant.booking
        if booking.status != BookingStatus.CONFIRMED or not booking.guest_email:
            return None
        if not force and not grant_ready(grant):
            return None
        previous = booking.emails.filter(sent_at__isnull=False).order_by("-created_at").first()
        if (
            not force
            and previous
            and (previous.valid_from, previous.valid_until)
            == (
                grant.valid_from,
                grant.valid_until,
            )
            # A stay cancelled and confirmed again has a new stay link: the guest needs it.
            and not stay_link_rotated_since(grant=grant, moment=previous.created_at)
        ):
            return None
        kind = GuestEmail.Kind.UPDATED if previous else GuestEmail.Kind.ACCESS
        email = _render(grant, kind)
        email.save()
    _deliver(email)
    return email


def _render(grant: AccessGrant, kind: str) -> GuestEmail:
    booking = grant.booking
    prop = booking.property
    tz = prop.tz
    language = booking.guest_language if booking.guest_language in ("en", "de") else "en"
    with translation.override(language), timezone.override(tz):
        context = {
            "booking": booking,
            "property": prop,
            "code": grant.code,
            "valid_from": grant.valid_from.astimezone(tz),
            "valid_until": grant.valid_until.astimezone(tz),
            "timezone": prop.timezone,
            "updated": kind == GuestEmail.Kind.UPDATED,
            "stay_url": stay_url(TOKEN_MARK),  # the real token only in the message sent
        }
        subject = SUBJECTS[(language, kind)].format(property=prop.name)
        text = render_to_string(f"emails/access.{language}.txt", context)
        html = render_to_string(f"emails/access.{language}.html", context)
    return GuestEmail(
        organization_id=booking.organization_id,
        booking=booking,
        kind=kind,
        to=booking.guest_email,
        language=language,
        subject=subject,
        body_text=text,
        body_html=html,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
    )


def _deliver(email: GuestEmail) -> None:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=expand_token(booking_id=email.booking_id, text=email.body_text),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email.to],
    )
    message.attach_alternative(
        expand_token(booking_id=email.booking_id, text=email.body_html), "text/html"
    )
    try:
        message.send()
    except Exception as exc:  # SMTP down: keep the row, show the error, allow a resend
        logger.warning("guest email %s not sent: %s", email.pk, exc.__class__.__name__)
        GuestEmail.objects.filter(pk=email.pk).update(error=str(exc)[:500])
        return
    email.sent_at = timezone.now()
    GuestEmail.objects.filter(pk=email.pk).update(sent_at=email.sent_at)


def email_resend(*, email: GuestEmail) -> GuestEmail:
    copy = GuestEmail.objects.create(
        organization_id=email.organization_id,
        booking_id=email.booking_id,
        kind=email.kind,
        to=email.to,
        language=email.language,
        subject=email.subject,
        body_text=email.body_text,
        body_html=email.body_html,
        valid_from=email.valid_from,
        valid_until=email.valid_until,
    )
    _deliver(copy)
    return copy
