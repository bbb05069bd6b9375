"""The heart: a booking becomes the same code on every lock of the stay, follows date changes,
and leaves the locks when cancelled; all through the outbox and the virtual driver."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from bookings.models import AccessGrant, BookingStatus, GuestEmail
from bookings.services import BookingData, booking_upsert
from locks.models import AccessCode, CodeState, LockCommand, LockEvent, VirtualLockCode
from locks.sync.desired import plan_due
from portal.testing import days_from_now


def data(prop, **over):
    base = dict(
        external_id="B-1",
        property=prop,
        status=BookingStatus.CONFIRMED,
        check_in=days_from_now(1),
        check_out=days_from_now(3),
        guest_name="Anna Gruber",
        guest_email="anna@example.com",
        guest_language="en",
    )
    base.update(over)
    return BookingData(**base)


def upsert(world, prop, commit, **over):
    with commit():
        return booking_upsert(organization=world.org, source="api", data=data(prop, **over))


def codes_of(booking):
    grant = AccessGrant.objects.get(booking=booking)
    return list(AccessCode.objects.filter(holder=grant.holder).order_by("lock_id"))


@pytest.mark.django_db
def test_booking_sets_one_code_on_every_lock(world, prop, locks, commit):
    booking, created, changed = upsert(world, prop, commit)
    assert created and changed
    codes = codes_of(booking)
    assert [c.lock_id for c in codes] == [lock.pk for lock in locks]
    assert {c.state for c in codes} == {CodeState.SET}
    assert len({c.code for c in codes}) == 1
    on_locks = VirtualLockCode.objects.filter(lock__in=locks)
    assert sorted(v.lock_id for v in on_locks) == [lock.pk for lock in locks]
    assert {v.code for v in on_locks} == {codes[0].code}
    grant = AccessGrant.objects.get(booking=booking)
    assert (grant.valid_from, grant.valid_until) == (codes[0].valid_from, codes[0].valid_until)
    # 15:00 Vienna local on check-in day
    assert grant.valid_from.astimezone(prop.tz).time() == dt.time(15, 0)


@pytest.mark.django_db
def test_replayed_identical_booking_changes_nothing_and_queues_nothing(world, prop, locks, commit):
    booking, _, _ = upsert(world, prop, commit)
    commands = LockCommand.objects.count()
    updated_at = booking.updated_at
    again, created, changed = upsert(world, prop, commit)
    assert (again.pk, created, changed) == (booking.pk, False, False)
    assert LockCommand.objects.count() == commands
    again.refresh_from_db()
    assert again.updated_at == updated_at


@pytest.mark.django_db
def test_date_change_keeps_the_code_and_moves_the_window(world, prop, locks, commit):
    booking, _, _ = upsert(world, prop, commit)
    before = codes_of(booking)
    upsert(world, prop, commit, check_out=days_from_now(5))  # extension
    after = codes_of(booking)
    assert {c.code for c in after} == {before[0].code}
    assert {c.state for c in after} == {CodeState.SET}
    assert after[0].valid_until - before[0].valid_until == dt.timedelta(days=2)
    stored = VirtualLockCode.objects.get(lock=locks[0])
    assert stored.valid_until == after[0].valid_until
    assert VirtualLockCode.objects.filter(lock__in=locks).count() == 2  # updated, not added
    assert LockEvent.objects.filter(kind="code_updated").count() == 2


@pytest.mark.django_db
def test_cancellation_removes_the_code(world, prop, locks, commit):
    booking, _, _ = upsert(world, prop, commit)
    upsert(world, prop, commit, status=BookingStatus.CANCELLED)
    assert {c.state for c in codes_of(booking)} == {CodeState.REMOVED}
    assert not VirtualLockCode.objects.filter(lock__in=locks).exists()
    assert LockEvent.objects.filter(kind="code_removed").count() == 2


@pytest.mark.django_db
def test_tentative_booking_gets_no_code(world, prop, locks, commit):
    booking, _, _ = upsert(world, prop, commit, status=BookingStatus.TENTATIVE)
    assert not AccessGrant.objects.filter(booking=booking).exists()
    assert not VirtualLockCode.objects.exists()


@pytest.mark.django_db
def test_far_booking_waits_for_the_preload_horizon(world, prop, locks, commit):
    booking, _, _ = upsert(
        world, prop, commit, check_in=days_from_now(10), check_out=days_from_now(12)
    )
    assert {c.state for c in codes_of(booking)} == {CodeState.PLANNED}
    assert not VirtualLockCode.objects.exists()
    assert not LockCommand.objects.exists()
    # 72 h before check-in the planner pushes it.
    grant = AccessGrant.objects.get(booking=booking)
    with time_machine.travel(grant.valid_from - dt.timedelta(hours=73)), commit():
        assert plan_due()["pushed"] == 0
    with time_machine.travel(grant.valid_from - dt.timedelta(hours=71)), commit():
        assert plan_due()["pushed"] == 2
        assert {c.state for c in codes_of(booking)} == {CodeState.SETTING}
    assert {c.state for c in codes_of(booking)} == {CodeState.SET}


@pytest.mark.django_db
def test_code_is_removed_after_check_out(world, prop, locks, commit):
    booking, _, _ = upsert(world, prop, commit)
    grant = AccessGrant.objects.get(booking=booking)
    with time_machine.travel(grant.valid_until + dt.timedelta(minutes=1)), commit():
        assert plan_due()["removed"] == 2
    assert not VirtualLockCode.objects.exists()
    assert {c.state for c in codes_of(booking)} == {CodeState.REMOVED}


@pytest.mark.django_db
def test_codes_never_clash_with_overlapping_stays_or_foreign_codes(world, prop, locks, commit):
    from locks.models import ObservedCode

    foreign = ObservedCode.objects.create(
        organization=world.org, lock=locks[0], remote_id="99", code="345678", name="Cleaner"
    )
    seen = {foreign.code}
    for i in range(15):
        booking, _, _ = upsert(world, prop, commit, external_id=f"B-{i}")
        code = AccessGrant.objects.get(booking=booking).code
        assert code not in seen
        seen.add(code)


@pytest.mark.django_db
def test_guest_email_once_all_locks_are_set(world, prop, locks, commit):
    booking, _, _ = upsert(world, prop, commit, guest_language="de")
    emails = list(GuestEmail.objects.filter(booking=booking))
    assert len(emails) == 1
    email = emails[0]
    grant = AccessGrant.objects.get(booking=booking)
    assert email.sent_at is not None and email.language == "de"
    assert grant.code in email.body_text and grant.code in email.body_html
    local_from = grant.valid_from.astimezone(prop.tz)
    assert f"{local_from:%H:%M}" in email.body_text  # local time, not UTC
    assert "Türcode" in email.subject and "Main Street 1" in email.body_text
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["anna@example.com"]
    assert mail.outbox[0].alternatives[0][1] == "text/html"
    # A replay sends nothing; a date change sends an update.
    upsert(world, prop, commit, guest_language="de")
    assert len(mail.outbox) == 1
    upsert(world, prop, commit, guest_language="de", check_out=days_from_now(4))
    assert len(mail.outbox) == 2
    assert GuestEmail.objects.filter(booking=booking, kind="updated").count() == 1


@pytest.mark.django_db
def test_no_email_while_a_lock_is_not_set(world, prop, locks, commit):
    locks[1].config = {"offline": True}
    locks[1].save()
    booking, _, _ = upsert(world, prop, commit)
    states = {c.lock_id: c.state for c in codes_of(booking)}
    assert states[locks[0].pk] == CodeState.SET
    assert states[locks[1].pk] == CodeState.SETTING
    assert not GuestEmail.objects.exists()


@pytest.mark.django_db
def test_alert_when_code_not_set_a_day_before_check_in(world, prop, locks, commit):
    from bookings.alerts import alert_unset_codes
    from portal.models import Alert

    locks[1].config = {"offline": True}
    locks[1].save()
    booking, _, _ = upsert(world, prop, commit)
    grant = AccessGrant.objects.get(booking=booking)
    assert alert_unset_codes(now=grant.valid_from - dt.timedelta(hours=30)) == 0
    assert alert_unset_codes(now=grant.valid_from - dt.timedelta(hours=20)) == 1
    alert = Alert.objects.get(kind="code_not_set")
    assert "Flat door" in alert.message and "offline" in alert.message
    assert alert.fix
    # Raising again keeps one alert.
    alert_unset_codes(now=grant.valid_from - dt.timedelta(hours=19))
    assert Alert.objects.filter(kind="code_not_set").count() == 1


@pytest.mark.django_db
def test_adding_a_lock_to_the_property_gives_it_the_stays_codes(world, prop, locks, commit):
    from locks.services import lock_create

    booking, _, _ = upsert(world, prop, commit)
    with commit():
        third = lock_create(organization=world.org, property=prop, name="Garage", driver="virtual")
    codes = codes_of(booking)
    assert third.pk in {c.lock_id for c in codes}
    assert VirtualLockCode.objects.get(lock=third).code == codes[0].code


@pytest.mark.django_db
def test_changing_property_times_replans_the_window(world, prop, locks, commit):
    from properties.services import property_update

    booking, _, _ = upsert(world, prop, commit)
    with commit():
        property_update(property=prop, check_in_time=dt.time(14, 0))
    codes = codes_of(booking)
    assert codes[0].valid_from.astimezone(prop.tz).time() == dt.time(14, 0)
    assert VirtualLockCode.objects.get(lock=locks[0]).valid_from == codes[0].valid_from


@pytest.mark.django_db
def test_new_dates_from_the_pages_keep_every_other_field(world, prop, locks, commit):
    """BookingData.from_booking is the one way an edit re-sends a booking: fields the edit
    does not name (the link to the reservation, the phone's last digits, the Nuki account)
    stay as they were."""
    from bookings.stay.services import stay_change_dates

    booking, _c, _ch = upsert(
        world,
        prop,
        commit,
        reservation_url="https://pms.example/r/1",
        guest_phone_last4="4242",
        guest_nuki_email="anna@nuki.example",
    )
    with commit():
        moved = stay_change_dates(
            booking=booking, check_in=days_from_now(2), check_out=days_from_now(4)
        )
    moved.refresh_from_db()
    assert moved.check_in == days_from_now(2)
    assert moved.reservation_url == "https://pms.example/r/1"
    assert moved.guest_phone_last4 == "4242"
    assert moved.guest_nuki_email == "anna@nuki.example"
