"""The PMS connections API: create (URL and secret in the answer), list, rename, delete,
reveal/rotate/set the secret (owners and managers only), mappings, recent events; and every
endpoint scoped to the caller's organization."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from bookings.pms.models import PmsConnection, PmsListingMapping
from bookings.tests.pms_samples import Stay, django_headers, payload, signed_headers
from portal.testing import days_from_now
from properties.services import property_create

URL = "/api/v1/pms-connections/"


def session(user, *, sudo: bool = False) -> APIClient:
    """A signed-in API client; `sudo`: inside the password re-entry window."""
    client = APIClient()
    client.force_login(user)
    if sudo:
        from portal.sudo import SUDO_KEY

        s = client.session
        s[SUDO_KEY] = 4e9  # far in the future
        s.save()
    return client


@pytest.mark.django_db
def test_create_returns_webhook_url_and_secret(world, settings):
    settings.SITE_URL = "https://portal.example.org"
    answer = world.api(world.write_key).post(
        URL, {"kind": "hostaway", "name": "Main"}, format="json"
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    conn = PmsConnection.objects.get(pk=body["id"])
    assert body["kind"] == "hostaway" and body["name"] == "Main"
    assert body["webhook_url"] == f"https://portal.example.org/hooks/pms/{conn.webhook_key}/"
    assert len(conn.webhook_key) >= 40
    assert body["secret"] == conn.secret and len(conn.secret) >= 40
    assert "password" in body["auth"]
    # The secret is not part of ordinary reads; the URL only for write keys.
    write = world.api(world.write_key).get(f"{URL}{conn.pk}/").json()
    assert "secret" not in write and write["webhook_url"] == body["webhook_url"]
    assert write["webhook_url_masked"] is False
    read = world.api(world.read_key).get(f"{URL}{conn.pk}/").json()
    assert "secret" not in read and read["webhook_url"] is None and read["webhook_url_masked"]
    listed = world.api(world.read_key).get(URL).json()["results"]
    assert [c["id"] for c in listed] == [conn.pk]
    assert all("secret" not in c and c["webhook_url"] is None for c in listed)


@pytest.mark.django_db
def test_create_takes_the_pms_issued_secret(world):
    answer = world.api(world.write_key).post(
        URL, {"kind": "lodgify", "secret": "lodgify-issued-secret-123"}, format="json"
    )
    assert answer.status_code == 201
    assert answer.json()["secret"] == "lodgify-issued-secret-123"
    assert answer.json()["name"] == "Lodgify"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "airbnb"}, "kind"),
        ({}, "kind"),
        ({"kind": "guesty", "secret": "short"}, "secret"),
    ],
)
def test_bad_input_names_the_field_and_creates_nothing(world, body, field):
    answer = world.api(world.write_key).post(URL, body, format="json")
    assert answer.status_code == 400
    assert field in answer.json()
    assert not PmsConnection.objects.exists()


@pytest.mark.django_db
def test_one_connection_per_kind(world):
    api = world.api(world.write_key)
    assert api.post(URL, {"kind": "smoobu"}, format="json").status_code == 201
    again = api.post(URL, {"kind": "smoobu"}, format="json")
    assert again.status_code == 400 and "kind" in again.json()
    # Another organization may have its own.
    assert (
        world.api(world.outsider_key).post(URL, {"kind": "smoobu"}, format="json").status_code
        == 201
    )


@pytest.mark.django_db
def test_read_only_callers_cannot_create_or_see_the_secret(world):
    assert world.api(world.read_key).post(URL, {"kind": "smoobu"}, format="json").status_code == 403
    assert session(world.viewer).post(URL, {"kind": "smoobu"}, format="json").status_code == 403
    conn_id = world.api(world.write_key).post(URL, {"kind": "generic"}, format="json").json()["id"]
    conn = PmsConnection.objects.get(pk=conn_id)
    secret_url = f"{URL}{conn_id}/secret/"
    assert world.api(world.read_key).post(secret_url, {}, format="json").status_code == 403
    assert session(world.viewer).post(secret_url, {}, format="json").status_code == 403
    assert session(world.outsider).post(secret_url, {}, format="json").status_code == 404
    assert world.api(world.outsider_key).post(secret_url, {}, format="json").status_code == 404
    for user in (world.owner, world.member):
        shown = session(user, sudo=True).post(secret_url, {}, format="json")
        assert shown.status_code == 200 and shown.json()["secret"] == conn.secret


@pytest.mark.django_db
def test_rotating_the_secret_locks_out_the_old_one(world, client, commit):
    property_create(organization=world.org, name="P", timezone="Europe/Vienna", external_ref="p9")
    api = world.api(world.write_key)
    created = api.post(URL, {"kind": "generic"}, format="json").json()
    old = created["secret"]
    rotated = api.post(f"{URL}{created['id']}/secret/", {"rotate": True}, format="json").json()
    assert rotated["secret"] != old
    conn = PmsConnection.objects.get(pk=created["id"])
    assert conn.secret == rotated["secret"]
    stay = Stay(id="G1", listing="p9", check_in=days_from_now(1), check_out=days_from_now(2))
    body = payload("generic", stay)
    url = created["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    with_old = client.post(
        "/" + url,
        body,
        content_type="application/json",
        **django_headers(signed_headers("generic", old, body)),
    )
    assert with_old.status_code == 401
    with commit():
        with_new = client.post(
            "/" + url,
            body,
            content_type="application/json",
            **django_headers(signed_headers("generic", conn.secret, body)),
        )
    assert with_new.status_code == 202
    # Setting the PMS-issued secret.
    set_ = api.post(f"{URL}{conn.pk}/secret/", {"secret": "issued-by-the-pms-0001"}, format="json")
    assert set_.status_code == 200
    conn.refresh_from_db()
    assert conn.secret == "issued-by-the-pms-0001"
    short = api.post(f"{URL}{conn.pk}/secret/", {"secret": "x"}, format="json")
    assert short.status_code == 400 and "secret" in short.json()
    conn.refresh_from_db()
    assert conn.secret == "issued-by-the-pms-0001"


@pytest.mark.django_db
def test_rename_and_delete(world):
    api = world.api(world.write_key)
    conn_id = api.post(
        URL, {"kind": "guesty", "secret": "whsec_c2VjcmV0LWtleS1mb3I="}, format="json"
    ).json()["id"]
    renamed = api.patch(f"{URL}{conn_id}/", {"name": "Guesty EU", "kind": "smoobu"}, format="json")
    assert renamed.status_code == 200
    conn = PmsConnection.objects.get(pk=conn_id)
    assert (conn.name, conn.kind) == ("Guesty EU", "guesty")  # kind is read-only
    assert session(world.viewer).delete(f"{URL}{conn_id}/").status_code == 403
    assert world.api(world.outsider_key).delete(f"{URL}{conn_id}/").status_code == 404
    assert session(world.outsider).delete(f"{URL}{conn_id}/").status_code == 404
    assert PmsConnection.objects.filter(pk=conn_id).exists()
    assert session(world.member).delete(f"{URL}{conn_id}/").status_code == 204
    assert not PmsConnection.objects.filter(pk=conn_id).exists()


@pytest.mark.django_db
def test_mappings_only_to_own_properties(world):
    own = property_create(organization=world.org, name="Own", timezone="Europe/Vienna")
    theirs = property_create(organization=world.other_org, name="Theirs", timezone="Europe/Vienna")
    api = world.api(world.write_key)
    conn_id = api.post(URL, {"kind": "hostaway"}, format="json").json()["id"]
    url = f"{URL}{conn_id}/mappings/"
    refused = api.post(url, {"listing_id": "81234", "property": theirs.pk}, format="json")
    assert refused.status_code == 400 and "property" in refused.json()
    assert api.post(url, {"listing_id": "", "property": own.pk}, format="json").status_code == 400
    assert not PmsListingMapping.objects.exists()
    assert (
        world.api(world.read_key)
        .post(url, {"listing_id": "1", "property": own.pk}, format="json")
        .status_code
        == 403
    )
    ok = api.post(url, {"listing_id": "81234", "property": own.pk}, format="json")
    assert ok.status_code == 200
    assert world.api(world.read_key).get(url).json() == [
        {"listing_id": "81234", "property": own.pk}
    ]
    assert world.api(world.outsider_key).get(url).status_code == 404
    # Moving the listing to another property, then removing the link.
    other = property_create(organization=world.org, name="Other", timezone="Europe/Vienna")
    api.post(url, {"listing_id": "81234", "property": other.pk}, format="json")
    assert PmsListingMapping.objects.get().property_id == other.pk
    assert (
        api.post(url, {"listing_id": "81234", "property": None}, format="json").status_code == 200
    )
    assert not PmsListingMapping.objects.exists()


@pytest.mark.django_db
def test_events_list_shows_outcomes_newest_first(world, client, commit):
    property_create(
        organization=world.org, name="P", timezone="Europe/Vienna", external_ref="505200"
    )
    api = world.api(world.write_key)
    created = api.post(URL, {"kind": "smoobu"}, format="json").json()
    path = "/" + created["webhook_url"].split("://", 1)[1].split("/", 1)[1]
    for listing in ("505200", "999"):
        stay = Stay(
            id=f"7{listing}", listing=listing, check_in=days_from_now(1), check_out=days_from_now(2)
        )
        with commit():
            client.post(path, payload("smoobu", stay), content_type="application/json")
    rows = world.api(world.read_key).get(f"{URL}{created['id']}/events/").json()["results"]
    assert [(r["listing_id"], r["outcome"]) for r in rows] == [
        ("999", "unmapped"),
        ("505200", "applied"),
    ]
    assert rows[1]["booking"] is not None
    assert world.api(world.outsider_key).get(f"{URL}{created['id']}/events/").status_code == 404
