"""Properties through the API: create, validate, patch (and re-plan stays on time changes)."""

import pytest


@pytest.mark.django_db
def test_create_list_patch(world):
    api = world.api(world.write_key)
    res = api.post(
        "/api/v1/properties/",
        {
            "name": "Loft",
            "timezone": "America/New_York",
            "check_in_time": "16:00",
            "lead_minutes": 30,
            "external_ref": "L-1",
        },
        format="json",
    )
    assert res.status_code == 201, res.content
    data = res.json()
    assert data["check_in_time"] == "16:00:00" and data["check_out_time"] == "11:00:00"
    patched = api.patch(f"/api/v1/properties/{data['id']}/", {"lag_minutes": 15}, format="json")
    assert patched.status_code == 200 and patched.json()["lag_minutes"] == 15
    assert [p["name"] for p in api.get("/api/v1/properties/").json()["results"]] == ["Loft"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "X", "timezone": "CEST+2"}, "timezone"),
        ({"name": "X"}, "timezone"),
        ({"timezone": "Europe/Vienna"}, "name"),
        ({"name": "X", "timezone": "Europe/Vienna", "lead_minutes": -5}, "lead_minutes"),
        ({"name": "X", "timezone": "Europe/Vienna", "check_in_time": "3pm"}, "check_in_time"),
    ],
)
def test_bad_input(world, body, field):
    from properties.models import Property

    res = world.api(world.write_key).post("/api/v1/properties/", body, format="json")
    assert res.status_code == 400 and field in res.json(), res.content
    assert not Property.objects.exists()


@pytest.mark.django_db
def test_external_ref_is_unique_per_organization(world, prop):
    api = world.api(world.write_key)
    res = api.post(
        "/api/v1/properties/",
        {"name": "Y", "timezone": "UTC", "external_ref": "loft-1"},
        format="json",
    )
    assert res.status_code == 400 and "external_ref" in res.json()
    other = world.api(world.outsider_key).post(
        "/api/v1/properties/",
        {"name": "Y", "timezone": "UTC", "external_ref": "loft-1"},
        format="json",
    )
    assert other.status_code == 201  # another organization may use the same reference
