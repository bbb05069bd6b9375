"""Cleaning staff and owners with recurring weekday windows: natively on locks that store
weekday/time limits, one day's window at a time on the others; through the REST API."""

import datetime as dt

import pytest
import time_machine

from bookings.models import StandingAccess
from locks.models import AccessCode, LockEvent, VirtualLockCode
from locks.services import lock_update
from locks.sync.desired import plan_due


def create(world, body, commit):
    """Create through the API. The preload horizon is a week, so that the next Monday or
    Thursday is always inside it, whatever day the tests run."""
    world.org.preload_hours = 7 * 24
    world.org.save(update_fields=["preload_hours"])
    with commit():
        return world.api(world.write_key).post("/api/v1/standing-access/", body, format="json")


def cleaner(prop, **over):
    body = {
        "name": "Maria Clean",
        "role": "cleaning",
        "property": prop.pk,
        "weekdays": ["mon", "thu"],
        "from_time": "11:00",
        "until_time": "15:00",
    }
    body.update(over)
    return body


@pytest.mark.django_db
def test_weekday_windows_native_on_capable_locks_daily_on_the_others(world, prop, locks, commit):
    with commit():  # the building door stores weekday/time limits itself
        lock_update(lock=locks[0], config={"schedules": True})
    response = create(world, cleaner(prop), commit)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["weekdays"] == ["mon", "thu"] and len(body["code"]) == 6
    code = body["code"]

    native = VirtualLockCode.objects.get(lock=locks[0], code=code)
    assert native.weekdays == 64 + 8  # Nuki's bitmask: Monday 64, Thursday 8
    assert (native.from_minute, native.until_minute) == (11 * 60, 15 * 60)
    assert native.valid_until - native.valid_from > dt.timedelta(days=300)

    daily = VirtualLockCode.objects.get(lock=locks[1], code=code)
    assert daily.weekdays is None  # this lock cannot: it holds one occurrence
    start, end = daily.valid_from.astimezone(prop.tz), daily.valid_until.astimezone(prop.tz)
    assert start.weekday() in (0, 3) and start.time() == dt.time(11, 0)
    assert end - start == dt.timedelta(hours=4)
    access = {row["lock_name"]: row for row in body["access"]}
    assert access["Building door"]["weekdays_on_lock"] is True
    assert access["Flat door"]["weekdays_on_lock"] is False
    assert {row["state"] for row in body["access"]} == {"setting"}  # answered before commit
    again = world.api(world.read_key).get(f"/api/v1/standing-access/{body['id']}/").json()
    assert {row["state"] for row in again["access"]} == {"set"}


@pytest.mark.django_db
def test_daily_window_moves_on_after_each_occurrence(world, prop, locks, commit):
    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    code = create(world, cleaner(prop, weekdays=every_day, locks=[locks[1].pk]), commit).json()[
        "code"
    ]
    assert not VirtualLockCode.objects.filter(lock=locks[0]).exists()  # only the chosen door
    first = VirtualLockCode.objects.get(lock=locks[1], code=code)
    with time_machine.travel(first.valid_until + dt.timedelta(minutes=1)), commit():
        plan_due()
    moved = VirtualLockCode.objects.get(lock=locks[1], code=code)
    assert moved.slot == first.slot  # updated in place, never taken off and added again
    assert moved.valid_from - first.valid_from == dt.timedelta(days=1)
    assert moved.valid_from.astimezone(prop.tz).time() == dt.time(11, 0)
    assert LockEvent.objects.filter(lock=locks[1], kind="code_removed").count() == 0
    ac = AccessCode.objects.get(lock=locks[1], code=code)
    assert ac.wanted and ac.state == "set"


@pytest.mark.django_db
def test_ends_on_and_deactivation_take_the_code_off(world, prop, locks, commit):
    response = create(world, cleaner(prop, weekdays=["mon", "tue", "wed", "thu", "fri", "sat",
                                                     "sun"]), commit)  # fmt: skip
    access_id, code = response.json()["id"], response.json()["code"]
    with commit():
        patched = world.api(world.write_key).patch(
            f"/api/v1/standing-access/{access_id}/", {"active": False}, format="json"
        )
    assert patched.status_code == 200
    assert not VirtualLockCode.objects.filter(code=code).exists()
    assert {ac.state for ac in AccessCode.objects.filter(code=code)} == {"removed"}


