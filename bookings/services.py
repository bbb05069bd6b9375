"""Writes for bookings: upsert a booking, keep its AccessGrant and the locks' desired codes
in line with it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bookings import dispatch
from bookings.app_access import app_access_sync, app_access_withdraw
from bookings.codes import NoCodeAvailable, draw_code
from bookings.models import AccessGrant, Booking, BookingStatus, StandingAccess
from bookings.planning import stay_window, turnover_window
from locks.integrations.base import Capability
from locks.models import Lock
from locks.sync.desired import (
    access_put,
    access_withdraw,
    codes_taken,
    property_locks_locked,
)
from portal.models import Organization
from portal.services import ServiceError
from properties.models import Property

# Stays are planned in the property's time zone with up to days of lead and lag around them:
# days near year 1 or 9999 overflow that arithmetic. No real stay lies outside this range.
FIRST_STAY_DAY = dt.date(2000, 1, 1)
LAST_STAY_DAY = dt.date(2199, 12, 31)


def stay_dates_check(*, check_in: dt.date, check_out: dt.date) -> None:
    """ServiceError naming the field when a day is outside FIRST_STAY_DAY..LAST_STAY_DAY.
    Every source (API, PMS, pages) checks before anything is stored."""
    for field, day in (("check_in", check_in), ("check_out", check_out)):
        if not FIRST_STAY_DAY <= day <= LAST_STAY_DAY:
            raise ServiceError(
                f"{field} must be between {FIRST_STAY_DAY} and {LAST_STAY_DAY}.", field=field
            )


@dataclass(frozen=True)
class BookingData:
    """A booking as a source describes it, already validated."""

    external_id: str
    property: Property
    status: str
    check_in: dt.date
    check_out: dt.date
    check_in_time: dt.time | None = None
    check_out_time: dt.time | None = None
    check_in_at: dt.datetime | None = None
    check_out_at: dt.datetime | None = None
    guest_name: str = ""
    guest_email: str = ""
    guest_phone: str = ""
    guest_language: str = "en"
    guest_phone_last4: str = ""
    reservation_url: str = ""
    guest_nuki_email: str = ""

    @classmethod
    def from_booking(cls, booking: Booking, **changes) -> BookingData:
        """The booking as it stands, with `changes`: what an edit (new dates, a cancellation)
        sends back through booking_upsert, so that every field it does not name is kept. One
        place, so a field added to BookingData is never wiped by an edit that forgot it."""
        current = {f.name: getattr(booking, f.name) for f in dataclasses.fields(cls)}
        return cls(**{**current, **changes})

    def fields(self) -> dict:
        return {
            "property": self.property,
            "status": self.status,
            "check_in": self.check_in,
            "check_out": self.check_out,
            "check_in_time": self.check_in_time,
            "check_out_time": self.check_out_time,
            "check_in_at": self.check_in_at,
            "check_out_at": self.check_out_at,
            "guest_name": self.guest_name,
            "guest_email": self.guest_email,
            "guest_phone": self.guest_phone,
            "guest_language": self.guest_language,
            "guest_phone_last4": self.guest_phone_last4,
            "reservation_url": self.reservation_url,
            "guest_nuki_email": self.guest_nuki_email,
        }


# What identifies the guest: removed by retention, and never brought back by a later delivery.
GUEST_FIELDS = ("guest_name", "guest_email", "guest_nuki_email", "guest_phone", "guest_phone_last4")


def booking_upsert(
    *, organization: Organization, source: str, data: BookingData
) -> tuple[Booking, bool, bool]:
    """Create or update a booking by (source, external_id). Returns (booking, created, changed).

    Replaying an identical booking changes nothing and queues nothing.

    Insert first: most deliveries are new stays, and that is one statement for them. A stay we
    already hold (or one a concurrent delivery is creating: PostgreSQL waits for it, then
    reports the collision) makes the insert fail on its unique key (`booking_upsert_key`,
    Booking.Meta): the transaction is rolled back and tried again, reading (and locking) the
    row first. No ON CONFLICT, which could hide another constraint: any other collision is
    tried again the same way and, if it persists, raised with its own error as the cause.
    """
    error: IntegrityError | None = None
    for _ in range(3):
        try:
            return _upsert(
                organization=organization, source=source, data=data, insert_first=error is None
            )
        except IntegrityError as exc:
            error = exc
    raise RuntimeError("Booking upsert kept colliding.") from error


@transaction.atomic
def _upsert(*, organization: Organization, source: str, data: BookingData, insert_first: bool):
    fields = data.fields()
    booking = None
    if not insert_first:
        booking = (
            Booking.objects.select_for_update(no_key=True)
            .filter(organization=organization, source=source, external_id=data.external_id)
            .first()
        )
    created = booking is None
    before: list[Booking] = []
    if created:
        booking = Booking(
            organization=organization, source=source, external_id=data.external_id, **fields
        )
        booking.save(force_insert=True)  # a collision: see booking_upsert
    else:
        if booking.anonymised_at is not None:  # the guest was forgotten: a late resend
            fields = {**fields, **{n: getattr(booking, n) for n in GUEST_FIELDS if n in fields}}
        current = {name: getattr(booking, name) for name in fields}
        current["property"] = booking.property_id
        wanted = {**fields, "property": data.property.pk}
        if current == wanted:
            return booking, False, False
        if booking.status == BookingStatus.CONFIRMED:
            before = _turnover_neighbours(booking)
        for name, value in fields.items():
            setattr(booking, name, value)
        booking.updated_at = timezone.now()
        booking.save()
    booking._access = grant_sync(booking=booking, new=created)
    # A turnover changed (a stay arrived, moved, left): its neighbours' windows follow, each
    # in its own transaction after this one (re-planning them here would take their rows in
    # the opposite order to their own upserts: a deadlock waiting to happen).
    after = _turnover_neighbours(booking)
    for other_id in {b.pk for b in before + after}:
        dispatch.send_on_commit(dispatch.REPLAN_STAY, other_id)
    return booking, created, True


@transaction.atomic
def stay_replan(*, booking_id: int) -> None:
    """Re-plan one stay's code window (a neighbouring stay changed)."""
    booking = (
        Booking.objects.select_for_update(of=("self",))
        .select_related("property", "organization")
        .filter(pk=booking_id)
        .first()
    )
    if booking is not None:
        grant_sync(booking=booking)


