"""The Hospitable adapter: see bookings/pms/adapters/__init__.py for how each PMS authenticates."""

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
    moment_of,
    name_of,
    version_of,
)
from bookings.pms.models import PmsKind


class Hospitable(Adapter):
    kind = PmsKind.HOSPITABLE
    kept_headers = (*Adapter.kept_headers, "signature")
    STATUS = {
        "accepted": BookingStatus.CONFIRMED,
        "cancelled": BookingStatus.CANCELLED,
        "canceled": BookingStatus.CANCELLED,
        "declined": BookingStatus.CANCELLED,
        "expired": BookingStatus.CANCELLED,
        "not accepted": BookingStatus.CANCELLED,
    }

    def verify(self, *, secret, body, headers):
        if not check_hex_header(secret, body, headers.get("Signature", "")):
            raise Rejected("Bad or missing Signature.")

    def parse(self, payload):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if not clean_str(payload.get("action")).startswith("reservation."):
            return []
        data = payload["data"]
        current = ((data.get("reservation_status") or {}).get("current") or {}).get("category")
        status = self.STATUS.get(clean_str(current or data.get("status")).lower())
        properties = data.get("properties") or []
        listing = data.get("property_id") or (properties[0].get("id") if properties else "")
        guest = data.get("guest") or {}
        phones = guest.get("phone_numbers") or []
        arrival, departure = (
            data.get("check_in") or data["arrival_date"],
            (data.get("check_out") or data["departure_date"]),
        )
        return [
            Reservation(
                external_id=clean_str(data["id"]),
                listing_id=clean_str(listing),
                status=status or BookingStatus.TENTATIVE,
                check_in=date_of(data["arrival_date"]),
                check_out=date_of(data["departure_date"]),
                check_in_at=moment_of(arrival),
                check_out_at=moment_of(departure),
                guest_name=name_of(guest.get("first_name"), guest.get("last_name")),
                guest_email=clean_str(guest.get("email")),
                guest_phone=clean_str(phones[0]) if phones else "",
                guest_language=language_of(guest.get("language")),
                version=version_of(payload.get("created"), clean_str(payload.get("id"))),
            )
        ]