@pytest.mark.django_db
def test_guests_never_get_a_standing_code(world, prop, locks, commit, monkeypatch):
    from bookings import services
    from bookings.models import BookingStatus
    from portal.testing import days_from_now

    standing = create(world, cleaner(prop), commit).json()["code"]

    def draw(*, avoid=(), attempts=1000):  # the standing code first, whenever it is allowed
        for candidate in [standing, "345679", "456791", "567912", "678923", "789134", "891245"]:
            if candidate not in avoid:
                return candidate
        raise AssertionError("ran out")

    monkeypatch.setattr(services, "draw_code", draw)
    with commit():
        booking, _, _ = services.booking_upsert(
            organization=world.org,
            source="api",
            data=services.BookingData(
                external_id="G-1", property=prop, status=BookingStatus.CONFIRMED,
                check_in=days_from_now(1), check_out=days_from_now(9),
            ),
        )  # fmt: skip
    assert booking.grant.code != standing


@pytest.mark.django_db
def test_bad_input_is_refused_per_field_and_changes_nothing(world, prop, locks, commit):
    from locks.services import lock_create
    from properties.services import property_create

    elsewhere = property_create(organization=world.org, name="Other", timezone="Europe/Vienna")
    far_lock = lock_create(organization=world.org, property=elsewhere, name="Far", driver="virtual")
    foreign_prop = property_create(organization=world.other_org, name="X", timezone="UTC")
    cases = [
        ({"locks": [far_lock.pk]}, "locks"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": ["someday"]}, "weekdays"),
        ({"until_time": "11:00"}, "until_time"),
        ({"starts_on": "2030-01-10", "ends_on": "2030-01-01"}, "ends_on"),
        ({"property": foreign_prop.pk}, "property"),
    ]
    for change, field in cases:
        response = create(world, cleaner(prop, **change), commit)
        assert response.status_code == 400, (change, response.content)
        assert field in response.json(), (change, response.json())
    assert not StandingAccess.objects.exists()
    assert not AccessCode.objects.exists()


@pytest.mark.django_db
def test_a_door_added_to_the_property_gets_the_standing_code(world, prop, locks, commit):
    from locks.services import lock_create

    code = create(world, cleaner(prop), commit).json()["code"]
    with commit():
        garage = lock_create(organization=world.org, property=prop, name="Garage", driver="virtual")
    assert VirtualLockCode.objects.get(lock=garage, code=code)


def test_occurrences_follow_local_time_across_the_dst_change():
    """Vienna springs forward on 28 March 2027: 11:00-15:00 local is 10:00 UTC the day before
    and 09:00 UTC that day; an overnight window (22:00-06:00) ends the next morning."""
    from bookings.standing.services import next_window
    from properties.models import Property

    prop = Property(name="P", timezone="Europe/Vienna")
    access = StandingAccess(property=prop, weekdays=127, from_time=dt.time(11, 0),
                            until_time=dt.time(15, 0))  # fmt: skip
    utc = dt.UTC
    before = next_window(access, now=dt.datetime(2027, 3, 27, 8, 0, tzinfo=utc))
    assert before == (dt.datetime(2027, 3, 27, 10, 0, tzinfo=utc),
                      dt.datetime(2027, 3, 27, 14, 0, tzinfo=utc))  # fmt: skip
    after = next_window(access, now=before[1])
    assert after == (dt.datetime(2027, 3, 28, 9, 0, tzinfo=utc),
                     dt.datetime(2027, 3, 28, 13, 0, tzinfo=utc))  # fmt: skip
    sundays = StandingAccess(property=prop, weekdays=1, from_time=dt.time(22, 0),
                             until_time=dt.time(6, 0))  # fmt: skip
    in_progress = next_window(sundays, now=dt.datetime(2027, 3, 22, 0, 0, tzinfo=utc))
    assert in_progress == (dt.datetime(2027, 3, 21, 21, 0, tzinfo=utc),
                           dt.datetime(2027, 3, 22, 5, 0, tzinfo=utc))  # fmt: skip
    night = next_window(sundays, now=in_progress[1])
    assert night == (dt.datetime(2027, 3, 28, 20, 0, tzinfo=utc),
                     dt.datetime(2027, 3, 29, 4, 0, tzinfo=utc))  # fmt: skip
    ended = StandingAccess(property=prop, weekdays=127, from_time=dt.time(11, 0),
                           until_time=dt.time(15, 0), ends_on=dt.date(2027, 3, 27))  # fmt: skip
    assert next_window(ended, now=before[1]) is None
