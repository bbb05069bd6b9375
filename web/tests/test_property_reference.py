"""A property made in the pages can be named from the API and a PMS mapping: its page shows the
id and the reference (external_ref), and the property form sets the reference, checked as the
API checks it (trimmed, unique in the organization, a field error that changes nothing).
Only the organization's owners and managers may set it; a viewer gets 403, an outsider 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.testing import days_from_now
from properties.models import Property
from properties.services import property_create

pytestmark = pytest.mark.django_db


def url(name, world, **kw):
    return reverse(name, kwargs={"slug": world.org.slug, **kw})


def form(prop_or_none=None, **changes):
    base = {
        "name": getattr(prop_or_none, "name", "Seaside"),
        "timezone": getattr(prop_or_none, "timezone", "Europe/Lisbon"),
        "check_in_time": "15:00",
        "check_out_time": "11:00",
        "lead_minutes": 0,
        "lag_minutes": 0,
        "external_ref": getattr(prop_or_none, "external_ref", ""),
    }
    return {**base, **changes}


@pytest.fixture
def plain(world):
    """A property as the pages made it before: no reference."""
    return property_create(organization=world.org, name="Harbour Studio", timezone="Europe/Vienna")


def test_new_property_with_a_reference_is_named_from_the_api(client, world):
    client.force_login(world.member)
    res = client.post(url("property-new", world), form(external_ref="  HX-LISTING-77 "))
    prop = Property.objects.get(organization=world.org, name="Seaside")
    assert res.status_code == 302
    assert prop.external_ref == "HX-LISTING-77"

    page = client.get(url("property-page", world, pk=prop.pk)).content.decode()
    assert f'<code id="property-id">{prop.pk}</code>' in page
    assert '<code id="property-ref">HX-LISTING-77</code>' in page

    booking = world.api(world.write_key).post(
        "/api/v1/bookings/",
        {
            "external_id": "REF-1",
            "property": "HX-LISTING-77",
            "status": "confirmed",
            "check_in": str(days_from_now(3)),
            "check_out": str(days_from_now(5)),
        },
        format="json",
    )
    assert booking.status_code == 201, booking.content
    assert booking.json()["property"] == prop.pk


def test_the_page_shows_the_id_of_a_property_without_reference(client, world, plain):
    client.force_login(world.viewer)
    page = client.get(url("property-page", world, pk=plain.pk)).content.decode()
    assert f'<code id="property-id">{plain.pk}</code>' in page
    assert 'id="property-ref"' not in page
    client.force_login(world.member)
    edit = client.get(url("property-edit", world, pk=plain.pk)).content.decode()
    assert f"<code>{plain.pk}</code>" in edit
    assert 'name="external_ref"' in edit


def test_edit_sets_the_reference(client, world, plain):
    client.force_login(world.owner)
    res = client.post(url("property-edit", world, pk=plain.pk), form(plain, external_ref="hs-2"))
    assert res.status_code == 302
    plain.refresh_from_db()
    assert plain.external_ref == "hs-2"


def test_a_reference_in_use_is_a_field_error_and_changes_nothing(client, world, prop, plain):
    assert prop.external_ref == "loft-1"
    client.force_login(world.member)
    res = client.post(
        url("property-edit", world, pk=plain.pk),
        form(plain, name="Renamed", lead_minutes=45, external_ref=" loft-1 "),
    )
    assert res.status_code == 200
    errors = res.context["form"].errors
    assert list(errors) == ["external_ref"]
    assert "already uses this reference" in errors["external_ref"][0]
    assert "already uses this reference" in res.content.decode()
    plain.refresh_from_db()
    assert (plain.name, plain.lead_minutes, plain.external_ref) == ("Harbour Studio", 0, "")

    new = client.post(url("property-new", world), form(external_ref="loft-1"))
    assert new.status_code == 200 and "external_ref" in new.context["form"].errors
    assert not Property.objects.filter(organization=world.org, name="Seaside").exists()


def test_a_property_keeps_its_own_reference_and_others_may_use_it(client, world, prop):
    client.force_login(world.member)
    same = client.post(url("property-edit", world, pk=prop.pk), form(prop, name="Loft"))
    assert same.status_code == 302
    prop.refresh_from_db()
    assert (prop.name, prop.external_ref) == ("Loft", "loft-1")
    # Another organization's property may carry the same reference.
    client.force_login(world.outsider)
    other = client.post(
        reverse("property-new", kwargs={"slug": world.other_org.slug}),
        form(external_ref="loft-1"),
    )
    assert other.status_code == 302
    assert Property.objects.get(organization=world.other_org).external_ref == "loft-1"


def test_clearing_the_reference(client, world, prop):
    client.force_login(world.member)
    res = client.post(url("property-edit", world, pk=prop.pk), form(prop, external_ref="  "))
    assert res.status_code == 302
    prop.refresh_from_db()
    assert prop.external_ref == ""


@pytest.mark.parametrize(
    ("who", "status", "changed"),
    [("owner", 302, True), ("member", 302, True), ("viewer", 403, False), ("outsider", 404, False)],
)
def test_who_may_set_the_reference(client, world, plain, who, status, changed):
    client.force_login(getattr(world, who))
    res = client.post(url("property-edit", world, pk=plain.pk), form(plain, external_ref="mine"))
    assert res.status_code == status
    plain.refresh_from_db()
    assert (plain.external_ref == "mine") is changed
    page = client.get(url("property-edit", world, pk=plain.pk))
    assert page.status_code == (200 if changed else status)
