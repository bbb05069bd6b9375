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


def test_a_collision_on_another_unique_key_is_raised_not_read_as_the_same_booking(
    concurrent_db, world, prop, locks
):
    """Only the upsert's own key (booking_upsert_key) means "this stay exists": a collision on
    any other unique constraint goes up as an error instead of a booking that vanished."""
    from django.db import IntegrityError

    today = dt.date.today()

    def stay(external_id: str) -> BookingData:
        return BookingData(
            external_id=external_id,
            property=prop,
            status="confirmed",
            check_in=today,
            check_out=today + dt.timedelta(days=2),
            guest_email="same@example.com",
        )

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE UNIQUE INDEX test_one_stay_per_email ON bookings_booking (guest_email)"
        )
    try:
        booking_upsert(organization=world.org, source="api", data=stay("email-1"))
        with pytest.raises(RuntimeError) as raised:
            booking_upsert(organization=world.org, source="api", data=stay("email-2"))
        assert isinstance(raised.value.__cause__, IntegrityError)
        assert "test_one_stay_per_email" in str(raised.value.__cause__)
        assert list(Booking.objects.values_list("external_id", flat=True)) == ["email-1"]
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS test_one_stay_per_email")
