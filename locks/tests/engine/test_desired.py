"""What each lock should hold: the preload horizon, idempotent puts, withdrawals, the planner
moving codes on and off locks, and the stay windows bookings ask for (lead and lag, date
changes, cancellations, a guest extending, turnovers, and the DST nights in Europe/Vienna)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from bookings.models import AccessGrant, Booking
from bookings.services import BookingData, booking_upsert
from locks.models import AccessCode, CodeState, CommandStatus, LockCommand, VirtualLockCode
from locks.sync.desired import access_put, access_withdraw, plan_due
from locks.tests.engine.helpers import put, reload

T0 = dt.datetime(2027, 3, 20, 9, 0, tzinfo=dt.UTC)
UTC = dt.UTC


@pytest.fixture
def frozen():
    """The clock stands still at T0 (a week before Vienna's spring-forward night)."""
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def on_lock(lock) -> list[VirtualLockCode]:
    return list(VirtualLockCode.objects.filter(lock=lock).order_by("slot"))


# The horizon and the planner --------------------------------------------------------------


@pytest.mark.django_db
def test_a_code_beyond_the_horizon_is_planned_without_a_command(world, locks, frozen):
    (ac,) = put(world.org, locks[:1], days=5)
    assert ac.state == CodeState.PLANNED
    assert ac.push_after == ac.valid_from - dt.timedelta(hours=72)
    assert not LockCommand.objects.exists()


@pytest.mark.django_db
def test_a_code_inside_the_horizon_goes_to_the_lock(world, locks, commit, frozen):
    (ac,) = put(world.org, locks[:1], commit=commit, days=2)
    assert reload(ac).state == CodeState.SET
    (code,) = on_lock(locks[0])
    assert (code.code, code.valid_from, code.valid_until) == (
        ac.code, ac.valid_from, ac.valid_until
    )  # fmt: skip


@pytest.mark.django_db
def test_the_organizations_preload_hours_set_the_horizon(world, locks, frozen):
    world.org.preload_hours = 12
    world.org.save()
    (ac,) = put(world.org, locks[:1], days=1)
    assert ac.state == CodeState.PLANNED
    assert ac.push_after == ac.valid_from - dt.timedelta(hours=12)


@pytest.mark.django_db
def test_putting_the_same_thing_twice_changes_and_queues_nothing(world, locks, commit, frozen):
    (ac,) = put(world.org, locks[:1], commit=commit)
    commands = LockCommand.objects.count()
    (again,) = put(world.org, locks[:1], commit=commit)
    assert again.pk == ac.pk and reload(again).state == CodeState.SET
    assert LockCommand.objects.count() == commands


@pytest.mark.django_db
def test_the_planner_pushes_a_code_when_it_enters_the_horizon(world, locks, commit, frozen):
    (ac,) = put(world.org, locks[:1], days=5)
    frozen.move_to(ac.push_after - dt.timedelta(seconds=1))
    with commit():
        assert plan_due() == {"pushed": 0, "removed": 0}
    frozen.move_to(ac.push_after)
    with commit():
        assert plan_due() == {"pushed": 1, "removed": 0}
    assert reload(ac).state == CodeState.SET
    assert len(on_lock(locks[0])) == 1


@pytest.mark.django_db
def test_the_planner_takes_a_code_off_the_lock_when_its_window_ends(world, locks, commit, frozen):
    (ac,) = put(world.org, locks[:1], commit=commit)
    frozen.move_to(ac.valid_until - dt.timedelta(seconds=1))
    with commit():
        assert plan_due()["removed"] == 0
    frozen.move_to(ac.valid_until)
    with commit():
        assert plan_due()["removed"] == 1
    ac = reload(ac)
    assert (ac.wanted, ac.state, ac.remote_id) == (False, CodeState.REMOVED, "")
    assert on_lock(locks[0]) == []


@pytest.mark.django_db
def test_withdrawing_a_set_code_removes_it_from_the_lock(world, locks, commit, frozen):
    put(world.org, locks, commit=commit)
    with commit():
        changed = access_withdraw(holder="grant:1")
    assert len(changed) == 2
    assert set(AccessCode.objects.values_list("state", flat=True)) == {CodeState.REMOVED}
    assert VirtualLockCode.objects.count() == 0


@pytest.mark.django_db
def test_a_holder_moved_to_another_lock_leaves_the_first(world, locks, commit, frozen):
    put(world.org, locks[:1], commit=commit)
    put(world.org, locks[1:], commit=commit)
    assert on_lock(locks[0]) == [] and len(on_lock(locks[1])) == 1
    states = dict(AccessCode.objects.values_list("lock_id", "state"))
    assert states == {locks[0].pk: CodeState.REMOVED, locks[1].pk: CodeState.SET}


@pytest.mark.django_db
def test_only_these_false_leaves_the_holders_other_locks_alone(world, locks, commit, frozen):
    put(world.org, locks[:1], commit=commit)
    put(world.org, locks[1:], commit=commit, only_these=False)
    assert len(on_lock(locks[0])) == 1 and len(on_lock(locks[1])) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"weekdays": 128},
        {"from_minute": 1440},
        {"until_minute": -1},
        {"kind": "app"},  # app access without the holder's Nuki account
    ],
)
@pytest.mark.django_db
def test_impossible_limits_are_refused_before_anything_is_written(world, locks, bad):
    with pytest.raises(ValueError):
        put(world.org, locks[:1], **bad)
    assert not AccessCode.objects.exists()


