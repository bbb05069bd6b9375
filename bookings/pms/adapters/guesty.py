"""The Guesty adapter: see bookings/pms/adapters/__init__.py for how each PMS authenticates."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

from bookings.models import BookingStatus
from bookings.pms.adapters.base import (
    SIGNATURE_TOLERANCE,
    Adapter,
    Rejected,
    Reservation,
    clean_str,
    date_of,
    language_of,
    moment_of,
    name_of,
    version_of,
)
from bookings.pms.models import PmsKind


class Guesty(Adapter):
    kind = PmsKind.GUESTY
    kept_headers = (*Adapter.kept_headers, "svix-id", "svix-timestamp")
    STATUS = {
        "confirmed": BookingStatus.CONFIRMED,
        "checked_in": BookingStatus.CONFIRMED,
        "checked_out": BookingStatus.CONFIRMED,
        "canceled": BookingStatus.CANCELLED,
        "cancelled": BookingStatus.CANCELLED,
        "declined": BookingStatus.CANCELLED,
        "expired": BookingStatus.CANCELLED,
        "closed": BookingStatus.CANCELLED,
    }

    @staticmethod
    def _key(secret: str) -> bytes:
        if secret.startswith("whsec_"):
            try:
                return base64.b64decode(secret[len("whsec_") :])
            except binascii.Error:
                pass
        return secret.encode()

    def verify(self, *, secret, body, headers, now: float | None = None):
        msg_id = headers.get("svix-id") or headers.get("webhook-id") or ""
        stamp = headers.get("svix-timestamp") or headers.get("webhook-timestamp") or ""
        signatures = headers.get("svix-signature") or headers.get("webhook-signature") or ""
        if not (msg_id and stamp and signatures):
            raise Rejected("Signature headers missing.")
        try:
            age = abs((now or time.time()) - int(stamp))
        except ValueError:
            raise Rejected("Bad signature timestamp.") from None
        if age > SIGNATURE_TOLERANCE:
            raise Rejected("Signature timestamp too old or in the future.")
        signed = f"{msg_id}.{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key(secret), signed, hashlib.sha256).digest())
        ok = False
        for part in signatures.split():
            version, _, sig = part.partition(",")
            # Compare every candidate (no early exit): constant time per candidate.
            ok |= version == "v1" and hmac.compare_digest(expected, sig.encode())
        if not ok:
            raise Rejected("Bad signature.")

    def parse(self, payload):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        event = clean_str(payload.get("event"))
        if not event.startswith("reservation.") or "message" in event:
            return []
        data = payload["reservation"]
        money = data.get("money") or {}
        paid = money.get("isFullyPaid")
        check_in_at, check_out_at = moment_of(data.get("checkIn")), moment_of(data.get("checkOut"))
        check_in = date_of(data.get("checkInDateLocalized") or data["checkIn"])
        check_out = date_of(data.get("checkOutDateLocalized") or data["checkOut"])
        guest = data.get("guest") or {}
        stamp = data.get("lastUpdatedAt") or payload.get("publishedAt")
        return [
            Reservation(
                external_id=clean_str(data["_id"]),
                listing_id=clean_str(data["listingId"]),
                status=self.STATUS.get(
                    clean_str(data.get("status")).lower(), BookingStatus.TENTATIVE
                ),
                paid=paid if isinstance(paid, bool) else None,
                check_in=check_in,
                check_out=check_out,
                check_in_at=check_in_at,
                check_out_at=check_out_at,
                guest_name=clean_str(guest.get("fullName"))
                or name_of(guest.get("firstName"), guest.get("lastName")),
                guest_email=clean_str(guest.get("email")),
                guest_phone=clean_str(guest.get("phone")),
                guest_language=language_of(guest.get("preferredLanguage")),
                version=version_of(stamp),
            )
        ]
