"""The same new booking delivered twice at the same moment (a PMS retrying while the first
delivery is still being processed) ends as one booking with one code per lock.

Needs PostgreSQL: the threads use their own connections and really race on the unique key.
"""

import datetime as dt
import threading

import pytest
from django.db import connection

from bookings.models import AccessGrant, Booking
from bookings.services import BookingData, booking_upsert
from locks.models import AccessCode, LockCommand

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_deliveries_of_a_new_booking_create_it_once(concurrent_db, world, prop, locks):
    today = dt.date.today()
    data = BookingData(
        external_id="race-1",
        property=prop,
        status="confirmed",
        check_in=today,
        check_out=today + dt.timedelta(days=2),
        guest_name="Ada",
    )
    threads = 4
    barrier = threading.Barrier(threads)
    outcomes: list[tuple[bool, bool]] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            barrier.wait(timeout=10)
            _booking, created, changed = booking_upsert(
                organization=world.org, source="api", data=data
            )
            outcomes.append((created, changed))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=30)

    assert errors == []
    assert sorted(outcomes) == [(False, False)] * (threads - 1) + [(True, True)]
    assert Booking.objects.filter(external_id="race-1").count() == 1
    assert AccessGrant.objects.count() == 1
    assert AccessCode.objects.count() == len(locks)
    assert LockCommand.objects.count() == len(locks)
