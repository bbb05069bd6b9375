"""The Lodgify adapter: see bookings/pms/adapters/__init__.py for how each PMS authenticates."""

from __future__ import annotations

from bookings.models import BookingStatus
from bookings.pms.adapters.base import (
    Adapter,
    Rejected,
    Reservation,
    check_hex_header,
    clean_str,
    date_of,
    language_of,
    version_of,
)
from bookings.pms.models import PmsKind


class Lodgify(Adapter):
    kind = PmsKind.LODGIFY
    kept_headers = (*Adapter.kept_headers, "ms-signature")
    STATUS = {
        "booked": BookingStatus.CONFIRMED,
        "declined": BookingStatus.CANCELLED,
        "cancelled": BookingStatus.CANCELLED,
        "canceled": BookingStatus.CANCELLED,
    }

    def verify(self, *, secret, body, headers):
        if not check_hex_header(secret, body, headers.get("ms-signature", ""), "sha256="):
            raise Rejected("Bad or missing ms-signature.")

    def _one(self, item) -> Reservation | None:
        if not isinstance(item, dict):
            raise ValueError("expected a JSON object")
        action = clean_str(item.get("action"))
        if not action.startswith("booking_"):
            return None
        booking = item["booking"]
        guest = item.get("guest") or {}
        status = self.STATUS.get(clean_str(booking.get("status")).lower(), BookingStatus.TENTATIVE)
        due = booking.get("balance_due", booking.get("amount_due"))
        paid = None
        if due is not None:
            try:
                paid = float(due) <= 0
            except (TypeError, ValueError):
                paid = None
        stamp = booking.get("updated_at") or booking.get("date_updated")
        return Reservation(
            external_id=clean_str(booking["id"]),
            listing_id=clean_str(booking["property_id"]),
            status=status,
            paid=paid,
            check_in=date_of(booking["date_arrival"]),
            check_out=date_of(booking["date_departure"]),
            guest_name=clean_str(guest.get("name")),
            guest_email=clean_str(guest.get("email")),
            guest_phone=clean_str(guest.get("phone_number") or guest.get("phone")),
            guest_language=language_of(booking.get("language") or guest.get("language")),
            version=version_of(stamp),
        )

    def parse(self, payload):
        items = payload if isinstance(payload, list) else [payload]  # Lodgify may batch
        return [r for r in (self._one(item) for item in items) if r is not None]
