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
    "favicon",
    "ping",
    "schema",
    "api-docs",
    "api-redoc",
    "login",
    "logout",
    "home",
    "property-list",
    "lock-list",
    "booking-list",
    "standing-access-list",
    "bridge-list",
    "icalfeed-list",
    # the URL's secret is the credential: locks/tests/integrations/test_bridge_portal.py
    "bridge-callback",
    "nuki-web-webhook",  # signed: locks/tests/integrations/test_nukiweb_portal.py
    # The URL's key names the connection; signature/password per PMS:
    # bookings/tests/test_pms_webhooks.py
    "pms-webhook",
    "pms-connection-list",  # own organization's rows only: bookings/tests/test_pms_api.py
    # session-bound OAuth state: locks/tests/integrations/test_nukiweb_portal.py
    "nuki-web-callback",
    "nuki-web-connection",  # the caller's own organization only, no object id
    "organization-settings",  # own organization only: portal/tests/test_org_settings.py
    # The on-site agent's own API: its token names its organization; no object of another
    # agent can be named (jobs are looked up with the agent): locks/tests/agent/test_agent_portal.py
    "agent-enroll",
    "agent-locks",
    "agent-jobs",
    "agent-job-result",
    "agent-events",
    # The guest's stay page: public by an unguessable token (only its hash is stored) naming one
    # stay; no organization or object id in the URL; tested in bookings/tests/test_stay_page.py
    # (unknown and other stays' tokens 404, rate limits, CSRF, expiry 410).
    "stay",
    "stay-open",
    "stay-opening",
    # Manager pages outside an organization: Django's password reset (throttled per address),
    # the language switch, the re-authentication page (the user's own session) and the
    # invitation link (a signed token is the credential: web/tests/test_accounts.py).
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "set_language",
    "sudo",
    "invitation",
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


def make_guest_email(world):
    from django.utils import timezone

    from bookings.models import GuestEmail

    booking = make_booking(world)
    return GuestEmail.objects.create(
        organization=world.org,
        booking=booking,
        kind="access",
        to="g@x.test",
        language="en",
        subject="Your door code",
        body_text="Your code is 123456",
        body_html="",
        valid_from=timezone.now(),
        valid_until=timezone.now(),
        code="123456",
    )


