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
from bookings.stay.links import TOKEN_MARK, expand_token, stay_link_rotated_since, stay_url
from locks.models import AccessCode

logger = logging.getLogger(__name__)

# One template per language keeps the guest's email readable to translators as a whole text.
SUBJECTS = {
    ("en", GuestEmail.Kind.ACCESS): "Your door code for {property}",
    ("en", GuestEmail.Kind.UPDATED): "Your stay at {property} was changed: your door code",
    ("de", GuestEmail.Kind.ACCESS): "Ihr Türcode für {property}",
    ("de", GuestEmail.Kind.UPDATED): "Ihr Aufenthalt in {property} wurde geändert: Ihr Türcode",
}


def grant_ready(grant: AccessGrant) -> bool:
    """True when the stay's code works on every lock it should be on (and there is one): set,
    or a backup code the lock holds with a wider window it could not narrow yet."""
    codes = list(AccessCode.objects.filter(holder=grant.holder, wanted=True))
    return bool(codes) and all(ac.works_on_lock() for ac in codes)


def access_email_send(*, grant_id: int, force: bool = False) -> GuestEmail | None:
    """Send the access email once per announced window (again only if the window changed).

    Locks the grant row so two workers that saw the last two locks become `set` at the same
    moment do not both send.
    """
    with transaction.atomic():
        grant = (
            AccessGrant.objects.select_for_update(of=("self",), no_key=True)
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
            and _announced(previous) == _announced_now(grant)
            # A stay cancelled and confirmed again has a new stay link: the guest needs it.
            and not stay_link_rotated_since(grant=grant, moment=previous.created_at)
        ):
            return None
        kind = GuestEmail.Kind.UPDATED if previous else GuestEmail.Kind.ACCESS
        email = _render(grant, kind, code_changed=bool(previous and previous.code != grant.code))
        email.save()
    _deliver(email)
    return email


def _announced(email: GuestEmail) -> tuple:
    """What an email told the guest: window, code and place."""
    return (email.valid_from, email.valid_until, email.code, email.property_id)


def _announced_now(grant: AccessGrant) -> tuple:
    return (grant.valid_from, grant.valid_until, grant.code, grant.booking.property_id)


def _render(grant: AccessGrant, kind: str, *, code_changed: bool = False) -> GuestEmail:
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
            "code_changed": code_changed,
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
        code=grant.code,
        property=prop,
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
        code=email.code,
        property_id=email.property_id,
    )
    _deliver(copy)
    return copy