@pytest.mark.django_db
def test_a_change_of_window_is_written_over_the_code_on_the_lock(world, locks, commit, frozen):
    (ac,) = put(world.org, locks[:1], commit=commit)
    (before,) = on_lock(locks[0])
    longer = ac.valid_until + dt.timedelta(days=2)
    with commit():
        access_put(
            organization=world.org, holder="grant:1", locks=locks[:1], code=ac.code,
            name=ac.name, valid_from=ac.valid_from, valid_until=longer,
        )  # fmt: skip
    (after,) = on_lock(locks[0])
    assert after.slot == before.slot and after.valid_until == longer
    assert reload(ac).state == CodeState.SET


# Stays, as bookings plan them -------------------------------------------------------------


def stay(world, prop, commit, *, ref="B-1", check_in, check_out, status="confirmed", **extra):
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id=ref,
                property=prop,
                status=status,
                check_in=check_in,
                check_out=check_out,
                guest_name="Ada Lovelace",
                guest_email="ada@example.com",
                **extra,
            ),
        )
    return booking


def codes_of(booking: Booking) -> list[AccessCode]:
    grant = AccessGrant.objects.get(booking=booking)
    return list(AccessCode.objects.filter(holder=grant.holder).order_by("lock_id"))


@pytest.mark.django_db
def test_a_stays_window_carries_the_propertys_lead_and_lag(world, prop, locks, commit, frozen):
    prop.lead_minutes, prop.lag_minutes = 30, 60
    prop.save()
    booking = stay(
        world, prop, commit, check_in=dt.date(2027, 3, 21), check_out=dt.date(2027, 3, 23)
    )
    for ac in codes_of(booking):  # Vienna is UTC+1 in March before the 28th
        assert ac.valid_from == dt.datetime(2027, 3, 21, 13, 30, tzinfo=UTC)  # 15:00 - 30 min
        assert ac.valid_until == dt.datetime(2027, 3, 23, 11, 0, tzinfo=UTC)  # 11:00 + 60 min
        assert reload(ac).state == CodeState.SET
    assert {c.valid_until for c in VirtualLockCode.objects.all()} == {
        dt.datetime(2027, 3, 23, 11, 0, tzinfo=UTC)
    }


@pytest.mark.django_db
def test_a_tentative_stay_gets_no_code(world, prop, locks, commit, frozen):
    stay(world, prop, commit, status="tentative", check_in=dt.date(2027, 3, 21),
         check_out=dt.date(2027, 3, 22))  # fmt: skip
    assert not AccessCode.objects.exists() and not VirtualLockCode.objects.exists()


@pytest.mark.django_db
def test_a_cancelled_stay_takes_its_code_off_every_lock(world, prop, locks, commit, frozen):
    days = dict(check_in=dt.date(2027, 3, 21), check_out=dt.date(2027, 3, 23))
    booking = stay(world, prop, commit, **days)
    assert VirtualLockCode.objects.count() == 2
    stay(world, prop, commit, status="cancelled", **days)
    assert VirtualLockCode.objects.count() == 0
    assert {ac.state for ac in codes_of(booking)} == {CodeState.REMOVED}
    assert AccessGrant.objects.get(booking=booking).active is False


@pytest.mark.django_db
def test_a_guest_extending_the_stay_keeps_the_code_and_gets_the_longer_window(
    world, prop, locks, commit, frozen
):
    booking = stay(
        world, prop, commit, check_in=dt.date(2027, 3, 21), check_out=dt.date(2027, 3, 23)
    )
    slots = {c.lock_id: c.slot for c in VirtualLockCode.objects.all()}
    code = AccessGrant.objects.get(booking=booking).code
    stay(world, prop, commit, check_in=dt.date(2027, 3, 21), check_out=dt.date(2027, 3, 25))
    assert AccessGrant.objects.get(booking=booking).code == code
    for on in VirtualLockCode.objects.all():
        assert on.slot == slots[on.lock_id] and on.code == code
        assert on.valid_until == dt.datetime(2027, 3, 25, 10, 0, tzinfo=UTC)
    assert {ac.state for ac in codes_of(booking)} == {CodeState.SET}


