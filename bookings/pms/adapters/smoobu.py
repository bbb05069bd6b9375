"""The Smoobu adapter: see bookings/pms/adapters/__init__.py for how each PMS authenticates."""

from __future__ import annotations

from bookings.models import BookingStatus
from bookings.pms.adapters.base import (
    Adapter,
    Reservation,
    clean_str,
    clock_of,
    date_of,
    language_of,
    name_of,
    version_of,
)
from bookings.pms.models import PmsKind


class Smoobu(Adapter):
    kind = PmsKind.SMOOBU
    ACTIONS = {"newReservation", "updateReservation", "cancelReservation", "deleteReservation"}

    def verify(self, *, secret, body, headers):
        """Smoobu neither signs nor authenticates its webhooks: the URL is the credential."""

    def parse(self, payload):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        action = clean_str(payload.get("action"))
        if action not in self.ACTIONS:
            return []
        data = payload["data"]
        if data.get("is-blocked-booking"):
            return []  # a blocked period, not a stay
        cancelled = action in ("cancelReservation", "deleteReservation") or (
            clean_str(data.get("type")).lower() == "cancellation"
        )
        price_paid = clean_str(data.get("price-paid")).lower()
        apartment = data.get("apartment") or {}
        return [
            Reservation(
                external_id=clean_str(data["id"]),
                listing_id=clean_str(apartment.get("id") or data.get("apartmentId")),
                status=BookingStatus.CANCELLED if cancelled else BookingStatus.CONFIRMED,
                paid={"yes": True, "no": False}.get(price_paid),
                check_in=date_of(data["arrival"]),
                check_out=date_of(data["departure"]),
                check_in_time=clock_of(data.get("check-in")),
                check_out_time=clock_of(data.get("check-out")),
                guest_name=clean_str(data.get("guest-name"))
                or name_of(data.get("firstname"), data.get("lastname")),
                guest_email=clean_str(data.get("email")),
                guest_phone=clean_str(data.get("phone")),
                guest_language=language_of(data.get("language")),
                version=version_of(data.get("modifiedAt")),
            )
        ]
