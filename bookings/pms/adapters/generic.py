"""The Generic adapter: see bookings/pms/adapters/__init__.py for how each PMS authenticates."""

from __future__ import annotations

import datetime as dt

from bookings.fields import DateOrDateTimeField
from bookings.models import BookingStatus
from bookings.pms.adapters.base import (
    Adapter,
    Rejected,
    Reservation,
    check_basic,
    check_hex_header,
    clean_str,
    clock_of,
    language_of,
    version_of,
)
from bookings.pms.models import PmsKind


class Generic(Adapter):
    """Our own JSON: the body of POST /api/v1/bookings/ with `property` naming the listing
    (a property's external_ref or an explicit mapping), plus optional `paid` (bool) and
    `updated_at` (the sender's modification time, used for ordering)."""

    kind = PmsKind.GENERIC
    kept_headers = (*Adapter.kept_headers, "x-latchkey-signature")

    def verify(self, *, secret, body, headers):
        signature = headers.get("X-Latchkey-Signature", "")
        if signature:
            if check_hex_header(secret, body, signature, "sha256="):
                return
            raise Rejected("Bad X-Latchkey-Signature.")
        if not check_basic(secret, headers):
            raise Rejected("Send X-Latchkey-Signature: sha256=<hex> or basic auth.")

    def parse(self, payload):

        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        status = clean_str(payload.get("status"))
        if status not in BookingStatus.values:
            raise ValueError(f"status must be one of {', '.join(BookingStatus.values)}")
        field = DateOrDateTimeField()
        try:
            check_in, check_out = (
                field.to_internal_value(payload["check_in"]),
                field.to_internal_value(payload["check_out"]),
            )
        except Exception as exc:  # DRF ValidationError: say which value
            raise ValueError(f"check_in/check_out: {exc}") from None
        in_at = check_in if isinstance(check_in, dt.datetime) else None
        out_at = check_out if isinstance(check_out, dt.datetime) else None
        guest = payload.get("guest") or {}
        paid = payload.get("paid")
        return [
            Reservation(
                external_id=clean_str(payload["external_id"])[:120],
                listing_id=clean_str(payload["property"]),
                status=status,
                paid=paid if isinstance(paid, bool) else None,
                check_in=in_at.date() if in_at else check_in,
                check_out=out_at.date() if out_at else check_out,
                check_in_at=in_at,
                check_out_at=out_at,
                check_in_time=clock_of(payload.get("check_in_time")),
                check_out_time=clock_of(payload.get("check_out_time")),
                guest_name=clean_str(guest.get("name"))[:120],
                guest_email=clean_str(guest.get("email")),
                guest_phone=clean_str(guest.get("phone"))[:40],
                guest_language=language_of(guest.get("language")),
                version=version_of(payload.get("updated_at")),
            )
        ]
