"""The Hostaway adapter: see bookings/pms/adapters/__init__.py for how each PMS authenticates."""

from __future__ import annotations

from bookings.models import BookingStatus
from bookings.pms.adapters.base import (
    Adapter,
    Rejected,
    Reservation,
    check_basic,
    clean_str,
    clock_of,
    date_of,
    language_of,
    name_of,
    version_of,
)
from bookings.pms.models import PmsKind


class Hostaway(Adapter):
    kind = PmsKind.HOSTAWAY
    kept_headers = (*Adapter.kept_headers,)
    STATUS = {
        "new": BookingStatus.CONFIRMED,
        "modified": BookingStatus.CONFIRMED,
        "ownerstay": BookingStatus.CONFIRMED,
        "cancelled": BookingStatus.CANCELLED,
        "declined": BookingStatus.CANCELLED,
        "expired": BookingStatus.CANCELLED,
    }

    def verify(self, *, secret, body, headers):
        if not check_basic(secret, headers):
            raise Rejected("Basic auth password missing or wrong.")

    @staticmethod
    def _reservation(payload: dict) -> dict | None:
        """The reservation object: under `data` (unified webhook), under `payload.data` (as
        some accounts receive it), or the body itself (the legacy reservation webhook)."""
        if "listingMapId" in payload:
            return payload
        event = clean_str(payload.get("event"))
        if clean_str(payload.get("object")) not in ("", "reservation") or not event.startswith(
            "reservation"
        ):
            return None
        inner = payload.get("payload")
        if isinstance(inner, dict):
            return inner.get("data", inner)
        return payload["data"]

    def parse(self, payload):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        data = self._reservation(payload)
        if data is None:
            return []
        status = self.STATUS.get(clean_str(data.get("status")).lower(), BookingStatus.TENTATIVE)
        payment = clean_str(data.get("paymentStatus")).lower()
        paid = None if payment in ("", "unknown") else payment == "paid"
        return [
            Reservation(
                external_id=clean_str(data["id"]),
                listing_id=clean_str(data["listingMapId"]),
                status=status,
                paid=paid,
                check_in=date_of(data["arrivalDate"]),
                check_out=date_of(data["departureDate"]),
                check_in_time=clock_of(data.get("checkInTime")),
                check_out_time=clock_of(data.get("checkOutTime")),
                guest_name=clean_str(data.get("guestName"))
                or name_of(data.get("guestFirstName"), data.get("guestLastName")),
                guest_email=clean_str(data.get("guestEmail")),
                guest_phone=clean_str(data.get("phone")),
                guest_language=language_of(data.get("guestLocale")),
                version=version_of(data.get("updatedOn")),
            )
        ]
