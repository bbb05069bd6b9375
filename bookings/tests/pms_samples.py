"""Sample webhook payloads for every PMS adapter, written from each PMS's public docs, and
how each PMS authenticates its delivery. Used by the tests and by bench/pms_webhooks.py.

- Hostaway unified webhook: {"object": "reservation", "event": "reservation.created" |
  "reservation.updated", "accountId", "data": <reservation>} with optional basic auth.
- Guesty Open API: {"event": "reservation.new" | "reservation.updated", "reservation": {...}},
  signed Svix-style (svix-id, svix-timestamp, svix-signature).
- Smoobu: {"action": "newReservation" | "updateReservation" | "cancelReservation", "user",
  "data": <reservation as GET /api/reservations/{id}>}, unsigned.
- Lodgify: {"action": "booking_change", "booking": {...}, "guest": {...}}, header
  ms-signature: sha256=<hex HMAC-SHA256 of the body>.
- Hospitable: {"id": <ULID>, "action": "reservation.created" | "reservation.changed",
  "data": <reservation>, "created", "version": "1.0"}, header Signature: <hex HMAC-SHA256>.
- Generic: our POST /api/v1/bookings/ body plus `paid` and `updated_at`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field


@dataclass
class Stay:
    id: str
    listing: str
    check_in: dt.date
    check_out: dt.date
    status: str = "confirmed"  # our words: confirmed / tentative / cancelled
    paid: bool = True
    modified: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    first_name: str = "Anna"
    last_name: str = "Gruber"
    email: str = "anna@example.com"
    language: str = "de"


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC)


def hostaway(stay: Stay, event: str = "reservation.created") -> dict:
    status = {"confirmed": "new", "tentative": "pending", "cancelled": "cancelled"}[stay.status]
    if status == "new" and event == "reservation.updated":
        status = "modified"
    return {
        "object": "reservation",
        "event": event,
        "accountId": 10250,
        "data": {
            "id": int(stay.id),
            "listingMapId": int(stay.listing),
            "channelId": 2018,
            "channelName": "airbnbOfficial",
            "reservationId": f"{stay.listing}-2018-{stay.id}",
            "hostawayReservationId": stay.id,
            "guestName": f"{stay.first_name} {stay.last_name}",
            "guestFirstName": stay.first_name,
            "guestLastName": stay.last_name,
            "guestEmail": stay.email,
            "guestLocale": stay.language,
            "phone": "+43 660 1234567",
            "numberOfGuests": 2,
            "arrivalDate": stay.check_in.isoformat(),
            "departureDate": stay.check_out.isoformat(),
            "checkInTime": 16,
            "checkOutTime": 10,
            "nights": (stay.check_out - stay.check_in).days,
            "status": status,
            "paymentStatus": "Paid" if stay.paid else "Unpaid",
            "totalPrice": 240,
            "currency": "EUR",
            "insertedOn": "2026-01-01 00:00:00",
            "updatedOn": _utc(stay.modified).strftime("%Y-%m-%d %H:%M:%S"),
            "doorCode": None,
        },
    }


def guesty(stay: Stay, event: str = "reservation.new") -> dict:
    status = {"confirmed": "confirmed", "tentative": "reserved", "cancelled": "canceled"}
    return {
        "event": event,
        "reservation": {
            "_id": stay.id,
            "listingId": stay.listing,
            "accountId": "62a8a2be2e53190032102a6e",
            "confirmationCode": f"GY-{stay.id[-6:]}",
            "status": status[stay.status],
            "source": "airbnb2",
            "checkIn": f"{stay.check_in.isoformat()}T14:00:00.000Z",
            "checkOut": f"{stay.check_out.isoformat()}T09:00:00.000Z",
            "checkInDateLocalized": stay.check_in.isoformat(),
            "checkOutDateLocalized": stay.check_out.isoformat(),
            "nightsCount": (stay.check_out - stay.check_in).days,
            "guestsCount": 2,
            "guest": {
                "_id": "6310a0759dcce60032e95a6c",
                "fullName": f"{stay.first_name} {stay.last_name}",
                "firstName": stay.first_name,
                "lastName": stay.last_name,
                "email": stay.email,
                "phone": "12016665626",
            },
            "money": {
                "currency": "EUR",
                "isFullyPaid": stay.paid,
                "balanceDue": 0 if stay.paid else 240,
            },
            "createdAt": "2026-01-01T00:00:00.000Z",
            "lastUpdatedAt": _utc(stay.modified).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        },
    }


def smoobu(stay: Stay, action: str = "newReservation") -> dict:
    if stay.status == "cancelled":
        action = "cancelReservation"
    return {
        "action": action,
        "user": 7,
        "data": {
            "id": int(stay.id),
            "reference-id": f"BDC-{stay.id}",
            "type": "cancellation" if stay.status == "cancelled" else "reservation",
            "arrival": stay.check_in.isoformat(),
            "departure": stay.check_out.isoformat(),
            "created-at": "2026-01-01 00:00",
            "modifiedAt": _utc(stay.modified).strftime("%Y-%m-%d %H:%M:%S"),
            "apartment": {"id": int(stay.listing), "name": "Alpine Loft"},
            "channel": {"id": 465614, "name": "Booking.com"},
            "guest-name": f"{stay.first_name} {stay.last_name}",
            "firstname": stay.first_name,
            "lastname": stay.last_name,
            "email": stay.email,
            "phone": "+43 660 1234567",
            "adults": 2,
            "children": 0,
            "check-in": "16:00",
            "check-out": "10:00",
            "notice": "",
            "price": 240,
            "price-paid": "Yes" if stay.paid else "No",
            "prepayment": 0,
            "prepayment-paid": "No",
            "deposit": 0,
            "deposit-paid": "No",
            "language": stay.language,
            "is-blocked-booking": False,
            "guestId": 1200,
        },
    }


def lodgify(stay: Stay, action: str = "booking_change") -> dict:
    # Lodgify's booking object carries no modification time: receipt order applies.
    status = {"confirmed": "Booked", "tentative": "Tentative", "cancelled": "Declined"}
    return {
        "action": action,
        "booking": {
            "type": "Booking",
            "id": int(stay.id),
            "date_arrival": f"{stay.check_in.isoformat()}T00:00:00",
            "date_departure": f"{stay.check_out.isoformat()}T00:00:00",
            "date_created": "2026-01-01T00:00:00",
            "property_id": int(stay.listing),
            "property_name": "Amazing Property on the Beach",
            "status": status[stay.status],
            "room_types": [{"id": 1, "room_type_id": 12345, "name": "Whole flat", "people": 2}],
            "currency_code": "EUR",
            "source": "Manual",
            "language": stay.language,
            "nights": (stay.check_out - stay.check_in).days,
            "balance_due": 0 if stay.paid else 240,
        },
        "guest": {
            "name": f"{stay.first_name} {stay.last_name}",
            "email": stay.email,
            "phone_number": "667675867768",
        },
    }


def hospitable(stay: Stay, action: str = "reservation.created", event_id: str = "") -> dict:
    status = {"confirmed": "accepted", "tentative": "request", "cancelled": "cancelled"}
    offset = "+01:00"
    return {
        "id": event_id or f"01J{stay.id[-10:].upper():0>10}{int(stay.modified.timestamp()):013d}",
        "action": action,
        "data": {
            "id": stay.id,
            "code": f"HM{stay.id[-8:].upper()}",
            "platform": "airbnb",
            "platform_id": f"HM{stay.id[-8:].upper()}",
            "booking_date": "2026-01-01T00:00:00Z",
            "arrival_date": f"{stay.check_in.isoformat()}T16:00:00{offset}",
            "departure_date": f"{stay.check_out.isoformat()}T10:00:00{offset}",
            "check_in": f"{stay.check_in.isoformat()}T16:00:00{offset}",
            "check_out": f"{stay.check_out.isoformat()}T10:00:00{offset}",
            "nights": (stay.check_out - stay.check_in).days,
            "reservation_status": {
                "current": {"category": status[stay.status], "sub_category": None},
                "history": [],
            },
            "status": status[stay.status],
            "guests": {"total": 2, "adult_count": 2, "child_count": 0},
            "guest": {
                "first_name": stay.first_name,
                "last_name": stay.last_name,
                "email": stay.email,
                "phone_numbers": ["+43 660 1234567"],
                "language": stay.language,
            },
            "properties": [{"id": stay.listing, "name": "Alpine Loft"}],
        },
        "created": _utc(stay.modified).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "version": "1.0",
    }


def generic(stay: Stay, event: str = "") -> dict:
    return {
        "external_id": stay.id,
        "property": stay.listing,
        "status": stay.status,
        "check_in": stay.check_in.isoformat(),
        "check_out": stay.check_out.isoformat(),
        "guest": {
            "name": f"{stay.first_name} {stay.last_name}",
            "email": stay.email,
            "language": stay.language,
        },
        "paid": stay.paid,
        "updated_at": _utc(stay.modified).isoformat(),
    }


BUILDERS = {
    "hostaway": hostaway,
    "guesty": guesty,
    "smoobu": smoobu,
    "lodgify": lodgify,
    "hospitable": hospitable,
    "generic": generic,
}
UPDATE_EVENT = {
    "hostaway": "reservation.updated",
    "guesty": "reservation.updated",
    "smoobu": "updateReservation",
    "lodgify": "booking_change",
    "hospitable": "reservation.changed",
    "generic": "",
}
# Kinds whose payload carries the PMS's modification time (ordering by the PMS's clock).
VERSIONED = {"hostaway", "guesty", "smoobu", "hospitable", "generic"}


def payload(kind: str, stay: Stay, *, update: bool = False) -> bytes:
    builder = BUILDERS[kind]
    body = builder(stay, UPDATE_EVENT[kind]) if update else builder(stay)
    return json.dumps(body).encode()


def signed_headers(
    kind: str, secret: str, body: bytes, *, now: float | None = None, msg_id: str = ""
) -> dict[str, str]:
    """HTTP headers as the PMS would send them (as Django test-client/httpx2 header names)."""
    headers = {"Content-Type": "application/json"}
    if kind in ("hostaway", "generic"):
        token = base64.b64encode(f"latchkey:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    if kind == "generic":
        del headers["Authorization"]
        headers["X-Latchkey-Signature"] = (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
    if kind == "lodgify":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers["ms-signature"] = f"sha256={digest}"
    if kind == "hospitable":
        headers["Signature"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if kind == "guesty":
        stamp = str(int(now or time.time()))
        msg_id = msg_id or "msg_" + hashlib.sha256(body).hexdigest()[:24]
        key = (
            base64.b64decode(secret[len("whsec_") :])
            if secret.startswith("whsec_")
            else secret.encode()
        )
        mac = hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
        headers.update(
            {
                "svix-id": msg_id,
                "svix-timestamp": stamp,
                "svix-signature": "v1," + base64.b64encode(mac).decode(),
            }
        )
    return headers


def django_headers(headers: dict[str, str]) -> dict[str, str]:
    """The same headers as keyword arguments for Django's test client."""
    out = {}
    for name, value in headers.items():
        if name.lower() == "content-type":
            continue
        out["HTTP_" + name.upper().replace("-", "_")] = value
    return out
