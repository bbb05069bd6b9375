"""Read an iCalendar export into stays, the way the channels write them.

What the channels export (per their hosts' calendars):
- Airbnb: all-day events; reservations are `SUMMARY:Reserved` with
  `DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/HM…\\n
  Phone Number (Last 4 Digits): 1234`; blocked nights are `SUMMARY:Airbnb (Not available)`.
- Booking.com: all-day events; reservations and closed nights alike are often
  `SUMMARY:CLOSED - Not available` (so a Booking.com feed that only closes nights gives no stays:
  the manager should use a PMS connection for Booking.com guests); newer exports say
  `SUMMARY:Reserved` or the guest's name.
- VRBO (HomeAway): `SUMMARY:Reserved - Jane Doe` for reservations, `SUMMARY:Blocked` for blocks.
- Other PMS exports: the guest's name or "Booked", sometimes with times and a TZID.

All-day events keep their dates; the property's check-in/out times are applied when the stay is
planned. Timed events keep their exact moments (floating times are read in the property's zone).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from icalendar import Calendar


class NotICalendar(ValueError):
    """The answer is not an iCalendar document (an HTML login page, JSON, garbage)."""


# Summaries that mean "these nights are not bookable", never a guest.
_BLOCKED = re.compile(
    r"not\s+available|unavailable|^\s*blocked\b|\bclosed\b|owner\s+block|maintenance|"
    r"^\s*block(ed)?\s*$|nicht\s+verf[üu]gbar|geschlossen|gesperrt",
    re.IGNORECASE,
)
# Summaries that say "a reservation" without naming the guest.
_GENERIC = re.compile(
    r"^\s*(reserved|reservation|booked|booking|busy|occupied|airbnb|vrbo|belegt|gebucht)\s*$",
    re.IGNORECASE,
)
_RESERVED_NAME = re.compile(r"^\s*reserved\s*[-\u2013:]\s*(?P<name>.+)$", re.IGNORECASE)
_PHONE_LAST4 = re.compile(r"phone\s+number\s*\(last\s*4\s*digits\)\s*:\s*(\d{4})", re.I)
_RES_URL = re.compile(r"reservation\s+url\s*:\s*(https://\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class FeedStay:
    """One reservation found in a feed."""

    uid: str
    check_in: dt.date
    check_out: dt.date
    check_in_at: dt.datetime | None = None  # exact moments (timed events), aware
    check_out_at: dt.datetime | None = None
    cancelled: bool = False  # STATUS:CANCELLED: the channel says so explicitly
    guest_name: str = ""
    phone_last4: str = ""
    reservation_url: str = ""

    def ends_before(self, moment: dt.datetime, tz: ZoneInfo) -> bool:
        if self.check_out_at is not None:
            return self.check_out_at <= moment
        return self.check_out < moment.astimezone(tz).date()


@dataclass
class ParsedFeed:
    stays: list[FeedStay]
    events: int  # every VEVENT, stays or not
    ignored: int  # blocked, free, recurring or malformed events
    # UIDs of events that could not be read: not stays, but not "missing" either.
    unreadable: set[str] = field(default_factory=set)


def _text(event, name: str) -> str:
    value = event.get(name)
    return str(value).strip() if value is not None else ""


def stable_uid(raw: str, start: object) -> str:
    """The event's UID as the booking's external id (at most 120 characters). A feed without
    UIDs gets one derived from the start, so a stay keeps its booking across fetches."""
    uid = raw or f"nouid-{start}"
    if len(uid) <= 120:
        return uid
    return uid[:80] + "#" + hashlib.sha256(uid.encode()).hexdigest()[:32]


def _moment(value: dt.datetime, tz: ZoneInfo) -> dt.datetime:
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def parse_feed(body: bytes, *, tz: ZoneInfo) -> ParsedFeed:
    """Parse a feed's body. Raises NotICalendar when it is not one."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    if not text[:15].upper().startswith("BEGIN:VCALENDAR"):
        raise NotICalendar(
            "The answer is not an iCalendar file (it does not start with BEGIN:VCALENDAR)."
        )
    try:
        calendar = Calendar.from_ical(text)
    except (ValueError, IndexError, KeyError) as exc:
        raise NotICalendar(f"The iCalendar file could not be read: {exc}") from None
    stays: list[FeedStay] = []
    events = ignored = 0
    unreadable: set[str] = set()
    for event in calendar.walk("VEVENT"):
        events += 1
        try:
            stay = _stay(event, tz)
        except Exception:  # one broken event (bad date, unknown zone) must not stop the others
            stay = None
            uid = _text(event, "UID")
            if uid:
                unreadable.add(stable_uid(uid, None))
        if stay is None:
            ignored += 1
        else:
            stays.append(stay)
    return ParsedFeed(stays=stays, events=events, ignored=ignored, unreadable=unreadable)


def _stay(event, tz: ZoneInfo) -> FeedStay | None:
    summary = _text(event, "SUMMARY")
    description = _text(event, "DESCRIPTION")
    status = _text(event, "STATUS").upper()
    if _BLOCKED.search(summary) or _text(event, "TRANSP").upper() == "TRANSPARENT":
        return None
    if event.get("RRULE") is not None or event.get("RECURRENCE-ID") is not None:
        return None  # reservations never repeat; a weekly block does
    start_prop, end_prop = event.get("DTSTART"), event.get("DTEND")
    if start_prop is None:
        return None
    start = start_prop.dt
    if end_prop is not None:
        end = end_prop.dt
    elif event.get("DURATION") is not None:
        end = start + event.get("DURATION").dt
    else:
        end = start + dt.timedelta(days=1) if not isinstance(start, dt.datetime) else None
    if end is None:
        return None
    if isinstance(start, dt.datetime) != isinstance(end, dt.datetime):
        return None  # one date and one time: malformed
    extras = {
        "uid": stable_uid(_text(event, "UID"), start),
        "cancelled": status == "CANCELLED",
        "guest_name": _guest_name(summary),
        "phone_last4": _match(_PHONE_LAST4, description),
        "reservation_url": (_match(_RES_URL, description) or _url_property(event))[:500],
    }
    if isinstance(start, dt.datetime):
        start_at, end_at = _moment(start, tz), _moment(end, tz)
        if end_at <= start_at:
            return None
        return FeedStay(
            check_in=start_at.astimezone(tz).date(),
            check_out=end_at.astimezone(tz).date(),
            check_in_at=start_at,
            check_out_at=end_at,
            **extras,
        )
    if end <= start:
        return None
    return FeedStay(check_in=start, check_out=end, **extras)


def _guest_name(summary: str) -> str:
    named = _RESERVED_NAME.match(summary)
    if named:
        return named.group("name").strip()[:120]
    if not summary or _GENERIC.match(summary):
        return ""
    return summary[:120]


def _match(pattern: re.Pattern, text: str) -> str:
    found = pattern.search(text)
    return found.group(1).rstrip(".,;)") if found else ""


def _url_property(event) -> str:
    url = _text(event, "URL")
    if url.startswith("https://"):
        return url[:500]
    return ""
