"""Locks through the API: create virtual locks, capabilities, codes on the lock."""

import pytest

from portal.testing import days_from_now


@pytest.mark.django_db
def test_create_virtual_lock_and_read_capabilities(world, prop):
    api = world.api(world.write_key)
    res = api.post(
        "/api/v1/locks/", {"name": "Front", "property": prop.pk, "driver": "virtual"}, format="json"
    )
    assert res.status_code == 201, res.content
    data = res.json()
    assert data["capabilities"] == ["actions", "codes", "logs", "state"]
    assert data["state"] == "unknown" and data["property"] == prop.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "driver": "zwave"}, "driver"),
        ({"name": "X"}, "driver"),
        ({"driver": "virtual"}, "name"),
        ({"name": "X", "driver": "virtual", "property": 424242}, "property"),
        ({"name": "X", "driver": "virtual", "config": {"delay_ms": "slow"}}, "config"),
        ({"name": "X", "driver": "virtual", "config": {"token": "x"}}, "config"),
        ({"name": "X", "driver": "virtual", "config": {"failure_rate": 3}}, "config"),
    ],
)
def test_bad_input(world, prop, body, field):
    from locks.models import Lock

    res = world.api(world.write_key).post("/api/v1/locks/", body, format="json")
    assert res.status_code == 400 and field in res.json(), res.content
    assert not Lock.objects.exists()


@pytest.mark.django_db
def test_cannot_attach_a_lock_to_another_organizations_property(world):
    from properties.services import property_create

    theirs = property_create(organization=world.other_org, name="Theirs", timezone="UTC")
    res = world.api(world.write_key).post(
        "/api/v1/locks/", {"name": "X", "driver": "virtual", "property": theirs.pk}, format="json"
    )
    assert res.status_code == 400 and "property" in res.json()


@pytest.mark.django_db
def test_driver_cannot_change(world, locks):
    res = world.api(world.write_key).patch(
        f"/api/v1/locks/{locks[0].pk}/", {"driver": "nuki_web"}, format="json"
    )
    assert res.status_code == 400


@pytest.mark.clock
@pytest.mark.django_db
def test_codes_endpoint_shows_state(world, prop, locks, commit):
    with commit():
        res = world.api(world.write_key).post(
            "/api/v1/bookings/",
            {
                "external_id": "A",
                "property": prop.pk,
                "status": "confirmed",
                "check_in": str(days_from_now(0)),
                "check_out": str(days_from_now(2)),
                "guest": {"name": "Zoe"},
            },
            format="json",
        )
    assert res.status_code == 201
    codes = world.api(world.write_key).get(f"/api/v1/locks/{locks[0].pk}/codes/").json()
    assert len(codes) == 1
    assert codes[0]["state"] == "set" and codes[0]["managed"] is True
    assert codes[0]["code"] == res.json()["access"][0]["code"]
    assert codes[0]["name"].endswith("Zoe")
