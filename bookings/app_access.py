"""App access for a stay: where the property offers it, the guest also gets time-limited
access in their own Nuki app, on the stay's locks that can give it (Nuki Web), for the same
window as the keypad code.

The guest is identified by their Nuki account email (`guest_nuki_email`, else the booking's
email): Nuki Web invites that address as an account user and the authorization shows up in
the guest's Nuki app. It is a desired entry of its own (holder "grant:<id>/app", kind "app"),
so it goes through the same outbox, driver and confirmation as the code, and is removed when
the stay ends or is cancelled. It never holds up the guest's code email (that waits for the
keypad codes only)."""

from __future__ import annotations

from bookings.models import AccessGrant, Booking
from locks.integrations.base import Capability
from locks.models import AccessCode, Lock
from locks.sync.desired import access_put, access_withdraw


def app_holder(grant: AccessGrant) -> str:
    return f"{grant.holder}/app"


def app_access_email(booking: Booking) -> str:
    """The Nuki account to invite, or "" when the stay gets no app access."""
    if not booking.property.app_access:
        return ""
    return (booking.guest_nuki_email or booking.guest_email).strip().lower()


def app_access_sync(
    *, grant: AccessGrant, booking: Booking, name: str, new: bool = False
) -> list[AccessCode]:
    """Put (or take back) the stay's app access on its locks, in the grant's window.
    `new` (a grant just created) skips looking for earlier entries."""
    holder = app_holder(grant)
    email = app_access_email(booking)
    if not email:
        if not new:
            access_withdraw(holder=holder)
        return []
    locks = [
        lock
        for lock in Lock.objects.select_for_update(no_key=True).filter(property=booking.property_id)
        if Capability.APP_ACCESS in lock.capabilities
    ]
    return access_put(
        organization=booking.organization,
        holder=holder,
        locks=locks,
        code="",
        name=name,
        valid_from=grant.valid_from,
        valid_until=grant.valid_until,
        kind="app",
        account_email=email,
        new_holder=new,
    )


def app_access_withdraw(*, grant: AccessGrant) -> list[AccessCode]:
    return access_withdraw(holder=app_holder(grant))
