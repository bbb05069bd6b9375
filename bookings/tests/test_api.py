"""POST /api/v1/bookings/ and friends: upsert, strict validation that stores nothing on bad
input, authentication and scopes, filters."""

import json

import pytest

from bookings.models import AccessGrant, Booking
from locks.models import LockCommand
from portal.testing import days_from_now

URL = "/api/v1/bookings/"


def body(prop, **over):
    base = {
        "external_id": "HX-1",
        "property": prop.pk,
        "status": "confirmed",
        "check_in": str(days_from_now(1)),
        "check_out": str(days_from_now(3)),
        "guest": {"name": "Anna", "email": "anna@example.com", "language": "de"},
    }
    base.update(over)
    return base


def post(world, payload, commit, key=None):
    with commit():
        return world.api(key or world.write_key).post(URL, payload, format="json")


@pytest.mark.django_db
def test_create_then_update_then_replay(world, prop, locks, commit):
    first = post(world, body(prop), commit)
    assert first.status_code == 201, first.content
    data = first.json()
    assert data["status"] == "confirmed" and data["guest"]["language"] == "de"
    assert len(data["access"]) == 2
    assert {a["state"] for a in data["access"]} == {"setting"}  # answered before the worker ran
    assert len({a["code"] for a in data["access"]}) == 1
    assert {a["lock"] for a in data["access"]} == {lock.pk for lock in locks}

    detail = world.api(world.read_key).get(f"{URL}{data['id']}/").json()
    assert {a["state"] for a in detail["access"]} == {"set"}

    moved = post(world, body(prop, check_out=str(days_from_now(4))), commit)
    assert moved.status_code == 200 and moved.json()["id"] == data["id"]
    assert moved.json()["access"][0]["code"] == data["access"][0]["code"]

    commands = LockCommand.objects.count()
    replay = post(world, body(prop, check_out=str(days_from_now(4))), commit)
    assert replay.status_code == 200
    assert LockCommand.objects.count() == commands


@pytest.mark.django_db
def test_property_by_external_ref_and_datetimes_with_offset(world, prop, locks, commit):
    check_in = f"{days_from_now(1)}T16:30:00+01:00"
    check_out = f"{days_from_now(2)}T10:00:00Z"
    res = post(world, body(prop, property="loft-1", check_in=check_in, check_out=check_out), commit)
    assert res.status_code == 201, res.content
    grant = AccessGrant.objects.get(booking_id=res.json()["id"])
    assert grant.valid_from.isoformat().endswith("15:30:00+00:00")
    assert grant.valid_until.isoformat().endswith("10:00:00+00:00")


@pytest.mark.django_db
def test_cancel_through_the_api(world, prop, locks, commit):
    post(world, body(prop), commit)
    res = post(world, body(prop, status="cancelled"), commit)
    assert res.status_code == 200
    assert {a["state"] for a in res.json()["access"]} <= {"removing", "removed"}
    detail = world.api(world.read_key).get(f"{URL}{res.json()['id']}/").json()
    assert {a["state"] for a in detail["access"]} == {"removed"}


