"""The same new booking delivered twice at the same moment (a PMS retrying while the first
delivery is still being processed) ends as one booking with one code per lock. Two new stays
of one property do not queue behind each other, and never give the same code.

Needs PostgreSQL: the threads use their own connections and really race on the unique key.
"""

import datetime as dt
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction

from bookings.models import AccessGrant, Booking
from bookings.services import BookingData, booking_upsert
from locks.models import AccessCode, LockCommand
from locks.sync.desired import property_locks_locked

pytestmark = pytest.mark.django_db(transaction=True)


def _stay(prop, external_id: str) -> BookingData:
    """A confirmed two-night stay from today."""
    today = dt.date.today()
    return BookingData(
        external_id=external_id,
        property=prop,
        status="confirmed",
        check_in=today,
        check_out=today + dt.timedelta(days=2),
        guest_name="Ada",
    )


def test_simultaneous_deliveries_of_a_new_booking_create_it_once(concurrent_db, world, prop, locks):
    data = _stay(prop, "race-1")
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


# New stays of one property: a shared row lock and codes claimed one by one -----------------


class OpenStay(threading.Thread):
    """Creates a stay in a transaction it keeps open until `release` is set (or 10 s pass),
    so the test can see what waits for it. `planned` is set once the stay's code is given
    (the transaction still open): the tasks the tests run eagerly at commit are not timed."""

    def __init__(self, world, data: BookingData, *, hold: bool = True):
        super().__init__()
        self.world, self.data = world, data
        self.planned, self.release = threading.Event(), threading.Event()
        if not hold:
            self.release.set()
        self.planned_at: float | None = None
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            with transaction.atomic():
                booking_upsert(organization=self.world.org, source="api", data=self.data)
                self.planned_at = time.monotonic()
                self.planned.set()
                self.release.wait(timeout=10)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
            self.planned.set()
        finally:
            connection.close()


def _in_thread(target) -> tuple[threading.Thread, dict]:
    out: dict = {}

    def run() -> None:
        try:
            out["value"] = target()
        except BaseException as exc:  # reported by the test
            out["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def _grant_codes() -> dict[str, str]:
    return {g.booking.external_id: g.code for g in AccessGrant.objects.select_related("booking")}


def test_two_new_stays_of_one_property_do_not_wait_for_each_other(
    concurrent_db, world, prop, locks
):
    first = OpenStay(world, _stay(prop, "open-1"))
    second = OpenStay(world, _stay(prop, "open-2"), hold=False)
    first.start()
    try:
        assert first.planned.wait(timeout=10) and not first.errors
        second.start()
        # The first stay's transaction is open all this while.
        planned_while_open = second.planned.wait(timeout=8)
    finally:
        first.release.set()
        first.join(timeout=10)
        second.join(timeout=10)
    assert planned_while_open, "the second stay waited for the first one's transaction"
    assert not first.errors and not second.errors
    codes = _grant_codes()
    assert set(codes) == {"open-1", "open-2"} and codes["open-1"] != codes["open-2"]
    assert AccessCode.objects.filter(holder__startswith="grant:").count() == 2 * len(locks)


def test_two_stays_drawing_the_same_code_at_once_end_with_different_codes(
    concurrent_db, world, prop, locks, monkeypatch
):
    """Both stays draw the very same candidates. The second to claim them waits for the first
    to commit, then sees its code as taken and gives the next one. Without the claim (a shared
    row lock only), both would give 345678 on both doors."""
    from bookings import services

    order = ["345678", "345679", "345687", "345697", "345768", "345769", "345786", "345789"]

    def draw(avoid=frozenset(), **_kw):
        return next(code for code in order if code not in avoid)

    monkeypatch.setattr(services, "draw_code", draw)
    first = OpenStay(world, _stay(prop, "same-1"))
    second = OpenStay(world, _stay(prop, "same-2"), hold=False)
    first.start()
    try:
        assert first.planned.wait(timeout=10) and not first.errors
        second.start()
        waited = not second.planned.wait(timeout=1.5)
    finally:
        released_at = time.monotonic()
        first.release.set()
        first.join(timeout=10)
        second.join(timeout=10)
    assert not first.errors and not second.errors
    assert waited, "the second stay did not wait for the code the first one was giving"
    assert second.planned_at >= released_at  # not before the first one could commit
    assert _grant_codes() == {"same-1": "345678", "same-2": "345679"}
    for lock in locks:
        codes = AccessCode.objects.filter(lock=lock, wanted=True).values_list("code", flat=True)
        assert sorted(codes) == ["345678", "345679"]


def _lock_rows_within(prop, *, shared: bool, timeout_ms: int = 500) -> None:
    """Row-lock the property's locks as a planner would, giving up after `timeout_ms`."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{timeout_ms}ms'")
        property_locks_locked(property_id=prop.pk, shared=shared)


def test_an_exclusive_holder_still_waits_for_an_open_new_stay(concurrent_db, world, prop, locks):
    """Standing access, backup codes and app access lock the rows exclusively and check codes
    without claiming them: they must still wait for a stay that is giving a code."""
    first = OpenStay(world, _stay(prop, "open-x"))
    first.start()
    try:
        assert first.planned.wait(timeout=10) and not first.errors
        shared, shared_out = _in_thread(lambda: _lock_rows_within(prop, shared=True))
        shared.join(timeout=10)
        exclusive, exclusive_out = _in_thread(lambda: _lock_rows_within(prop, shared=False))
        exclusive.join(timeout=10)
    finally:
        first.release.set()
        first.join(timeout=10)
    assert "error" not in shared_out
    assert isinstance(exclusive_out.get("error"), OperationalError)
    assert "lock timeout" in str(exclusive_out["error"])


def test_with_app_access_a_new_stay_keeps_the_exclusive_row_lock(concurrent_db, world, prop, locks):
    """App access locks the rows exclusively later in the same transaction (a shared holder
    asking for that would deadlock with another): so such a stay locks them exclusively from
    the start, and even another shared holder waits."""
    prop.app_access = True
    prop.save(update_fields=["app_access"])
    first = OpenStay(world, _stay(prop, "app-1"))
    first.start()
    try:
        assert first.planned.wait(timeout=10) and not first.errors
        other, out = _in_thread(lambda: _lock_rows_within(prop, shared=True))
        other.join(timeout=10)
    finally:
        first.release.set()
        first.join(timeout=10)
    assert isinstance(out.get("error"), OperationalError)