def _turnover_neighbours(booking: Booking) -> list[Booking]:
    prop = booking.property
    if not (prop.cleaning_minutes or prop.lead_minutes or prop.lag_minutes):
        return []  # nothing to trim: windows never reach into the neighbour's day
    return adjacent_stays(booking)


def stay_locks(booking: Booking, *, shared: bool = False) -> list[Lock]:
    """The stay's locks that take codes, row-locked so that two bookings cannot draw the same
    free code at the same time (`shared`: see `property_locks_locked`; the caller then claims
    its codes with `_free_code(claim=True)`)."""
    locks = property_locks_locked(property_id=booking.property_id, shared=shared)
    return [lock for lock in locks if Capability.CODES in lock.capabilities]


def _nominal_window(booking: Booking) -> tuple[dt.datetime, dt.datetime]:
    """Check-in to check-out, without lead or lag."""
    prop = booking.property
    return stay_window(
        tz=prop.tz,
        check_in=booking.check_in,
        check_out=booking.check_out,
        check_in_time=booking.check_in_time or prop.check_in_time,
        check_out_time=booking.check_out_time or prop.check_out_time,
        check_in_at=booking.check_in_at,
        check_out_at=booking.check_out_at,
    )


def adjacent_stays(booking: Booking) -> list[Booking]:
    """Confirmed stays of the same property that end the day this one begins (or the day
    before) or begin the day it ends (or the day after): the neighbours of a turnover. One
    query."""
    day = dt.timedelta(days=1)
    return list(
        Booking.objects.filter(property_id=booking.property_id, status=BookingStatus.CONFIRMED)
        .filter(
            Q(check_out__range=(booking.check_in - day, booking.check_in))
            | Q(check_in__range=(booking.check_out, booking.check_out + day))
        )
        .exclude(pk=booking.pk)
        .select_related("property")
    )