@pytest.mark.django_db
def test_dates_moved_beyond_the_horizon_take_the_code_off_until_then(
    world, prop, locks, commit, frozen
):
    booking = stay(
        world, prop, commit, check_in=dt.date(2027, 3, 21), check_out=dt.date(2027, 3, 23)
    )
    assert VirtualLockCode.objects.count() == 2
    stay(world, prop, commit, check_in=dt.date(2027, 4, 10), check_out=dt.date(2027, 4, 12))
    assert VirtualLockCode.objects.count() == 0  # not a code that opens the door weeks early
    assert {ac.state for ac in codes_of(booking)} == {CodeState.PLANNED}
    assert LockCommand.objects.filter(status=CommandStatus.FAILED).count() == 0


@pytest.mark.django_db
def test_the_spring_forward_night_in_vienna_costs_the_guest_no_time(
    world, prop, locks, commit, frozen
):
    """27 → 29 March 2027: in at 15:00 CET (UTC+1), out at 11:00 CEST (UTC+2)."""
    frozen.move_to(dt.datetime(2027, 3, 26, 9, 0, tzinfo=UTC))
    booking = stay(
        world, prop, commit, check_in=dt.date(2027, 3, 27), check_out=dt.date(2027, 3, 29)
    )
    (ac, _) = codes_of(booking)
    assert ac.valid_from == dt.datetime(2027, 3, 27, 14, 0, tzinfo=UTC)
    assert ac.valid_until == dt.datetime(2027, 3, 29, 9, 0, tzinfo=UTC)
    assert ac.valid_until - ac.valid_from == dt.timedelta(hours=43)  # the night has 23 hours


@pytest.mark.django_db
def test_a_check_in_time_the_spring_night_skips_means_just_after_the_jump(
    world, prop, locks, commit, frozen
):
    booking = stay(
        world, prop, commit, check_in=dt.date(2027, 3, 28), check_out=dt.date(2027, 3, 30),
        check_in_time=dt.time(2, 30),  # does not exist in Vienna that night
    )  # fmt: skip
    (ac, _) = codes_of(booking)
    assert ac.valid_from == dt.datetime(2027, 3, 28, 1, 30, tzinfo=UTC)  # 03:30 CEST


@pytest.mark.django_db
def test_the_fall_back_night_gives_the_guest_the_longer_reading_of_the_doubled_hour(
    world, prop, locks, commit, frozen
):
    """31 October 2027, 02:30 happens twice in Vienna: access starts at the first, ends at
    the second."""
    frozen.move_to(dt.datetime(2027, 10, 29, 9, 0, tzinfo=UTC))
    first = stay(
        world, prop, commit, ref="OUT", check_in=dt.date(2027, 10, 30),
        check_out=dt.date(2027, 10, 31), check_out_time=dt.time(2, 30),
    )  # fmt: skip
    (leaving, _) = codes_of(first)
    assert leaving.valid_until == dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # 02:30 CET
    second = stay(
        world, prop, commit, ref="IN", check_in=dt.date(2027, 10, 31),
        check_out=dt.date(2027, 11, 2), check_in_time=dt.time(2, 30),
    )  # fmt: skip
    (arriving, _) = codes_of(second)
    assert arriving.valid_from == dt.datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 CEST


@pytest.mark.django_db
def test_a_same_day_turnover_keeps_the_cleaning_window_between_the_guests(
    world, prop, locks, commit, frozen
):
    prop.lead_minutes, prop.lag_minutes, prop.cleaning_minutes = 120, 120, 180
    prop.save()
    first = stay(
        world, prop, commit, ref="A", check_in=dt.date(2027, 3, 20), check_out=dt.date(2027, 3, 22)
    )
    (leaving, _) = codes_of(first)
    assert leaving.valid_until == dt.datetime(2027, 3, 22, 12, 0, tzinfo=UTC)  # 11:00 + lag
    second = stay(
        world, prop, commit, ref="B", check_in=dt.date(2027, 3, 22), check_out=dt.date(2027, 3, 24)
    )
    (leaving, _) = codes_of(first)  # re-planned after the arrival (its own transaction)
    (arriving, _) = codes_of(second)
    assert leaving.valid_until == dt.datetime(2027, 3, 22, 11, 0, tzinfo=UTC)  # 12:00 local
    assert arriving.valid_from == dt.datetime(2027, 3, 22, 14, 0, tzinfo=UTC)  # 15:00 local
    assert arriving.valid_from - leaving.valid_until == dt.timedelta(minutes=180)
    leaving_on_lock = VirtualLockCode.objects.get(lock=locks[0], code=leaving.code)
    assert leaving_on_lock.valid_until == leaving.valid_until  # the lock learnt it too
