"""Every time a manager sees is in the property's zone (or the organization's where no property
applies), named once per page, in one format: no UTC wall time leaks onto any manager page.

The walk visits every URL pattern of web/urls.py (GET) for an organization in Los Angeles whose
property is in Auckland, far from UTC on both sides, with data that makes each page show
times: code windows, last seen, commands, the activity log, emails, the stay link, alerts,
bridges, agents, API keys, invitations, PMS deliveries and feed fetches."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.db import models
from django.urls import URLPattern, reverse
from django.utils import timezone

from bookings.ical.models import FetchStatus, IcalFeed
from bookings.models import AccessGrant, GuestEmail, StayLink
from bookings.pms.models import PmsConnection, PmsEvent
from bookings.standing.services import standing_access_create
from bookings.stay.services import stay_create
from locks.models import Agent, Bridge, CommandStatus, Lock, LockCommand, LockEvent
from locks.services import lock_create
from portal.invitations import invitation_create
from portal.models import Alert, ApiKey, Membership
from portal.services import alert_raise
from portal.times import local_stamp, zone
from properties.services import property_create
from web import urls as web_urls

pytestmark = pytest.mark.django_db

ORG_ZONE = "America/Los_Angeles"  # UTC-8 in winter, -7 in summer
PROP_ZONE = "Pacific/Auckland"  # UTC+13 in the southern summer, +12 in winter
# The hour this module is loaded in: the moments below fall at minutes of their own, whatever
# the minute of loading. (From the minute itself, a load at :53 put them all on full hours, where
# the standing access and code windows are, and the UTC renderings left to tell apart fell to 10;
# all on one minute, they also matched each other's local renderings hours apart, which Auckland's
# change of offset in April made more of: 9 on 2027-04-04.)
NOW = timezone.now().replace(minute=0, second=0, microsecond=0)


def at(hours: float) -> dt.datetime:
    """A stored moment a few hours from now, off the full hour and at a minute no other of these
    moments has (7, plus 2 per hour away), so a UTC rendering of one can never equal a local
    rendering of another, whatever the zones' offsets that day."""
    return NOW + dt.timedelta(hours=hours, minutes=(7 + 2 * round(abs(hours))) % 60)


