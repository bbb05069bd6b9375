"""Adapters for each PMS's native webhook: how a delivery is authenticated, and how its
payload becomes the reservations it describes.

Authentication follows what each PMS offers (README.md, Integrations; and the sample
payloads in bookings/tests/pms_samples.py):

- Hostaway: HTTP basic auth configured on the unified webhook; the connection's secret is
  the password (the user name is not checked).
- Guesty: Svix-style signature (`svix-id`, `svix-timestamp`, `svix-signature: v1,<base64>`
  over "id.timestamp.body"), key = the `whsec_` secret Guesty issues.
- Lodgify: `ms-signature: sha256=<hex>` HMAC-SHA256 of the body, key = the secret Lodgify
  returns when the webhook is subscribed.
- Hospitable: `Signature: <hex>` HMAC-SHA256 of the body, key = the webhook secret Hospitable
  hands out at onboarding.
- Smoobu: no signature and no basic auth: the unguessable URL is the credential.
- Generic JSON: `X-Latchkey-Signature: sha256=<hex>` HMAC-SHA256 of the body with the
  connection's secret, or basic auth with the secret as the password.

Ordering versions: every adapter extracts the PMS's own modification time where the payload
carries one (Hostaway `updatedOn`, Guesty `lastUpdatedAt`/`publishedAt`, Smoobu `modifiedAt`,
Hospitable envelope `created` + its ordered ULID id, Lodgify `updated_at` when present, generic
`updated_at`). Without one the service orders by receipt.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bookings.models import BookingStatus
from bookings.pms.models import PmsKind

SIGNATURE_TOLERANCE = 300  # seconds, for schemes that sign a timestamp (Guesty/Svix)


class Rejected(Exception):
    """The delivery is not authentic (401) or cannot be read (400)."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Reservation:
    """A reservation as a PMS describes it, in our words; the listing is not yet a property."""

    external_id: str
    listing_id: str
    status: str  # BookingStatus value
    check_in: dt.date
    check_out: dt.date
    paid: bool | None = None  # None: the PMS does not say
    check_in_time: dt.time | None = None
    check_out_time: dt.time | None = None
    check_in_at: dt.datetime | None = None
    check_out_at: dt.datetime | None = None
    guest_name: str = ""
    guest_email: str = ""
    guest_phone: str = ""
    guest_language: str = "en"
    version: str = ""  # sortable; "" when the PMS gives no modification time


# ---------------------------------------------------------------- helpers