BAD = [
    ({"external_id": None}, "external_id"),
    ({"external_id": ["x"]}, "external_id"),
    ({"status": "paid-maybe"}, "status"),
    ({"check_in": "tomorrow"}, "check_in"),
    ({"check_in": 20260101}, "check_in"),
    ({"check_in": "2026-07-01T15:00:00"}, "check_in"),  # naive datetime
    ({"check_out": "2020-01-01"}, "check_out"),  # before check-in
    ({"property": 999999}, "property"),
    ({"property": 10**30}, "property"),  # beyond any id column: still a plain "No such property"
    ({"property": "-1"}, "property"),
    ({"property": "99999999999999999999"}, "property"),
    ({"property": "no-such-ref"}, "property"),
    ({"property": True}, "property"),
    ({"guest": {"email": "not-an-email"}}, "guest"),
    ({"guest": {"language": "xx"}}, "guest"),
    ({"guest": "Anna"}, "guest"),
    ({"check_in_time": "25:00"}, "check_in_time"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_is_rejected_per_field_and_stores_nothing(
    world, prop, locks, commit, change, field
):
    res = post(world, body(prop, **change), commit)
    assert res.status_code == 400, res.content
    assert field in res.json()
    assert not Booking.objects.exists() and not LockCommand.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("missing", ["external_id", "property", "status", "check_in", "check_out"])
def test_missing_fields(world, prop, commit, missing):
    payload = body(prop)
    del payload[missing]
    res = post(world, payload, commit)
    assert res.status_code == 400 and missing in res.json()
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_check_out_must_be_after_check_in(world, prop, commit):
    day = str(days_from_now(2))
    res = post(world, body(prop, check_in=day, check_out=day), commit)
    assert res.status_code == 400 and "check_out" in res.json()


@pytest.mark.django_db
def test_malformed_json(world, prop):
    res = world.api(world.write_key).post(URL, "{not json", content_type="application/json")
    assert res.status_code == 400
    assert "JSON" in res.json()["detail"]
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_body_over_256_kib_is_413(world, prop):
    payload = json.dumps(body(prop, external_id="x" * (257 * 1024)))
    res = world.api(world.write_key).post(URL, payload, content_type="application/json")
    assert res.status_code == 413
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_authentication_and_scopes(world, prop, commit):
    from rest_framework.test import APIClient

    assert APIClient().post(URL, body(prop), format="json").status_code == 401
    assert world.api("lk_deadbeef_wrong").post(URL, body(prop), format="json").status_code == 401
    assert world.api("garbage").post(URL, body(prop), format="json").status_code == 401
    # Right prefix, wrong secret.
    prefix = world.write_key.split("_")[1]
    forged = f"lk_{prefix}_{'A' * 43}"
    assert world.api(forged).post(URL, body(prop), format="json").status_code == 401
    assert post(world, body(prop), commit, key=world.read_key).status_code == 403
    assert not Booking.objects.exists()
    # Another organization's key cannot see or use our property.
    res = post(world, body(prop), commit, key=world.outsider_key)
    assert res.status_code == 400 and "property" in res.json()


@pytest.mark.django_db
def test_revoked_key_is_refused(world, prop):
    from django.utils import timezone

    from portal.models import ApiKey

    ApiKey.objects.filter(organization=world.org).update(revoked_at=timezone.now())
    assert world.api(world.read_key).get(URL).status_code == 401


@pytest.mark.django_db
def test_strangers_guessing_keys_are_throttled(throttle_window, world, settings):
    from portal.throttling import StrangerRateThrottle

    StrangerRateThrottle.THROTTLE_RATES = {**StrangerRateThrottle.THROTTLE_RATES, "anon": "5/min"}
    try:
        codes = [world.api(f"lk_0000000{i % 10}_nope").get(URL).status_code for i in range(8)]
    finally:
        StrangerRateThrottle.THROTTLE_RATES = {
            **StrangerRateThrottle.THROTTLE_RATES,
            "anon": "60/min",
        }
    assert codes[:5] == [401] * 5
    assert codes[-1] == 429


@pytest.mark.django_db
def test_list_filters(world, prop, locks, commit):
    from properties.services import property_create

    other = property_create(organization=world.org, name="Beach", timezone="Europe/Lisbon")
    post(world, body(prop, external_id="a"), commit)
    post(world, body(prop, external_id="b", status="tentative"), commit)
    post(
        world,
        body(
            other,
            external_id="c",
            check_in=str(days_from_now(20)),
            check_out=str(days_from_now(22)),
        ),
        commit,
    )
    api = world.api(world.read_key)

    def ids(query):
        res = api.get(URL, query)
        assert res.status_code == 200, res.content
        return sorted(b["external_id"] for b in res.json()["results"])

    assert ids({}) == ["a", "b", "c"]
    assert ids({"property": other.pk}) == ["c"]
    assert ids({"status": "tentative"}) == ["b"]
    assert ids({"start": str(days_from_now(10))}) == ["c"]
    assert ids({"end": str(days_from_now(5))}) == ["a", "b"]
    assert api.get(URL, {"start": "soon"}).status_code == 400
    # The outsider's key sees none of them.
    assert world.api(world.outsider_key).get(URL).json()["results"] == []


@pytest.mark.django_db
def test_hand_built_body_matches_the_documented_serializer(world, prop, locks, commit):
    from bookings.api import BookingSerializer, booking_body
    from bookings.selectors import access_by_booking

    post(world, body(prop, check_in_time="14:30"), commit)
    booking = Booking.objects.get()
    access = access_by_booking([booking])
    documented = BookingSerializer(booking, context={"access": access}).data
    assert json.loads(json.dumps(booking_body(booking, access[booking.pk]))) == json.loads(
        json.dumps(documented)
    )
