"""Tenant isolation over every URL the project serves, generated from the URL list.

A new URL that takes an object id or an organization slug fails this test until it is listed
in OBJECT_ROUTES (with how to make an object of the organization under test) or PUBLIC.
For every object URL: the owner, member and viewer may read; the viewer and a read key may
not write (403); an outsider (user or key) learns nothing (404).
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from bookings.models import Booking
from locks.services import lock_create
from portal.testing import days_from_now

PUBLIC = {
    "healthz",
    "ping",
    "schema",
    "api-docs",
    "login",
    "logout",
    "home",
    "property-list",
    "lock-list",
    "booking-list",
    "bridge-list",
    "bridge-callback",  # the URL's secret is the credential: locks/tests/test_bridge_portal.py
    "nuki-web-webhook",  # signed: locks/tests/test_nukiweb_portal.py
    # The URL's key names the connection; signature/password per PMS:
    # bookings/tests/test_pms_webhooks.py
    "pms-webhook",
    "pms-connection-list",  # own organization's rows only: bookings/tests/test_pms_api.py
    "nuki-web-callback",  # session-bound OAuth state: locks/tests/test_nukiweb_portal.py
    "nuki-web-connection",  # the caller's own organization only, no object id
    # The on-site agent's own API: its token names its organization; no object of another
    # agent can be named (jobs are looked up with the agent): locks/tests/test_agent_portal.py
    "agent-enroll",
    "agent-locks",
    "agent-jobs",
    "agent-job-result",
    "agent-events",
}
PAGE_POST_ROUTES = {"nuki-web-connect"}  # POST-only pages that take the organization's slug


def make_property(world):
    from properties.services import property_create

    return property_create(organization=world.org, name="P", timezone="Europe/Vienna")


def make_lock(world):
    return lock_create(
        organization=world.org, property=make_property(world), name="L", driver="virtual"
    )


def make_booking(world):
    return Booking.objects.create(
        organization=world.org,
        property=make_property(world),
        external_id="x",
        status="confirmed",
        check_in=days_from_now(1),
        check_out=days_from_now(2),
    )


def make_bridge(world):
    from locks.models import Bridge

    return Bridge.objects.create(organization=world.org, name="B", host="10.0.0.2", token="t")


def make_pms_connection(world):
    from bookings.pms.services import connection_create

    return connection_create(organization=world.org, kind="hostaway", name="PMS")


def make_action(world):
    from locks.actions import lock_action_request

    return lock_action_request(lock=make_lock(world), action="unlock")


# name -> (how to make an object of world.org, a valid PATCH body or None if read-only)
OBJECT_ROUTES = {
    "property-detail": (make_property, {"name": "Renamed"}),
    "lock-detail": (make_lock, {"name": "Renamed"}),
    "lock-codes": (make_lock, None),
    "lock-events": (make_lock, None),
    "booking-detail": (make_booking, None),
    "bridge-detail": (make_bridge, None),
    "action-detail": (make_action, None),
    "pms-connection-detail": (make_pms_connection, {"name": "Renamed"}),
    "pms-connection-mappings": (make_pms_connection, None),
    "pms-connection-events": (make_pms_connection, None),
}
# name -> (how to make the object, a valid POST body): POST-only object URLs
POST_ROUTES = {
    "lock-actions": (make_lock, {"action": "unlock"}),
    "pms-connection-secret": (make_pms_connection, {}),
}
PAGE_ROUTES = {"dashboard", "emails"}  # take the organization's slug


def all_routes():
    def walk(patterns, namespace=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin":
                    continue  # Django admin: staff only, its own permission system
                yield from walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name:
                yield p.name, p

    return dict(walk(get_resolver().url_patterns))


def test_every_route_is_classified():
    unknown = (
        set(all_routes()) - PUBLIC - set(OBJECT_ROUTES) - set(POST_ROUTES) - PAGE_ROUTES
        - PAGE_POST_ROUTES
    )  # fmt: skip
    assert not unknown, f"Add these URLs to the isolation map: {sorted(unknown)}"


def object_cases():
    names = [n for n in all_routes() if n in OBJECT_ROUTES]
    assert names
    return names


@pytest.mark.django_db
@pytest.mark.parametrize("name", object_cases())
def test_object_urls(world, name):
    from django.urls import reverse
    from rest_framework.test import APIClient

    make, patch_body = OBJECT_ROUTES[name]
    obj = make(world)
    url = reverse(name, kwargs={"pk": obj.pk})

    # Keys: own organization's read and write keys see it; the outsider's key gets 404.
    assert world.api(world.read_key).get(url).status_code == 200
    assert world.api(world.write_key).get(url).status_code == 200
    assert world.api(world.outsider_key).get(url).status_code == 404
    assert APIClient().get(url).status_code == 401

    # Session users: owner, member, viewer read; outsider 404 even naming the organization.
    for user, expected in [
        (world.owner, 200),
        (world.member, 200),
        (world.viewer, 200),
        (world.outsider, 404),
    ]:
        client = APIClient()
        client.force_login(user)
        assert client.get(url).status_code == expected, (user, url)
    client = APIClient()
    client.force_login(world.outsider)
    assert client.get(url, HTTP_X_ORGANIZATION=world.org.slug).status_code == 404

    if patch_body is not None:
        model = type(obj)
        assert world.api(world.read_key).patch(url, patch_body, format="json").status_code == 403
        assert (
            world.api(world.outsider_key).patch(url, patch_body, format="json").status_code == 404
        )
        viewer = APIClient()
        viewer.force_login(world.viewer)
        assert viewer.patch(url, patch_body, format="json").status_code == 403
        obj.refresh_from_db()
        assert obj.name != "Renamed"  # nothing changed
        assert model.objects.filter(pk=obj.pk).exists()
        member = APIClient()
        member.force_login(world.member)
        assert member.patch(url, patch_body, format="json").status_code == 200
        obj.refresh_from_db()
        assert obj.name == "Renamed"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGE_ROUTES))
def test_pages(world, client, name):
    from django.urls import reverse

    url = reverse(name, kwargs={"slug": world.org.slug})
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    for user, expected in [
        (world.owner, 200),
        (world.member, 200),
        (world.viewer, 200),
        (world.outsider, 404),
    ]:
        client.force_login(user)
        assert client.get(url).status_code == expected, (user, url)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/api/v1/properties/", {"name": "X", "timezone": "Europe/Vienna"}),
        ("/api/v1/locks/", {"name": "X", "driver": "virtual"}),
        ("/api/v1/bookings/", {}),
    ],
)
def test_list_urls_write_needs_write_scope_and_show_only_own_rows(world, url, body):
    from rest_framework.test import APIClient

    make_booking(world)
    make_lock(world)
    assert world.api(world.read_key).post(url, body, format="json").status_code == 403
    viewer = APIClient()
    viewer.force_login(world.viewer)
    assert viewer.post(url, body, format="json").status_code == 403
    own = world.api(world.read_key).get(url).json()["results"]
    assert own, url
    assert world.api(world.outsider_key).get(url).json()["results"] == []


@pytest.mark.django_db
@pytest.mark.parametrize("name", [n for n in all_routes() if n in POST_ROUTES])
def test_post_only_object_urls(world, name, commit):
    from django.urls import reverse
    from rest_framework.test import APIClient

    make, body = POST_ROUTES[name]
    obj = make(world)
    url = reverse(name, kwargs={"pk": obj.pk})
    assert world.api(world.read_key).post(url, body, format="json").status_code == 403
    assert world.api(world.outsider_key).post(url, body, format="json").status_code == 404
    viewer = APIClient()
    viewer.force_login(world.viewer)
    assert viewer.post(url, body, format="json").status_code == 403
    outsider = APIClient()
    outsider.force_login(world.outsider)
    assert outsider.post(url, body, format="json").status_code == 404
    with commit():
        assert world.api(world.write_key).post(url, body, format="json").status_code in (200, 202)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGE_POST_ROUTES))
def test_post_pages(world, client, name):
    from django.urls import reverse

    url = reverse(name, kwargs={"slug": world.org.slug})
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(world.outsider)
    assert client.post(url).status_code == 404
    client.force_login(world.viewer)
    assert client.post(url).status_code == 403
    client.force_login(world.member)
    assert client.post(url).status_code == 302  # on to Nuki Web's consent page