def _hmac_hex(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _same(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.strip().lower().encode())


def _basic_password(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def _check_basic(secret: str, headers: Mapping[str, str]) -> bool:
    password = _basic_password(headers)
    return password is not None and hmac.compare_digest(password.encode(), secret.encode())


def _check_hex_header(secret: str, body: bytes, presented: str, prefix: str = "") -> bool:
    presented = presented.strip()
    if prefix:
        if not presented.lower().startswith(prefix):
            return False
        presented = presented[len(prefix) :]
    return bool(presented) and _same(_hmac_hex(secret, body), presented)


def _str(value) -> str:
    return "" if value is None else str(value).replace("\x00", "").strip()


def _date(value) -> dt.date:
    text = _str(value)
    if len(text) < 10:
        raise ValueError(f"not a date: {value!r}")
    return dt.date.fromisoformat(text[:10])


def _moment(value) -> dt.datetime | None:
    """A datetime that carries an offset, else None (a bare date or local time)."""
    text = _str(value)
    if len(text) <= 10:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _clock(value) -> dt.time | None:
    """ "16:00", "16:00:00" or an hour as a number (Hostaway)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        hour = int(value)
        return dt.time(hour) if 0 <= hour <= 23 else None
    try:
        return dt.time.fromisoformat(_str(value))
    except ValueError:
        return None


def version_of(value, tiebreak: str = "") -> str:
    """A modification time as a string that sorts in time order ("" if unreadable).
    Times without an offset are taken as UTC: the same PMS always writes them the same way."""
    text = _str(value)
    if not text:
        return ""
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    stamp = moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"t:{stamp}" + (f"|{tiebreak}" if tiebreak else "")


def _language(value) -> str:
    code = _str(value).lower()[:2]
    return code if code in ("en", "de") else "en"


def _name(*parts) -> str:
    return " ".join(p for p in (_str(x) for x in parts) if p)[:120]


# ---------------------------------------------------------------- adapters


class Adapter:
    kind: str = ""
    # Headers kept with the raw event (for audit and re-verification), lower-case names.
    kept_headers: tuple[str, ...] = ("content-type", "user-agent")

    def verify(self, *, secret: str, body: bytes, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def parse(self, payload) -> list[Reservation]:
        """The reservations the payload describes; [] for events that are not about one."""
        raise NotImplementedError


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
        if not _check_basic(secret, headers):
            raise Rejected("Basic auth password missing or wrong.")

    @staticmethod
    def _reservation(payload: dict) -> dict | None:
        """The reservation object: under `data` (unified webhook), under `payload.data` (as
        some accounts receive it), or the body itself (the legacy reservation webhook)."""
        if "listingMapId" in payload:
            return payload
        event = _str(payload.get("event"))
        if _str(payload.get("object")) not in ("", "reservation") or not event.startswith(
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
        status = self.STATUS.get(_str(data.get("status")).lower(), BookingStatus.TENTATIVE)
        payment = _str(data.get("paymentStatus")).lower()
        paid = None if payment in ("", "unknown") else payment == "paid"
        return [
            Reservation(
                external_id=_str(data["id"]),
                listing_id=_str(data["listingMapId"]),
                status=status,
                paid=paid,
                check_in=_date(data["arrivalDate"]),
                check_out=_date(data["departureDate"]),
                check_in_time=_clock(data.get("checkInTime")),
                check_out_time=_clock(data.get("checkOutTime")),
                guest_name=_str(data.get("guestName"))
                or _name(data.get("guestFirstName"), data.get("guestLastName")),
                guest_email=_str(data.get("guestEmail")),
                guest_phone=_str(data.get("phone")),
                guest_language=_language(data.get("guestLocale")),
                version=version_of(data.get("updatedOn")),
            )
        ]


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
        event = _str(payload.get("event"))
        if not event.startswith("reservation.") or "message" in event:
            return []
        data = payload["reservation"]
        money = data.get("money") or {}
        paid = money.get("isFullyPaid")
        check_in_at, check_out_at = _moment(data.get("checkIn")), _moment(data.get("checkOut"))
        check_in = _date(data.get("checkInDateLocalized") or data["checkIn"])
        check_out = _date(data.get("checkOutDateLocalized") or data["checkOut"])
        guest = data.get("guest") or {}
        stamp = data.get("lastUpdatedAt") or payload.get("publishedAt")
        return [
            Reservation(
                external_id=_str(data["_id"]),
                listing_id=_str(data["listingId"]),
                status=self.STATUS.get(_str(data.get("status")).lower(), BookingStatus.TENTATIVE),
                paid=paid if isinstance(paid, bool) else None,
                check_in=check_in,
                check_out=check_out,
                check_in_at=check_in_at,
                check_out_at=check_out_at,
                guest_name=_str(guest.get("fullName"))
                or _name(guest.get("firstName"), guest.get("lastName")),
                guest_email=_str(guest.get("email")),
                guest_phone=_str(guest.get("phone")),
                guest_language=_language(guest.get("preferredLanguage")),
                version=version_of(stamp),
            )
        ]


class Smoobu(Adapter):
    kind = PmsKind.SMOOBU
    ACTIONS = {"newReservation", "updateReservation", "cancelReservation", "deleteReservation"}

    def verify(self, *, secret, body, headers):
        """Smoobu neither signs nor authenticates its webhooks: the URL is the credential."""

    def parse(self, payload):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        action = _str(payload.get("action"))
        if action not in self.ACTIONS:
            return []
        data = payload["data"]
        if data.get("is-blocked-booking"):
            return []  # a blocked period, not a stay
        cancelled = action in ("cancelReservation", "deleteReservation") or (
            _str(data.get("type")).lower() == "cancellation"
        )
        price_paid = _str(data.get("price-paid")).lower()
        apartment = data.get("apartment") or {}
        return [
            Reservation(
                external_id=_str(data["id"]),
                listing_id=_str(apartment.get("id") or data.get("apartmentId")),
                status=BookingStatus.CANCELLED if cancelled else BookingStatus.CONFIRMED,
                paid={"yes": True, "no": False}.get(price_paid),
                check_in=_date(data["arrival"]),
                check_out=_date(data["departure"]),
                check_in_time=_clock(data.get("check-in")),
                check_out_time=_clock(data.get("check-out")),
                guest_name=_str(data.get("guest-name"))
                or _name(data.get("firstname"), data.get("lastname")),
                guest_email=_str(data.get("email")),
                guest_phone=_str(data.get("phone")),
                guest_language=_language(data.get("language")),
                version=version_of(data.get("modifiedAt")),
            )
        ]


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
        if not _check_hex_header(secret, body, headers.get("ms-signature", ""), "sha256="):
            raise Rejected("Bad or missing ms-signature.")

    def _one(self, item) -> Reservation | None:
        if not isinstance(item, dict):
            raise ValueError("expected a JSON object")
        action = _str(item.get("action"))
        if not action.startswith("booking_"):
            return None
        booking = item["booking"]
        guest = item.get("guest") or {}
        status = self.STATUS.get(_str(booking.get("status")).lower(), BookingStatus.TENTATIVE)
        due = booking.get("balance_due", booking.get("amount_due"))
        paid = None
        if due is not None:
            try:
                paid = float(due) <= 0
            except (TypeError, ValueError):
                paid = None
        stamp = booking.get("updated_at") or booking.get("date_updated")
        return Reservation(
            external_id=_str(booking["id"]),
            listing_id=_str(booking["property_id"]),
            status=status,
            paid=paid,
            check_in=_date(booking["date_arrival"]),
            check_out=_date(booking["date_departure"]),
            guest_name=_str(guest.get("name")),
            guest_email=_str(guest.get("email")),
            guest_phone=_str(guest.get("phone_number") or guest.get("phone")),
            guest_language=_language(booking.get("language") or guest.get("language")),
            version=version_of(stamp),
        )

    def parse(self, payload):
        items = payload if isinstance(payload, list) else [payload]  # Lodgify may batch
        return [r for r in (self._one(item) for item in items) if r is not None]


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
        if not _check_hex_header(secret, body, headers.get("Signature", "")):
            raise Rejected("Bad or missing Signature.")

    def parse(self, payload):
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if not _str(payload.get("action")).startswith("reservation."):
            return []
        data = payload["data"]
        current = ((data.get("reservation_status") or {}).get("current") or {}).get("category")
        status = self.STATUS.get(_str(current or data.get("status")).lower())
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
                external_id=_str(data["id"]),
                listing_id=_str(listing),
                status=status or BookingStatus.TENTATIVE,
                check_in=_date(data["arrival_date"]),
                check_out=_date(data["departure_date"]),
                check_in_at=_moment(arrival),
                check_out_at=_moment(departure),
                guest_name=_name(guest.get("first_name"), guest.get("last_name")),
                guest_email=_str(guest.get("email")),
                guest_phone=_str(phones[0]) if phones else "",
                guest_language=_language(guest.get("language")),
                version=version_of(payload.get("created"), _str(payload.get("id"))),
            )
        ]


class Generic(Adapter):
    """Our own JSON: the body of POST /api/v1/bookings/ with `property` naming the listing
    (a property's external_ref or an explicit mapping), plus optional `paid` (bool) and
    `updated_at` (the sender's modification time, used for ordering)."""

    kind = PmsKind.GENERIC
    kept_headers = (*Adapter.kept_headers, "x-latchkey-signature")

    def verify(self, *, secret, body, headers):
        signature = headers.get("X-Latchkey-Signature", "")
        if signature:
            if _check_hex_header(secret, body, signature, "sha256="):
                return
            raise Rejected("Bad X-Latchkey-Signature.")
        if not _check_basic(secret, headers):
            raise Rejected("Send X-Latchkey-Signature: sha256=<hex> or basic auth.")

    def parse(self, payload):
        from bookings.api import DateOrDateTimeField

        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        status = _str(payload.get("status"))
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
                external_id=_str(payload["external_id"])[:120],
                listing_id=_str(payload["property"]),
                status=status,
                paid=paid if isinstance(paid, bool) else None,
                check_in=in_at.date() if in_at else check_in,
                check_out=out_at.date() if out_at else check_out,
                check_in_at=in_at,
                check_out_at=out_at,
                check_in_time=_clock(payload.get("check_in_time")),
                check_out_time=_clock(payload.get("check_out_time")),
                guest_name=_str(guest.get("name"))[:120],
                guest_email=_str(guest.get("email")),
                guest_phone=_str(guest.get("phone"))[:40],
                guest_language=_language(guest.get("language")),
                version=version_of(payload.get("updated_at")),
            )
        ]


ADAPTERS: dict[str, Adapter] = {
    a.kind: a for a in (Hostaway(), Guesty(), Smoobu(), Lodgify(), Hospitable(), Generic())
}