def booking_window(
    booking: Booking, *, neighbours: list[Booking] | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The code's window: check-in to check-out with the property's lead and lag, trimmed on
    a same-day turnover so the cleaning window lies between two guests' codes."""
    prop = booking.property
    start, end = _nominal_window(booking)
    if neighbours is None:
        neighbours = (
            adjacent_stays(booking)
            if prop.cleaning_minutes or prop.lead_minutes or (prop.lag_minutes)
            else []
        )
    previous_end = next_start = None
    for other in neighbours:
        other_start, other_end = _nominal_window(other)
        if other_end <= start and (previous_end is None or other_end > previous_end):
            previous_end = other_end
        if other_start >= end and (next_start is None or other_start < next_start):
            next_start = other_start
    return turnover_window(
        start=start,
        end=end,
        lead_minutes=prop.lead_minutes,
        lag_minutes=prop.lag_minutes,
        cleaning_minutes=prop.cleaning_minutes,
        previous_end=previous_end,
        next_start=next_start,
    )


def standing_codes(*, property_id: int) -> set[str]:
    """Digits of the property's standing access (cleaners, owners): reserved for good, though
    their codes hold only one day's window at a time on most locks."""
    return set(
        StandingAccess.objects.filter(property_id=property_id, active=True).values_list(
            "code", flat=True
        )
    )


def _free_code(*, current: str | None, avoid: set[str], **where) -> str:
    """Keep the stay's code when it is still free on its locks in the new window; otherwise
    draw a fresh one. A handful of candidates are checked in one query."""
    for _ in range(20):
        candidates = [current] if current and current not in avoid else []
        while len(candidates) < 6:
            candidates.append(draw_code(avoid=avoid | set(candidates)))
        taken = codes_taken(candidates=candidates, **where)
        for candidate in candidates:
            if candidate not in taken:
                return candidate
        avoid = avoid | taken
    raise NoCodeAvailable("Could not find a free keypad code for this stay.")


def code_name(grant: AccessGrant, booking: Booking) -> str:
    """Name on the lock (at most 20 characters): our tag first, so it is unique and ours; the
    tag alone once the guest was anonymised (bookings.retention)."""
    if booking.anonymised_at is not None:
        return f"LK{grant.pk}"
    return f"LK{grant.pk} {booking.guest_name}".strip()[:20]


@transaction.atomic
def grant_redraw(*, grant_id: int, taken: str) -> AccessGrant | None:
    """Give the stay a new code because `taken` is already used on one of its locks."""
    grant = (
        AccessGrant.objects.select_for_update(of=("self",), no_key=True)
        .select_related("booking")
        .filter(pk=grant_id)
        .first()
    )
    if grant is None or grant.code != taken:
        return grant
    return grant_sync(booking=grant.booking, avoid={taken})


@transaction.atomic(savepoint=False)
def grant_sync(
    *, booking: Booking, avoid: set[str] | None = None, new: bool = False
) -> list | None:
    """Make the stay's grant and the desired codes on its locks follow the booking.

    Confirmed: one code for the stay, kept across date changes unless the new window would
    clash with another code on one of the locks. Tentative or cancelled: codes withdrawn.
    """
    grant = None if new else AccessGrant.objects.select_for_update().filter(booking=booking).first()
    if booking.status != BookingStatus.CONFIRMED:
        if grant is not None and grant.active:
            grant.active = False
            grant.save(update_fields=["active"])
            app_access_withdraw(grant=grant)
            return access_withdraw(holder=grant.holder)
        return None
    valid_from, valid_until = booking_window(booking)
    # Stays of one property no longer queue behind each other's whole transaction: a shared
    # row lock, and each drawn code claimed on its own (bench/ingest_floor.py: eight clients
    # posting stays of one property left a tenth of the machine idle, waiting on the rows).
    # App access locks the rows exclusively later on (bookings.app_access): then so does this.
    shared = not booking.property.app_access
    locks = stay_locks(booking, shared=shared)
    code = _free_code(
        claim=shared,
        current=grant.code if grant is not None else None,
        lock_ids=[lock.pk for lock in locks],
        valid_from=valid_from,
        valid_until=valid_until,
        exclude_holder=grant.holder if grant is not None else None,
        avoid=avoid or set(),
    )
    created_grant = grant is None
    if grant is None:
        grant = AccessGrant(
            organization=booking.organization,
            booking=booking,
            code=code,
            valid_from=valid_from,
            valid_until=valid_until,
        )
        grant.save(force_insert=True)
    else:
        grant.code = code
        grant.valid_from, grant.valid_until, grant.active = valid_from, valid_until, True
        grant.save(update_fields=["code", "valid_from", "valid_until", "active"])
    codes = access_put(
        organization=booking.organization,
        holder=grant.holder,
        locks=locks,
        code=grant.code,
        name=code_name(grant, booking),
        valid_from=valid_from,
        valid_until=valid_until,
        new_holder=created_grant,
    )
    app = app_access_sync(
        grant=grant, booking=booking, name=code_name(grant, booking), new=created_grant
    )
    return codes + app