@pytest.fixture
def scene(world, commit):
    """An organization in Los Angeles with a property in Auckland, and something of each kind
    a manager page shows a time for."""
    org = world.org
    org.timezone = ORG_ZONE
    org.save(update_fields=["timezone"])
    prop = property_create(organization=org, name="Harbour", timezone=PROP_ZONE, external_ref="h")
    door = lock_create(organization=org, property=prop, name="Harbour door", driver="virtual")
    loose = lock_create(organization=org, property=None, name="Shed lock", driver="virtual")
    with commit():
        stay = stay_create(
            organization=org,
            property=prop,
            check_in=timezone.now().astimezone(prop.tz).date(),
            check_out=timezone.now().astimezone(prop.tz).date() + dt.timedelta(days=2),
            guest_name="Anna Auckland",
            guest_email="anna@example.com",
        )
    Lock.objects.filter(pk=door.pk).update(last_seen_at=at(-1))
    Lock.objects.filter(pk=loose.pk).update(last_seen_at=at(-2))
    event = LockEvent.objects.create(
        organization=org, lock=door, kind="unlock", source="keypad", occurred_at=at(-3)
    )
    failed = LockCommand.objects.create(
        organization=org,
        lock=door,
        kind="unlock",
        status=CommandStatus.FAILED,
        reason="The lock did not answer.",
        finished_at=at(-4),
    )
    LockCommand.objects.filter(pk=failed.pk).update(created_at=at(-5))
    GuestEmail.objects.filter(booking=stay).update(created_at=at(-6))
    StayLink.objects.filter(grant__booking=stay).update(created_at=at(-7))
    bridge = Bridge.objects.create(
        organization=org, name="Hall bridge", host="192.168.1.5", last_seen_at=at(-8)
    )
    Agent.objects.create(organization=org, name="Hall agent", last_seen_at=at(-9))
    key = ApiKey.objects.filter(organization=org).first()
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=at(-10))
    invitation, token = invitation_create(
        organization=org, email="new@example.com", role="manager", invited_by=world.owner
    )
    type(invitation).objects.filter(pk=invitation.pk).update(expires_at=at(30))
    pms = PmsConnection.objects.create(
        organization=org, kind="generic", name="P", last_event_at=at(-11)
    )
    PmsEvent.objects.create(
        organization=org, connection=pms, digest="d", body="{}", received_at=at(-12)
    )
    feed = IcalFeed.objects.create(
        organization=org,
        property=prop,
        url="https://x.test/a.ics",
        url_hash="h",
        url_masked="https://x.test/…",
        status=FetchStatus.OK,
        last_fetch_at=at(-13),
        last_success_at=at(-13),
    )
    lock_alert = alert_raise(
        organization=org, kind="bridge_error", subject=f"lock:{door.pk}", message="Door quiet."
    )
    bridge_alert = alert_raise(
        organization=org, kind="bridge_error", subject=f"bridge:{bridge.pk}", message="Bridge."
    )
    Alert.objects.filter(pk=lock_alert.pk).update(created_at=at(-14))
    Alert.objects.filter(pk=bridge_alert.pk).update(created_at=at(-15))
    standing = standing_access_create(
        organization=org,
        property=prop,
        name="Cleaner",
        role="cleaning",
        weekdays=127,
        from_time=dt.time(8),
        until_time=dt.time(20),
    )
    membership = Membership.objects.get(organization=org, user=world.member)
    pks = {
        "command": failed.pk,
        "alert": lock_alert.pk,
        "property": prop.pk,
        "feed": feed.pk,
        "standing": standing.pk,
        "lock": door.pk,
        "stay": stay.pk,
        "pms": pms.pk,
        "api-key": key.pk,
        "invitation": invitation.pk,
        "member": membership.pk,
        "email": GuestEmail.objects.filter(booking=stay).first().pk,
    }
    grant = AccessGrant.objects.get(booking=stay)
    # What must be seen somewhere, and in which zone.
    expected = {
        "code valid from": (grant.valid_from, PROP_ZONE),
        "code valid until": (grant.valid_until, PROP_ZONE),
        "lock last seen": (at(-1), PROP_ZONE),
        "property-less lock last seen": (at(-2), ORG_ZONE),
        "activity log": (event.occurred_at, PROP_ZONE),
        "failed command": (at(-4), PROP_ZONE),
        "command created": (at(-5), PROP_ZONE),
        "email sent": (at(-6), PROP_ZONE),
        "link made": (at(-7), PROP_ZONE),
        "bridge last seen": (at(-8), ORG_ZONE),
        "agent last seen": (at(-9), ORG_ZONE),
        "API key last used": (at(-10), ORG_ZONE),
        "invitation expires": (at(30), ORG_ZONE),
        "PMS last delivery": (at(-11), ORG_ZONE),
        "PMS delivery received": (at(-12), ORG_ZONE),
        "feed last fetch": (at(-13), PROP_ZONE),
        "alert on a lock": (at(-14), PROP_ZONE),
        "alert on a bridge": (at(-15), ORG_ZONE),
    }
    return pks, token, expected


# Which object each URL pattern's pk names (a new page with a pk must be added here).
PK_OF = {
    "command-status": "command",
    "command-retry": "command",
    "alert-dismiss": "alert",
    "feed-new": "property",
    "standing-new": "property",
    "member-role": "member",
    "member-remove": "member",
    "invitation-withdraw": "invitation",
    "api-key-revoke": "api-key",
    "email-body": "email",
}
PREFIX_OF = {  # the rest by their name's first word
    "property": "property",
    "feed": "feed",
    "standing": "standing",
    "lock": "lock",
    "stay": "stay",
    "pms": "pms",
}
# Pages about one property read in its zone; the others in the organization's.
PROPERTY_PAGES = {"lock-page", "stay-page", "property-page", "property-timeline"}


def _url(pattern: URLPattern, slug: str, pks: dict, token: str) -> str:
    kwargs = {}
    params = pattern.pattern.converters
    if "slug" in params:
        kwargs["slug"] = slug
    if "token" in params:
        kwargs["token"] = token
    if "pk" in params:
        key = PK_OF.get(pattern.name) or PREFIX_OF.get(pattern.name.split("-")[0])
        assert key, f"test_times does not know which object {pattern.name} shows"
        kwargs["pk"] = pks[key]
    return reverse(pattern.name, kwargs=kwargs)


def _stored_times(org) -> set[dt.datetime]:
    """Every datetime stored for the organization, in every model that has one."""
    found = set()
    for model in apps.get_models():
        names = [f.name for f in model._meta.fields if isinstance(f, models.DateTimeField)]
        if not names or "organization" not in {f.name for f in model._meta.fields}:
            continue
        for row in model.objects.filter(organization=org).values_list(*names):
            found.update(v for v in row if v is not None)
    return found