def make_standing_access(world):
    import datetime as dt

    from bookings.standing.services import standing_access_create

    return standing_access_create(
        organization=world.org,
        property=make_lock(world).property,
        name="Cleaner",
        weekdays=64,
        from_time=dt.time(11, 0),
        until_time=dt.time(15, 0),
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


def make_ical_feed(world):
    from bookings.ical.models import IcalFeed

    # Never fetched for real here: with private URLs refused (the default) the guard stops it.
    url = "http://127.0.0.1:9/feed.ics?s=secret"
    return IcalFeed.objects.create(
        organization=world.org,
        property=make_property(world),
        url=url,
        url_hash="x",
        url_masked="http://127.0.0.1:9/…cret",
    )


# name -> (how to make an object of world.org, a valid PATCH body or None if read-only)
OBJECT_ROUTES = {
    "property-detail": (make_property, {"name": "Renamed"}),
    "lock-detail": (make_lock, {"name": "Renamed"}),
    "lock-codes": (make_lock, None),
    "lock-events": (make_lock, None),
    "booking-detail": (make_booking, None),
    "bridge-detail": (make_bridge, None),
    "action-detail": (make_action, None),
    "icalfeed-detail": (make_ical_feed, None),
    "standing-access-detail": (make_standing_access, {"name": "Renamed"}),
    "pms-connection-detail": (make_pms_connection, {"name": "Renamed"}),
    "pms-connection-mappings": (make_pms_connection, None),
    "pms-connection-events": (make_pms_connection, None),
}
# name -> (how to make the object, a valid POST body): POST-only object URLs
POST_ROUTES = {
    "lock-actions": (make_lock, {"action": "unlock"}),
    "icalfeed-fetch": (make_ical_feed, {}),
    "pms-connection-secret": (make_pms_connection, {}),
}
PAGE_ROUTES = {  # take the organization's slug; every member may read them
    "dashboard",
    "emails",
    "properties",
    "locks",
    "stays",
    "integrations",
    "settings",
}


def make_command(world):
    from locks.models import LockCommand

    return LockCommand.objects.create(
        organization=world.org, lock=make_lock(world), kind="reconcile", status="failed"
    )


def make_alert(world):
    from portal.models import Alert

    return Alert.objects.create(organization=world.org, kind="k", subject="s", message="m")


def make_api_key(world):
    from portal.models import ApiKey

    return ApiKey.objects.filter(organization=world.org).first()


def make_invitation(world):
    from portal.invitations import invitation_create

    return invitation_create(organization=world.org, email="invitee@x.test", role="viewer")[0]


def make_membership(world):
    from portal.models import Membership

    return Membership.objects.get(organization=world.org, user=world.viewer)


# Manager pages with an object id: (how to make it, what a write needs: None = read page,
# "write" = owners and managers, "owner" = owners only; POST body or None for a GET page).
_stay_dates = {"check_in": "2030-01-01", "check_out": "2030-01-03"}
PAGE_OBJECT_ROUTES = {
    "property-page": (make_property, None, None),
    "property-timeline": (make_property, None, None),
    "property-edit": (make_property, "write", None),
    # A property with a stay: the member's delete is refused, so the owner still finds it.
    "property-delete": (lambda world: make_booking(world).property, "write", {}),
    "lock-page": (make_lock, None, None),
    "lock-events-csv": (make_lock, None, None),
    "lock-edit": (make_lock, "write", None),
    "lock-action": (make_lock, "write", {"action": "unlock"}),
    "stay-page": (make_booking, None, None),
    # A guest's code: owners and managers only (portal.tenancy.may_see_secrets).
    "stay-code": (make_booking, "write", None),
    "email-body": (make_guest_email, "write", None),
    "stay-dates": (make_booking, "write", _stay_dates),
    "stay-cancel": (make_booking, "write", {}),
    "stay-new-code": (make_booking, "write", {}),
    "stay-send": (make_booking, "write", {}),
    "command-status": (make_command, None, None),
    "command-retry": (make_command, "write", {}),
    "alert-dismiss": (make_alert, "write", {}),
    "api-key-revoke": (make_api_key, "owner", {}),
    "member-role": (make_membership, "owner", {"role": "manager"}),
    "member-remove": (make_membership, "owner", None),
    # Withdrawing a pending invitation (owners; asks for the password: web/tests/test_accounts.py).
    "invitation-withdraw": (make_invitation, "owner", {}),
    # iCal feeds: added on the property's page (a refused URL answers 400 and adds nothing),
    # a GET confirmation before removing, fetch now, and the polled status cell.
    "feed-new": (make_property, "write", {"feed-url": "http://127.0.0.1:9/x.ics"}),
    "feed-status": (make_ical_feed, None, None),
    "feed-fetch": (make_ical_feed, "write", {}),
    "feed-delete": (make_ical_feed, "write", None),
    # Standing access: its code only for owners and managers.
    "standing-new": (make_property, "write", None),
    "standing-edit": (make_standing_access, "write", None),
    "standing-active": (make_standing_access, "write", {}),
    "standing-code": (make_standing_access, "write", None),
    # Backup code pools: the size, and the digits only for owners and managers.
    "lock-backup-pool": (make_lock, "write", {"backup_pool_size": 0}),
    "lock-backup-codes": (make_lock, "write", None),
    # PMS connections: removal confirmed on a GET page first; the secret (after sudo).
    "pms-delete": (make_pms_connection, "write", None),
    "pms-secret": (make_pms_connection, "write", {}),
    "pms-map": (make_pms_connection, "write", None),
}
# Manager pages with only the slug that change something: (who may, POST body or None)
PAGE_WRITE_ROUTES = {
    "property-new": ("write", None),
    "lock-new": ("write", None),
    "stay-new": ("write", None),
    "bridge-new": (
        "write",
        {
            "bridge-name": "B",
            "bridge-host": "10.0.0.9",
            "bridge-port": 8080,
            "bridge-token_mode": "plain",
        },
    ),
    "agent-new": ("write", {"agent-name": "Agent"}),
    "nuki-web-token": ("write", {}),
    "pms-new": ("write", {"pms-kind": "smoobu"}),
    "api-key-new": ("owner", None),
    "member-invite": ("owner", {"email": "new@x.test", "role": "viewer"}),
    "settings-retention": (
        "owner",
        {"retention_raw_days": 30, "retention_lock_event_days": 396, "retention_guest_days": 90},
    ),
}


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
        - PAGE_POST_ROUTES - set(PAGE_OBJECT_ROUTES) - set(PAGE_WRITE_ROUTES)
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
        ("/api/v1/ical-feeds/", {"property": 1, "url": "https://example.com/x.ics"}),
        ("/api/v1/standing-access/", {}),
    ],
)
def test_list_urls_write_needs_write_scope_and_show_only_own_rows(world, url, body):
    from rest_framework.test import APIClient

    make_booking(world)
    make_lock(world)
    make_ical_feed(world)
    make_standing_access(world)
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
def test_post_pages(world, client, name, settings):
    from django.urls import reverse

    settings.NUKI_WEB_CLIENT_ID = "latchkey-test"  # Connect Nuki Web is configured

    url = reverse(name, kwargs={"slug": world.org.slug})
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(world.outsider)
    assert client.post(url).status_code == 404
    client.force_login(world.viewer)
    assert client.post(url).status_code == 403
    client.force_login(world.member)
    assert client.post(url).status_code == 302  # on to Nuki Web's consent page


def _expect_page_access(client, world, url, *, who, body):
    """Anonymous → sign-in; outsider → 404; those without the role → 403; the rest get in."""
    send = (lambda c: c.get(url)) if body is None else (lambda c: c.post(url, body))
    client.logout()
    anonymous = send(client)
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"], url
    allowed = {
        None: ("owner", "member", "viewer"),
        "write": ("owner", "member"),
        "owner": ("owner",),
    }
    users = {"owner": world.owner, "member": world.member, "viewer": world.viewer}
    client.force_login(world.outsider)
    assert send(client).status_code == 404, (url, "outsider")
    for name in ("viewer", "member", "owner"):  # least to most rights: writes come last
        client.force_login(users[name])
        status = send(client).status_code
        if name in allowed[who]:
            assert status in (200, 302, 400), (url, name, status)
        else:
            assert status == 403, (url, name, status)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGE_OBJECT_ROUTES))
def test_page_object_urls(world, client, name):
    from django.urls import reverse

    make, who, body = PAGE_OBJECT_ROUTES[name]
    obj = make(world)
    url = reverse(name, kwargs={"slug": world.org.slug, "pk": obj.pk})
    _expect_page_access(client, world, url, who=who, body=body)
    # The outsider naming the object under their own organization's slug learns nothing either.
    other = reverse(name, kwargs={"slug": world.other_org.slug, "pk": obj.pk})
    client.force_login(world.outsider)
    send = client.get if body is None else client.post
    assert send(other, body or {}).status_code == 404, other


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGE_WRITE_ROUTES))
def test_page_write_urls(world, client, name):
    from django.urls import reverse

    who, body = PAGE_WRITE_ROUTES[name]
    url = reverse(name, kwargs={"slug": world.org.slug})
    _expect_page_access(client, world, url, who=who, body=body)
