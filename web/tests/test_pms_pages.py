"""The PMS section of the Integrations page: connect, webhook URL and secret (owners and
managers, after re-entering the password), deliveries with their outcome, an unmapped listing
mapped to a property, and removal. Deliveries arrive through the real webhook endpoint,
signed as each PMS signs them (bookings/tests/pms_samples.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from bookings.models import Booking
from bookings.pms.models import PmsConnection, PmsEvent, PmsListingMapping
from bookings.pms.services import connection_create
from bookings.tests.pms_samples import Stay, django_headers, payload, signed_headers
from portal.testing import days_from_now
from web.access import SUDO_KEY

pytestmark = pytest.mark.django_db


def url(name, world, **kw):
    return reverse(name, kwargs={"slug": world.org.slug, **kw})


def login(client, user, *, sudo: bool = False):
    client.force_login(user)
    if sudo:
        session = client.session
        session[SUDO_KEY] = 4e9  # far in the future: inside the re-authentication window
        session.save()
    return client


def deliver(client, conn, listing: str):
    body = payload(
        conn.kind,
        Stay(id="40123456", listing=listing, check_in=days_from_now(1), check_out=days_from_now(3)),
    )
    headers = signed_headers(conn.kind, conn.secret, body)
    return client.post(
        reverse("pms-webhook", args=[conn.webhook_key]),
        body,
        content_type="application/json",
        **django_headers(headers),
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pms-kind": "beds24"}, "kind"),
        ({"pms-kind": "lodgify", "pms-secret": "short"}, "secret"),
    ],
)
def test_connect_refuses_bad_input(client, world, body, field):
    res = login(client, world.member).post(url("pms-new", world), body)
    assert res.status_code == 400 and res.context["pms_form"].errors[field]
    assert not PmsConnection.objects.exists()


def test_connect_once_per_kind_and_viewer_refused(client, world):
    assert (
        login(client, world.viewer).post(url("pms-new", world), {"pms-kind": "smoobu"}).status_code
        == 403
    )
    assert (
        login(client, world.outsider)
        .post(url("pms-new", world), {"pms-kind": "smoobu"})
        .status_code
        == 404
    )
    assert not PmsConnection.objects.exists()
    member = login(client, world.member)
    assert (
        member.post(url("pms-new", world), {"pms-kind": "smoobu", "pms-name": "Smoo"}).status_code
        == 302
    )
    again = member.post(url("pms-new", world), {"pms-kind": "smoobu"})
    assert again.status_code == 400 and "already has a Smoobu" in str(
        again.context["pms_form"].errors
    )
    assert PmsConnection.objects.get().name == "Smoo"


def test_webhook_url_for_managers_secret_only_after_sudo(client, world):
    conn = connection_create(organization=world.org, kind="hostaway", name="HA")
    member = login(client, world.member)
    html = member.get(url("integrations", world)).content.decode()
    assert conn.webhook_key in html and conn.secret not in html
    viewer_html = login(client, world.viewer).get(url("integrations", world)).content.decode()
    assert conn.webhook_key not in viewer_html and conn.secret not in viewer_html
    assert client.post(url("pms-secret", world, pk=conn.pk)).status_code == 403
    member = login(client, world.member)
    res = member.post(url("pms-secret", world, pk=conn.pk), HTTP_HX_REQUEST="true")
    assert res.status_code == 204 and res["HX-Redirect"].startswith(reverse("sudo"))
    plain = member.post(url("pms-secret", world, pk=conn.pk))
    assert plain.status_code == 302 and plain["Location"].startswith(reverse("sudo"))
    member = login(client, world.member, sudo=True)
    shown = member.post(url("pms-secret", world, pk=conn.pk), HTTP_HX_REQUEST="true")
    assert conn.secret in shown.content.decode() and shown["Cache-Control"] == "no-store"
    rotated = member.post(url("pms-secret", world, pk=conn.pk), {"rotate": "1"})
    conn.refresh_from_db()
    assert conn.secret in rotated.content.decode()
    assert "HA" in rotated.content.decode()


def test_deliveries_and_unmapped_listing_mapped_from_the_page(client, world, prop, locks, commit):
    conn = connection_create(organization=world.org, kind="hostaway", name="HA")
    with commit():
        assert deliver(client, conn, listing="777").status_code == 202
    assert PmsEvent.objects.get().outcome == "unmapped"
    member = login(client, world.member)
    html = member.get(url("integrations", world)).content.decode()
    assert "Listings waiting for a property" in html and "777" in html
    assert "Listing not mapped to a property yet" in html
    map_url = url("pms-map", world, pk=conn.pk)
    assert f"{map_url}?listing=777" in html
    form = member.get(map_url + "?listing=777")
    assert form.status_code == 200 and 'value="777"' in form.content.decode()
    bad = member.post(map_url, {"listing_id": "777", "property": 999999})
    assert bad.status_code == 400 and bad.context["form"].errors["property"]
    assert not PmsListingMapping.objects.exists()
    assert (
        login(client, world.viewer)
        .post(map_url, {"listing_id": "777", "property": prop.pk})
        .status_code
        == 403
    )
    member = login(client, world.member)
    with commit():
        ok = member.post(map_url, {"listing_id": "777", "property": prop.pk})
    assert ok.status_code == 302
    booking = Booking.objects.get(source="hostaway")
    assert booking.property_id == prop.pk
    html = member.get(url("integrations", world)).content.decode()
    assert "Listings waiting for a property" not in html
    assert "Applied to the booking" in html
    assert url("stay-page", world, pk=booking.pk) in html


def test_remove_connection_keeps_its_stays(client, world, prop, locks, commit):
    prop.external_ref = "888"
    prop.save()
    conn = connection_create(organization=world.org, kind="hostaway", name="HA")
    with commit():
        deliver(client, conn, listing="888")
    assert Booking.objects.filter(source="hostaway").count() == 1
    assert login(client, world.viewer).post(url("pms-delete", world, pk=conn.pk)).status_code == 403
    assert (
        login(client, world.outsider).post(url("pms-delete", world, pk=conn.pk)).status_code == 404
    )
    member = login(client, world.member)
    assert (
        "Yes, remove the connection"
        in member.get(url("pms-delete", world, pk=conn.pk)).content.decode()
    )
    assert member.post(url("pms-delete", world, pk=conn.pk)).status_code == 302
    assert not PmsConnection.objects.exists()
    assert Booking.objects.filter(source="hostaway").count() == 1
