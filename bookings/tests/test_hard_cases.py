"""The hard cases of a rental calendar, each against the sync engine and virtual locks:
changes after the code was sent, moves, same-day turnovers, several doors, a full lock,
codes we did not create."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from bookings.models import AccessGrant, BookingStatus, GuestEmail
from bookings.services import BookingData, booking_upsert
from locks.models import (
    AccessCode,
    CodeState,
    LockCommand,
    LockEvent,
    ObservedCode,
    VirtualLockCode,
)
from locks.sync.desired import plan_due
from locks.sync.reconcile import reconcile_enqueue_all
from portal.models import Alert
from portal.testing import days_from_now


def data(prop, **over):
    base = dict(
        external_id="H-1",
        property=prop,
        status=BookingStatus.CONFIRMED,
        check_in=days_from_now(1),
        check_out=days_from_now(3),
        guest_name="Anna Gruber",
        guest_email="anna@example.com",
    )
    base.update(over)
    return BookingData(**base)


def upsert(world, prop, commit, **over):
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org, source="api", data=data(prop, **over)
        )
    return booking


def grant_of(booking):
    return AccessGrant.objects.get(booking=booking)


def on_lock(lock, code):
    return VirtualLockCode.objects.get(lock=lock, code=code)


def local(value, prop):
    return value.astimezone(prop.tz)


# -- changes after the code was sent ---------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        ({"check_in_time": dt.time(12, 0)}, "valid_from", dt.time(12, 0)),  # early check-in
        ({"check_out_time": dt.time(14, 0)}, "valid_until", dt.time(14, 0)),  # late check-out
    ],
)
def test_early_check_in_or_late_check_out_after_the_code_was_sent(
    world, prop, locks, commit, change, field, expected
):
    booking = upsert(world, prop, commit)
    code = grant_of(booking).code
    assert GuestEmail.objects.filter(booking=booking, sent_at__isnull=False).count() == 1

    upsert(world, prop, commit, **change)
    grant = grant_of(booking)
    assert grant.code == code  # the guest keeps the code they were sent
    assert local(getattr(grant, field), prop).time() == expected
    for lock in locks:  # the window changed on every door, the code was updated, not re-added
        assert local(getattr(on_lock(lock, code), field), prop).time() == expected
    assert VirtualLockCode.objects.filter(lock__in=locks).count() == 2
    assert LockEvent.objects.filter(kind="code_updated").count() == 2
    updated = GuestEmail.objects.get(booking=booking, kind=GuestEmail.Kind.UPDATED)
    assert code in updated.body_text and f"{expected:%H:%M}" in updated.body_text
    assert "stays the same" in updated.body_text
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_extension_then_shortening_move_the_window_on_the_lock(world, prop, locks, commit):
    booking = upsert(world, prop, commit)
    code = grant_of(booking).code
    upsert(world, prop, commit, check_out=days_from_now(6))  # extended
    assert on_lock(locks[0], code).valid_until == grant_of(booking).valid_until
    assert local(grant_of(booking).valid_until, prop).date() == days_from_now(6)
    upsert(world, prop, commit, check_out=days_from_now(2))  # shortened below the original
    grant = grant_of(booking)
    assert grant.code == code
    assert local(grant.valid_until, prop).date() == days_from_now(2)
    for lock in locks:
        assert on_lock(lock, code).valid_until == grant.valid_until
    assert {ac.state for ac in AccessCode.objects.filter(holder=grant.holder)} == {CodeState.SET}
    assert GuestEmail.objects.filter(booking=booking, kind="updated").count() == 2


@pytest.mark.django_db
def test_moving_the_stay_to_another_property(world, prop, locks, commit):
    from locks.services import lock_create
    from properties.services import property_create

    other = property_create(
        organization=world.org,
        name="River Studio",
        timezone="Europe/Vienna",  # same times: only the place changes
        address="River Road 9",
    )
    other_lock = lock_create(
        organization=world.org, property=other, name="Studio", driver="virtual"
    )
    booking = upsert(world, prop, commit)
    code = grant_of(booking).code

    upsert(world, other, commit)
    grant = grant_of(booking)
    assert not VirtualLockCode.objects.filter(lock__in=locks).exists()  # old doors: removed
    assert on_lock(other_lock, grant.code).valid_from == grant.valid_from  # new door: set
    states = {ac.lock_id: ac.state for ac in AccessCode.objects.filter(holder=grant.holder)}
    assert states == {
        locks[0].pk: CodeState.REMOVED,
        locks[1].pk: CodeState.REMOVED,
        other_lock.pk: CodeState.SET,
    }
    # The guest is told where to go, although the times did not change.
    moved = GuestEmail.objects.get(booking=booking, kind=GuestEmail.Kind.UPDATED)
    assert "River Studio" in moved.subject and "River Road 9" in moved.body_text
    assert grant.code in moved.body_text
    assert (moved.code == code) == (grant.code == code)
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_new_code_is_always_announced(world, prop, locks, commit):
    """A redrawn code (here: the digits turned out taken on the lock) reaches the guest, even
    with the same times, and the email says the code changed."""
    from bookings.services import grant_redraw

    booking = upsert(world, prop, commit)
    old = grant_of(booking).code
    with commit():
        grant_redraw(grant_id=grant_of(booking).pk, taken=old)
    grant = grant_of(booking)
    assert grant.code != old
    email = GuestEmail.objects.filter(booking=booking).order_by("-created_at").first()
    assert email.kind == "updated" and grant.code in email.body_text
    assert "has changed" in email.body_text


# -- same-day turnover -----------------------------------------------------------------------


@pytest.mark.django_db
def test_same_day_turnover_keeps_the_cleaning_window_between_the_codes(world, prop, locks, commit):
    from properties.services import property_update

    with commit():  # codes 3 h either side of the stay, 2 h for cleaning between two guests
        property_update(property=prop, lead_minutes=180, lag_minutes=180, cleaning_minutes=120)
    day = days_from_now(2)
    leaving = upsert(world, prop, commit, external_id="LEAVE", check_in=days_from_now(0),
                     check_out=day, guest_email="")  # fmt: skip
    # Alone, the leaving guest has the full lag: until 14:00.
    assert local(grant_of(leaving).valid_until, prop).time() == dt.time(14, 0)

    arriving = upsert(world, prop, commit, external_id="ARRIVE", check_in=day,
                      check_out=days_from_now(4), guest_email="")  # fmt: skip
    out, into = grant_of(leaving), grant_of(arriving)
    # Check-out 11:00, lag until 13:00, cleaning 13:00-15:00, the arriving code from 15:00.
    assert local(out.valid_until, prop).time() == dt.time(13, 0)
    assert local(into.valid_from, prop).time() == dt.time(15, 0)
    assert into.valid_from - out.valid_until == dt.timedelta(minutes=120)
    for lock in locks:  # the leaving guest's code was narrowed on the doors, too
        assert on_lock(lock, out.code).valid_until == out.valid_until
        assert on_lock(lock, into.code).valid_from == into.valid_from
        assert on_lock(lock, out.code).valid_until < on_lock(lock, into.code).valid_from

    # The arriving stay is cancelled: the leaving guest gets the full lag back.
    upsert(world, prop, commit, external_id="ARRIVE", check_in=day, check_out=days_from_now(4),
           guest_email="", status=BookingStatus.CANCELLED)  # fmt: skip
    assert local(grant_of(leaving).valid_until, prop).time() == dt.time(14, 0)
    assert on_lock(locks[0], out.code).valid_until == grant_of(leaving).valid_until


def test_turnover_never_cuts_the_guests_own_times():
    from bookings.planning import turnover_window

    utc = dt.UTC
    start = dt.datetime(2026, 7, 2, 13, 0, tzinfo=utc)  # arriving check-in
    end = dt.datetime(2026, 7, 5, 9, 0, tzinfo=utc)
    previous_end = dt.datetime(2026, 7, 2, 9, 0, tzinfo=utc)  # only 4 h between the guests
    window = turnover_window(start=start, end=end, lead_minutes=120, lag_minutes=120,
                             cleaning_minutes=300, previous_end=previous_end)  # fmt: skip
    assert window == (start, end + dt.timedelta(minutes=120))  # no lead, nothing cut
    leaving = turnover_window(
        start=previous_end - dt.timedelta(days=2), end=previous_end, lead_minutes=120,
        lag_minutes=120, cleaning_minutes=300, next_start=start,
    )  # fmt: skip
    assert leaving[1] == previous_end  # no lag, nothing cut


# -- several doors ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_several_doors_show_a_partial_failure_per_lock(world, prop, locks, commit):
    locks[1].capacity = 0  # the flat door refuses every code: memory full
    locks[1].save()
    booking = upsert(world, prop, commit)
    body = world.api(world.read_key).get(f"/api/v1/bookings/{booking.pk}/").json()
    by_lock = {row["lock_name"]: row for row in body["access"]}
    assert by_lock["Building door"]["state"] == "set"
    assert by_lock["Building door"]["last_error"] == ""
    assert by_lock["Flat door"]["state"] == "failed"
    assert by_lock["Flat door"]["last_error"].startswith("The lock's keypad memory is full")
    assert by_lock["Building door"]["code"] == by_lock["Flat door"]["code"]
    assert VirtualLockCode.objects.filter(lock=locks[0]).exists()
    assert not GuestEmail.objects.filter(booking=booking).exists()  # not until every door
    alert = Alert.objects.get(kind="lock_full", resolved_at__isnull=True)
    assert "Flat door" in alert.message


# -- a lock at capacity ----------------------------------------------------------------------


def _stale_code(world, lock, code, *, ours: bool, days_ago: int = 1):
    """A code still on the lock whose window ended (its removal never ran)."""
    end = timezone.now() - dt.timedelta(days=days_ago)
    slot = VirtualLockCode.objects.filter(lock=lock).count() + 1
    VirtualLockCode.objects.create(
        lock=lock,
        slot=slot,
        code=code,
        name=f"old {code}",
        valid_from=end - dt.timedelta(days=2),
        valid_until=end,
    )
    if ours:
        AccessCode.objects.create(
            organization=world.org, lock=lock, holder=f"grant:{9000 + slot}", name=f"old {code}",
            code=code, valid_from=end - dt.timedelta(days=2), valid_until=end, push_after=end,
            state=CodeState.SET, remote_id=str(slot), wanted=True,
        )  # fmt: skip


@pytest.mark.django_db
def test_full_lock_removes_expired_codes_first(world, prop, locks, commit):
    lock = locks[0]
    lock.capacity = 2
    lock.save()
    _stale_code(world, lock, "345678", ours=True)
    _stale_code(world, lock, "456789", ours=False)  # someone else's, expired: kept (no opt-in)
    booking = upsert(world, prop, commit)
    code = grant_of(booking).code
    assert on_lock(lock, code)  # room was made
    assert not VirtualLockCode.objects.filter(lock=lock, code="345678").exists()
    assert VirtualLockCode.objects.filter(lock=lock, code="456789").exists()
    assert AccessCode.objects.get(code="345678").state == CodeState.REMOVED
    assert not Alert.objects.filter(kind="lock_full").exists()


@pytest.mark.django_db
def test_full_lock_with_nothing_expired_fails_in_plain_words(world, prop, locks, commit):
    lock = locks[0]
    lock.capacity = 1
    lock.save()
    _stale_code(world, lock, "456789", ours=False)  # expired but not ours: not touched
    booking = upsert(world, prop, commit)
    ac = AccessCode.objects.get(holder=grant_of(booking).holder, lock=lock)
    assert ac.state == CodeState.FAILED
    assert ac.last_error == (
        "The lock's keypad memory is full: it holds 1 codes, none of them expired "
        "(0 set by Latchkey, 1 added by someone else)."
    )
    alert = Alert.objects.get(kind="lock_full", subject=f"lock:{lock.pk}")
    assert alert.severity == "critical" and "Remove codes" in alert.fix
    assert VirtualLockCode.objects.filter(lock=lock, code="456789").exists()


@pytest.mark.django_db
def test_full_lock_removes_expired_foreign_codes_when_the_organization_opted_in(
    world, prop, locks, commit
):
    world.org.remove_foreign_codes = True
    world.org.save()
    lock = locks[0]
    lock.capacity = 1
    lock.save()
    _stale_code(world, lock, "456789", ours=False)
    booking = upsert(world, prop, commit)
    assert on_lock(lock, grant_of(booking).code)
    assert not VirtualLockCode.objects.filter(lock=lock, code="456789").exists()
    assert LockEvent.objects.filter(lock=lock, kind="foreign_code_removed").count() == 1


@pytest.mark.django_db
def test_nearly_full_lock_warns_and_the_warning_clears(world, prop, locks, commit):
    lock = locks[0]
    lock.capacity = 10
    lock.save()
    now = timezone.now()
    for i, code in enumerate(["345678", "456789", "567891", "678912", "789123", "891234",
                              "913245", "324567", "435678"]):  # fmt: skip
        end = now + dt.timedelta(days=9)
        VirtualLockCode.objects.create(
            lock=lock, slot=i + 1, code=code, name=f"Old {i}", valid_from=now, valid_until=end
        )
    with commit():
        reconcile_enqueue_all()
    alert = Alert.objects.get(kind="lock_nearly_full", resolved_at__isnull=True)
    assert "holds 9 of the 10" in alert.message
    VirtualLockCode.objects.filter(lock=lock, name__startswith="Old").delete()
    with commit():
        reconcile_enqueue_all()
    assert not Alert.objects.filter(kind="lock_nearly_full", resolved_at__isnull=True).exists()


# -- codes we did not create -----------------------------------------------------------------


def _foreign(lock, code="777888", name="Neighbour"):
    now = timezone.now()
    return VirtualLockCode.objects.create(
        lock=lock, slot=90, code=code, name=name, valid_from=now, valid_until=now + dt.timedelta(9)
    )


@pytest.mark.django_db
def test_foreign_code_is_shown_and_kept(world, prop, locks, commit):
    upsert(world, prop, commit)
    _foreign(locks[0])
    for _ in range(2):
        with commit():
            reconcile_enqueue_all()
    assert VirtualLockCode.objects.filter(lock=locks[0], code="777888").exists()
    assert LockEvent.objects.filter(lock=locks[0], kind="foreign_code_found").count() == 1
    alert = Alert.objects.get(kind="foreign_codes", subject=f"lock:{locks[0].pk}")
    assert "“Neighbour”" in alert.message and "kept" in alert.message
    rows = world.api(world.read_key).get(f"/api/v1/locks/{locks[0].pk}/codes/").json()
    assert {"name": "Neighbour", "state": "foreign", "managed": False} in [
        {k: r[k] for k in ("name", "state", "managed")} for r in rows
    ]
    # Our own codes are never taken for foreign ones.
    assert not Alert.objects.filter(kind="foreign_codes", subject=f"lock:{locks[1].pk}").exists()
    # Gone from the lock: the alert resolves.
    VirtualLockCode.objects.filter(code="777888").delete()
    with commit():
        reconcile_enqueue_all()
    assert not Alert.objects.filter(kind="foreign_codes", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_foreign_code_is_removed_when_the_organization_opted_in(world, prop, locks, commit):
    booking = upsert(world, prop, commit)
    world.org.remove_foreign_codes = True
    world.org.save()
    _foreign(locks[0])
    with commit():
        reconcile_enqueue_all()
    assert not VirtualLockCode.objects.filter(lock=locks[0], code="777888").exists()
    assert not ObservedCode.objects.filter(lock=locks[0], access_code__isnull=True).exists()
    event = LockEvent.objects.get(lock=locks[0], kind="foreign_code_removed")
    assert "Neighbour" in event.message
    # The stay's own codes are untouched.
    assert VirtualLockCode.objects.filter(code=grant_of(booking).code).count() == 2


# -- the guest's code through the planner ----------------------------------------------------


@pytest.mark.django_db
def test_codes_end_on_the_lock_after_check_out_even_after_changes(world, prop, locks, commit):
    booking = upsert(world, prop, commit)
    upsert(world, prop, commit, check_out=days_from_now(4))
    grant = grant_of(booking)
    with time_machine.travel(grant.valid_until + dt.timedelta(minutes=1)), commit():
        assert plan_due()["removed"] == 2
    assert not VirtualLockCode.objects.filter(code=grant.code).exists()
    assert not LockCommand.objects.filter(status="pending").exists()