def test_no_utc_wall_time_leaks_onto_any_manager_page(client, world, scene):
    pks, token, expected = scene
    client.force_login(world.owner)
    stored = _stored_times(world.org)
    local = {local_stamp(v, z, named=False) for v in stored for z in (ORG_ZONE, PROP_ZONE)}
    # A UTC rendering that happens to equal a local one of another moment proves nothing.
    utc = {local_stamp(v, "UTC", named=False) for v in stored} - local
    assert len(utc) > 10
    seen = ""
    for pattern in web_urls.urlpatterns:
        if pattern.name == "invitation":
            continue  # the invitee's page, signed in as someone else: no times
        path = _url(pattern, world.org.slug, pks, token)
        response = client.get(path)
        assert response.status_code in (200, 302, 403, 405), (path, response.status_code)
        html = response.content.decode()
        leaks = sorted(u for u in utc if u in html)
        assert not leaks, f"{path} shows UTC wall times {leaks}"
        if response.status_code == 200 and "<main" in html and "slug" in str(pattern.pattern):
            page_zone = PROP_ZONE if pattern.name in PROPERTY_PAGES else ORG_ZONE
            assert f"Times in {page_zone}" in html, path
        seen += html
    missing = {
        what: local_stamp(v, z, named=False)
        for what, (v, z) in expected.items()
        if local_stamp(v, z, named=False) not in seen
    }
    assert not missing, f"not shown in their local time: {missing}"


def test_a_row_in_another_zone_than_the_page_names_its_zone(client, world, scene):
    """The Today page reads in Los Angeles; the Auckland lock's last seen says so."""
    client.force_login(world.owner)
    html = client.get(reverse("dashboard", kwargs={"slug": world.org.slug})).content.decode()
    assert local_stamp(at(-14), PROP_ZONE) in html  # the alert on the Auckland lock
    assert local_stamp(at(-15), ORG_ZONE, named=False) in html  # the bridge's: the page's zone
    assert local_stamp(at(-15), ORG_ZONE) not in html  # ...named once, not on every row


def test_lock_activity_filter_and_csv_use_the_property_day(client, world, scene):
    """ "From 3 Dec" means the property's 3 Dec, and the CSV is in its zone."""
    pks, _, _ = scene
    client.force_login(world.owner)
    event = LockEvent.objects.get(lock_id=pks["lock"], source="keypad")
    day = event.occurred_at.astimezone(timezone.get_default_timezone()).date()
    local_day = local_stamp(event.occurred_at, PROP_ZONE, named=False)[:10]
    path = reverse("lock-events-csv", kwargs={"slug": world.org.slug, "pk": pks["lock"]})
    body = client.get(path, {"since": local_day, "until": local_day}).content.decode()
    local = event.occurred_at.astimezone(zone(PROP_ZONE))
    assert local.isoformat() in body
    if day.isoformat() != local_day:  # the UTC day would have missed it
        utc_only = client.get(path, {"since": day, "until": day}).content.decode()
        assert local.isoformat() not in utc_only


def test_organization_time_zone_is_set_in_the_settings_page_and_the_api(client, world):
    client.force_login(world.owner)
    path = reverse("settings", kwargs={"slug": world.org.slug})
    assert world.org.timezone == "Europe/Vienna"  # the default
    bad = client.post(path, {"name": "Acme", "preload_hours": 72, "timezone": "Mars/Base"})
    assert bad.status_code == 400 and bad.context["org_form"].errors["timezone"]
    ok = client.post(path, {"name": "Acme", "preload_hours": 72, "timezone": ORG_ZONE})
    assert ok.status_code == 302
    world.org.refresh_from_db()
    assert world.org.timezone == ORG_ZONE
    assert f'<option value="{ORG_ZONE}" selected' in client.get(path).content.decode()

    api = world.api(world.write_key)
    assert api.get("/api/v1/organization/").json()["timezone"] == ORG_ZONE
    refused = api.patch("/api/v1/organization/", {"timezone": "Mars/Base"}, format="json")
    assert refused.status_code == 400 and "timezone" in refused.json()
    done = api.patch("/api/v1/organization/", {"timezone": PROP_ZONE}, format="json")
    assert done.status_code == 200 and done.json()["timezone"] == PROP_ZONE
    world.org.refresh_from_db()
    assert world.org.timezone == PROP_ZONE


def test_a_page_zone_does_not_leak_into_the_next_request(client, world, scene):
    """The API after a manager page on the same thread still answers in UTC."""
    pks, _, _ = scene
    client.force_login(world.owner)
    client.get(reverse("lock-page", kwargs={"slug": world.org.slug, "pk": pks["lock"]}))
    assert timezone.get_current_timezone_name() == "UTC"
