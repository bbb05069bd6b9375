"""Writes a manager makes on a stay from the web pages: create one by hand, change its dates,
cancel it, give it a new code, send the guest the current code again. Each goes through
`booking_upsert`/`grant_sync`, so the locks follow exactly as for a PMS or API change."""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction
from django.utils.translation import gettext as _

from bookings.emails import access_email_send, email_resend, grant_ready
from bookings.models import AccessGrant, Booking, BookingStatus, GuestEmail
from bookings.services import BookingData, booking_upsert, grant_redraw, stay_dates_check
from portal.models import Organization
from portal.services import ServiceError
from properties.models import Property

MANUAL_SOURCE = "manual"


def _check_dates(check_in: dt.date, check_out: dt.date) -> None:
    stay_dates_check(check_in=check_in, check_out=check_out)
    if check_out <= check_in:
        raise ServiceError(_("Check-out must be after check-in."), field="check_out")
    if (check_out - check_in).days > 366:
        raise ServiceError(_("A stay can last at most a year."), field="check_out")


def stay_create(
    *,
    organization: Organization,
    property: Property,
    check_in: dt.date,
    check_out: dt.date,
    guest_name: str = "",
    guest_email: str = "",
    guest_language: str = "en",
) -> Booking:
    _check_dates(check_in, check_out)
    booking, _created, _changed = booking_upsert(
        organization=organization,
        source=MANUAL_SOURCE,
        data=BookingData(
            external_id="M-" + secrets.token_hex(5).upper(),
            property=property,
            status=BookingStatus.CONFIRMED,
            check_in=check_in,
            check_out=check_out,
            guest_name=guest_name,
            guest_email=guest_email,
            guest_language=guest_language,
        ),
    )
    return booking


def stay_change_dates(*, booking: Booking, check_in: dt.date, check_out: dt.date) -> Booking:
    """Extend or shorten: the code stays the same unless it clashes in the new window. Exact
    check-in/out moments sent by a source give way to the new dates."""
    if booking.status == BookingStatus.CANCELLED:
        raise ServiceError(_("A cancelled stay cannot be changed."))
    _check_dates(check_in, check_out)
    booking, _c, _ch = booking_upsert(
        organization=booking.organization,
        source=booking.source,
        data=BookingData.from_booking(
            booking, check_in=check_in, check_out=check_out, check_in_at=None, check_out_at=None
        ),
    )
    return booking


def stay_cancel(*, booking: Booking) -> Booking:
    if booking.status == BookingStatus.CANCELLED:
        return booking
    booking, _c, _ch = booking_upsert(
        organization=booking.organization,
        source=booking.source,
        data=BookingData.from_booking(booking, status=BookingStatus.CANCELLED),
    )
    return booking


def stay_new_code(*, booking: Booking) -> AccessGrant:
    """Replace the stay's code on every lock (a guest shared it, or it leaked)."""
    grant = AccessGrant.objects.filter(booking=booking, active=True).first()
    if grant is None:
        raise ServiceError(_("This stay has no active code."))
    with transaction.atomic():
        return grant_redraw(grant_id=grant.pk, taken=grant.code)


def stay_send_code(*, booking: Booking) -> GuestEmail:
    """Send the guest the current code and window now, even if it was sent before."""
    if not booking.guest_email:
        raise ServiceError(_("The stay has no guest email address."))
    grant = AccessGrant.objects.filter(booking=booking, active=True).first()
    if grant is None or booking.status != BookingStatus.CONFIRMED:
        raise ServiceError(_("Only a confirmed stay with a code can be sent."))
    last = booking.emails.filter(sent_at__isnull=False).order_by("-created_at", "-pk").first()
    if last is None:
        raise ServiceError(
            "No email was sent yet: the first goes out by itself once the code is on every door."
        )
    if (
        last is not None
        and (last.valid_from, last.valid_until) == (grant.valid_from, grant.valid_until)
        and grant.code in last.body_text
    ):
        return email_resend(email=last)  # the same message again, word for word
    if not grant_ready(grant):  # never mail a code a door does not have yet
        raise ServiceError(
            "The new code is not on every door yet: the email goes out by itself once it is."
        )
    email = access_email_send(grant_id=grant.pk, force=True)  # the code or window changed
    if email is None:
        raise ServiceError(_("The email could not be prepared."))
    return email
