"""What every PMS adapter shares: the Adapter interface, the Reservation it yields, the
Rejected error, and the helpers that read signatures and payload values (one module per PMS
beside this one: hostaway.py, guesty.py, ...)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

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


def hmac_hex(secret: str | bytes, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def same_digest(expected: str, presented: str) -> bool:
    return hmac.compare_digest(expected.encode(), presented.strip().lower().encode())


def basic_password(headers: Mapping[str, str]) -> str | None:
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2]


def check_basic(secret: str, headers: Mapping[str, str]) -> bool:
    password = basic_password(headers)
    return password is not None and hmac.compare_digest(password.encode(), secret.encode())


def check_hex_header(secret: str, body: bytes, presented: str, prefix: str = "") -> bool:
    presented = presented.strip()
    if prefix:
        if not presented.lower().startswith(prefix):
            return False
        presented = presented[len(prefix) :]
    return bool(presented) and same_digest(hmac_hex(secret, body), presented)


def clean_str(value) -> str:
    return "" if value is None else str(value).replace("\x00", "").strip()


def date_of(value) -> dt.date:
    text = clean_str(value)
    if len(text) < 10:
        raise ValueError(f"not a date: {value!r}")
    return dt.date.fromisoformat(text[:10])


def moment_of(value) -> dt.datetime | None:
    """A datetime that carries an offset, else None (a bare date or local time)."""
    text = clean_str(value)
    if len(text) <= 10:
        return None
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def clock_of(value) -> dt.time | None:
    """ "16:00", "16:00:00" or an hour as a number (Hostaway)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        hour = int(value)
        return dt.time(hour) if 0 <= hour <= 23 else None
    try:
        return dt.time.fromisoformat(clean_str(value))
    except ValueError:
        return None


def version_of(value, tiebreak: str = "") -> str:
    """A modification time as a string that sorts in time order ("" if unreadable).
    Times without an offset are taken as UTC: the same PMS always writes them the same way."""
    text = clean_str(value)
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


def language_of(value) -> str:
    code = clean_str(value).lower()[:2]
    return code if code in ("en", "de") else "en"


def name_of(*parts) -> str:
    return " ".join(p for p in (clean_str(x) for x in parts) if p)[:120]


class Adapter:
    kind: str = ""
    # Headers kept with the raw event (for audit and re-verification), lower-case names.
    kept_headers: tuple[str, ...] = ("content-type", "user-agent")

    def verify(self, *, secret: str, body: bytes, headers: Mapping[str, str]) -> None:
        raise NotImplementedError

    def parse(self, payload) -> list[Reservation]:
        """The reservations the payload describes; [] for events that are not about one."""
        raise NotImplementedError
