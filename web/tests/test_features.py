"""Pages for iCal feeds, standing access, backup code pools, the newer property and
organization settings, the guest's stay link and alert headlines, through Django's test client.
A real HTTP server on loopback serves the iCal feed (private addresses allowed only where the
test says so; refused otherwise, as in production)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from bookings.ical.models import FetchStatus, IcalFeed
from bookings.models import Booking, StandingAccess
from bookings.standing.services import standing_access_create
from locks.models import AccessCode, BackupCode
from portal.models import Alert
from portal.testing import days_from_now
from portal.tests.local_http import Answer, LocalServer

pytestmark = pytest.mark.django_db


def url(name, world, **kw):
    return reverse(name, kwargs={"slug": world.org.slug, **kw})


def as_user(client, user):
    client.force_login(user)
    return client


def ics(*events) -> bytes:
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN", "VERSION:2.0"]
    for uid, start, end in events:
        lines += [
            "BEGIN:VEVENT",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
            f"UID:{uid}",
            "SUMMARY:Reserved",
            "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/details/"
            "HMWEBTEST1\\nPhone Number (Last 4 Digits): 4711",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


@pytest.fixture
def server(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the feed server is on loopback
    with LocalServer() as srv:
        srv.answers["/cal.ics"] = Answer(
            body=ics(("a1@airbnb.com", days_from_now(2), days_from_now(4)))
        )
        yield srv


# iCal feeds --------------------------------------------------------------------------------


def test_feed_with_a_private_address_is_refused_with_the_guards_reason(
    client, world, prop, settings
):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    member = as_user(client, world.member)
    res = member.post(url("feed-new", world, pk=prop.pk), {"feed-url": "http://127.0.0.1:8/x.ics"})
    assert res.status_code == 400
    errors = res.context["feed_form"].errors["url"]
    assert "private or local network address" in errors[0], errors
    assert 'role="alert"' in res.content.decode()
    bad = member.post(url("feed-new", world, pk=prop.pk), {"feed-url": "not a link"})
    assert bad.status_code == 400 and bad.context["feed_form"].errors["url"]
    assert not IcalFeed.objects.exists()


def test_viewer_and_outsider_cannot_add_a_feed(client, world, prop, server):
    body = {"feed-url": server.url("/cal.ics")}
    assert (
        as_user(client, world.viewer).post(url("feed-new", world, pk=prop.pk), body).status_code
        == 403
    )
    assert (
        as_user(client, world.outsider).post(url("feed-new", world, pk=prop.pk), body).status_code
        == 404
    )
    assert not IcalFeed.objects.exists()


def test_feed_added_is_fetched_and_its_stay_shows_with_the_url_masked(
    client, world, prop, locks, server, commit
):
    member = as_user(client, world.member)
    with commit():
        res = member.post(
            url("feed-new", world, pk=prop.pk),
            {"feed-url": server.url("/cal.ics") + "?s=TOPSECRETTOKEN99", "feed-name": "Airbnb"},
        )
    assert res.status_code == 302
    feed = IcalFeed.objects.get(property=prop)
    assert (feed.status, feed.stay_count) == (FetchStatus.OK, 1)
    stay = Booking.objects.get(source=feed.source)
    for page_url in (url("property-page", world, pk=prop.pk), url("integrations", world)):
        html = as_user(client, world.viewer).get(page_url).content.decode()
        assert "TOPSECRETTOKEN99" not in html
        assert feed.url_masked in html and "Airbnb" in html
        assert "fetched" in html
    html = (
        as_user(client, world.member).get(url("property-page", world, pk=prop.pk)).content.decode()
    )
    assert reverse("stay-page", kwargs={"slug": world.org.slug, "pk": stay.pk}) in html
    assert "Fetch now" in html  # managers may fetch; viewers see no button
    viewer = as_user(client, world.viewer)
    assert "Fetch now" not in viewer.get(url("integrations", world)).content.decode()


def test_fetch_now_shows_progress_then_reloads(client, world, prop, server, commit):
    feed = IcalFeed.objects.create(
        organization=world.org,
        property=prop,
        url=server.url("/cal.ics"),
        url_hash="h",
        url_masked="m",
    )
    member = as_user(client, world.member)
    res = member.post(url("feed-fetch", world, pk=feed.pk), HTTP_HX_REQUEST="true")
    assert res.status_code == 200
    html = res.content.decode()
    assert 'hx-trigger="every 1s"' in html and "fetching" in html  # polled: not fetched yet
    status_url = html.split('hx-get="')[1].split('"')[0].replace("&amp;", "&")
    waiting = member.get(status_url, HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in waiting and "every 1s" in waiting.content.decode()
    with commit():
        from bookings.ical.services import feed_fetch

        feed_fetch(feed_id=feed.pk)
    done = member.get(status_url, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true" and "every 1s" not in done.content.decode()
    assert Booking.objects.filter(source=feed.source).count() == 1
    assert (
        as_user(client, world.viewer).post(url("feed-fetch", world, pk=feed.pk)).status_code == 403
    )


def test_feed_delete_keeps_its_stays(client, world, prop, locks, server, commit):
    with commit():
        as_user(client, world.member).post(
            url("feed-new", world, pk=prop.pk), {"feed-url": server.url("/cal.ics")}
        )
    feed = IcalFeed.objects.get()
    assert (
        as_user(client, world.viewer).post(url("feed-delete", world, pk=feed.pk)).status_code == 403
    )
    assert (
        as_user(client, world.outsider).post(url("feed-delete", world, pk=feed.pk)).status_code
        == 404
    )
    member = as_user(client, world.member)
    assert (
        "Yes, remove the feed" in member.get(url("feed-delete", world, pk=feed.pk)).content.decode()
    )
    res = member.post(url("feed-delete", world, pk=feed.pk), {"from": "integrations"})
    assert res.status_code == 302 and res["Location"] == url("integrations", world)
    assert not IcalFeed.objects.exists()
    assert Booking.objects.filter(source=f"ical:{feed.pk}", status="confirmed").count() == 1


# Standing access ---------------------------------------------------------------------------

GOOD = {
    "name": "Clara Cleaner",
    "role": "cleaning",
    "weekdays": ["mon", "thu"],
    "from_time": "10:00",
    "until_time": "14:00",
}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekdays": []}, "weekdays"),
        ({"until_time": "10:00"}, "until_time"),
        ({"starts_on": "2030-02-01", "ends_on": "2030-01-01"}, "ends_on"),
        ({"from_time": "25:00"}, "from_time"),
        ({"name": ""}, "name"),
    ],
)
def test_standing_access_bad_input_is_refused(client, world, prop, locks, change, field):
    res = as_user(client, world.member).post(
        url("standing-new", world, pk=prop.pk), {**GOOD, **change}
    )
    assert res.status_code == 400
    assert res.context["form"].errors[field]
    assert not StandingAccess.objects.exists()


def test_standing_access_refuses_a_door_of_another_property(client, world, prop, locks):
    from locks.services import lock_create
    from properties.services import property_create

    other = property_create(organization=world.org, name="Other", timezone="Europe/Vienna")
    elsewhere = lock_create(organization=world.org, property=other, name="X", driver="virtual")
    res = as_user(client, world.member).post(
        url("standing-new", world, pk=prop.pk), {**GOOD, "locks": [elsewhere.pk]}
    )
    assert res.status_code == 400 and res.context["form"].errors["locks"]
    assert not StandingAccess.objects.exists()


def test_standing_access_added_code_hidden_until_asked(client, world, prop, locks, commit):
    member = as_user(client, world.member)
    with commit():
        res = member.post(url("standing-new", world, pk=prop.pk), {**GOOD, "locks": [locks[1].pk]})
    assert res.status_code == 302
    access = StandingAccess.objects.get()
    assert access.weekdays == 64 + 8 and list(access.locks.all()) == [locks[1]]
    assert AccessCode.objects.filter(holder=access.holder, lock=locks[1], wanted=True).exists()
    html = member.get(url("property-page", world, pk=prop.pk)).content.decode()
    assert "Clara Cleaner" in html and "Mon, Thu" in html and "Flat door" in html
    assert access.code not in html
    code = member.get(url("standing-code", world, pk=access.pk))
    assert access.code in code.content.decode() and code["Cache-Control"] == "no-store"
    assert (
        as_user(client, world.viewer).get(url("standing-code", world, pk=access.pk)).status_code
        == 403
    )
    assert (
        as_user(client, world.outsider).get(url("standing-code", world, pk=access.pk)).status_code
        == 404
    )


def test_standing_access_edit_and_deactivate(client, world, prop, locks, commit):
    with commit():
        access = standing_access_create(
            organization=world.org,
            property=prop,
            name="Owen Owner",
            role="owner",
            weekdays=127,
            from_time=dt.time(8, 0),
            until_time=dt.time(20, 0),
        )
    member = as_user(client, world.member)
    form = member.get(url("standing-edit", world, pk=access.pk))
    assert form.status_code == 200 and 'value="08:00"' in form.content.decode()
    bad = member.post(url("standing-edit", world, pk=access.pk), {**GOOD, "weekdays": []})
    assert bad.status_code == 400
    access.refresh_from_db()
    assert access.name == "Owen Owner" and access.weekdays == 127
    with commit():
        ok = member.post(url("standing-edit", world, pk=access.pk), {**GOOD, "weekdays": ["sat"]})
    assert ok.status_code == 302
    access.refresh_from_db()
    assert (access.name, access.weekdays, access.from_time) == ("Clara Cleaner", 2, dt.time(10))
    assert (
        as_user(client, world.viewer).post(url("standing-active", world, pk=access.pk)).status_code
        == 403
    )
    access.refresh_from_db()
    assert access.active
    with commit():
        member = as_user(client, world.member)
        assert member.post(url("standing-active", world, pk=access.pk)).status_code == 302
    access.refresh_from_db()
    assert not access.active
    assert not AccessCode.objects.filter(holder=access.holder, wanted=True).exists()
    assert "Reactivate" in member.get(url("property-page", world, pk=prop.pk)).content.decode()
    with commit():
        member.post(url("standing-active", world, pk=access.pk), {"active": "1"})
    access.refresh_from_db()
    assert access.active
    assert AccessCode.objects.filter(holder=access.holder, wanted=True).count() == 2


# Backup code pools -------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["-1", "21", "many", ""])
def test_backup_pool_bad_size_is_refused(client, world, locks, size):
    res = as_user(client, world.member).post(
        url("lock-backup-pool", world, pk=locks[0].pk), {"backup_pool_size": size}
    )
    assert res.status_code == 400 and res.context["pool_form"].errors["backup_pool_size"]
    locks[0].refresh_from_db()
    assert locks[0].backup_pool_size == 0


def test_backup_pool_set_and_codes_hidden_until_asked(client, world, locks, commit):
    lock = locks[0]
    viewer = as_user(client, world.viewer)
    assert (
        viewer.post(url("lock-backup-pool", world, pk=lock.pk), {"backup_pool_size": 3}).status_code
        == 403
    )
    member = as_user(client, world.member)
    with commit():
        res = member.post(url("lock-backup-pool", world, pk=lock.pk), {"backup_pool_size": 2})
    assert res.status_code == 302
    lock.refresh_from_db()
    assert lock.backup_pool_size == 2
    pool = list(BackupCode.objects.filter(lock=lock, status="available"))
    assert len(pool) == 2
    html = member.get(url("lock-page", world, pk=lock.pk)).content.decode()
    assert f"#{pool[0].pk}" in html and "available" in html
    assert all(b.code not in html for b in pool)
    shown = member.get(url("lock-backup-codes", world, pk=lock.pk))
    assert all(b.code in shown.content.decode() for b in pool)
    assert shown["Cache-Control"] == "no-store"
    assert (
        as_user(client, world.viewer).get(url("lock-backup-codes", world, pk=lock.pk)).status_code
        == 403
    )
    assert (
        "Show the backup codes"
        not in client.get(url("lock-page", world, pk=lock.pk)).content.decode()
    )


def test_backup_code_given_out_names_its_stay(client, world, prop, locks):
    stay = Booking.objects.create(
        organization=world.org,
        property=prop,
        external_id="b1",
        status="confirmed",
        check_in=days_from_now(0),
        check_out=days_from_now(1),
    )
    from bookings.models import AccessGrant

    grant = AccessGrant.objects.create(
        organization=world.org, booking=stay, code="345679", valid_from=stay.created_at,
        valid_until=stay.created_at,
    )  # fmt: skip
    BackupCode.objects.create(
        organization=world.org, lock=locks[0], code="987654", status="taken",
        taken_by=grant.holder, taken_at=stay.created_at,
    )  # fmt: skip
    html = (
        as_user(client, world.member).get(url("lock-page", world, pk=locks[0].pk)).content.decode()
    )
    assert "given out" in html and url("stay-page", world, pk=stay.pk) in html
    assert "987654" not in html


# Settings ----------------------------------------------------------------------------------


def property_form(prop, **changes):
    return {
        "name": prop.name,
        "timezone": prop.timezone,
        "check_in_time": "15:00",
        "check_out_time": "11:00",
        "lead_minutes": 0,
        "lag_minutes": 0,
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"step_up_verifier": "email_code", "step_up_from": "22:00"}, "step_up_until"),
        ({"step_up_verifier": "carrier_pigeon"}, "step_up_verifier"),
        ({"cleaning_minutes": "-5"}, "cleaning_minutes"),
    ],
)
def test_property_step_up_and_cleaning_bad_input(client, world, prop, changes, field):
    res = as_user(client, world.member).post(
        url("property-edit", world, pk=prop.pk), property_form(prop, **changes)
    )
    assert res.status_code == 200 and res.context["form"].errors, res.content[:300]
    errors = res.context["form"].errors
    assert field in errors or "__all__" in errors, errors
    prop.refresh_from_db()
    assert (prop.step_up_verifier, prop.step_up_from, prop.cleaning_minutes) == ("", None, 0)


def test_property_step_up_cleaning_and_app_access_saved(client, world, prop):
    member = as_user(client, world.member)
    res = member.post(
        url("property-edit", world, pk=prop.pk),
        property_form(
            prop,
            step_up_verifier="email_code",
            step_up_from="22:00",
            step_up_until="06:00",
            cleaning_minutes=90,
            app_access="on",
        ),
    )
    assert res.status_code == 302
    prop.refresh_from_db()
    assert (prop.step_up_verifier, prop.step_up_from, prop.step_up_until) == (
        "email_code",
        dt.time(22),
        dt.time(6),
    )
    assert prop.cleaning_minutes == 90 and prop.app_access
    html = member.get(url("property-page", world, pk=prop.pk)).content.decode()
    assert "22:00\u201306:00" in html and "90 min between two guests" in html


def test_organization_backup_lead_and_foreign_codes(client, world):
    owner = as_user(client, world.owner)
    base = {"name": world.org.name, "preload_hours": 72}
    bad = owner.post(url("settings", world), {**base, "backup_lead_minutes": -5})
    assert bad.status_code == 400 and bad.context["org_form"].errors["backup_lead_minutes"]
    world.org.refresh_from_db()
    assert (world.org.backup_lead_minutes, world.org.remove_foreign_codes) == (120, False)
    viewer = as_user(client, world.viewer)
    body = {**base, "backup_lead_minutes": 30, "remove_foreign_codes": "on"}
    assert viewer.post(url("settings", world), body).status_code == 403
    member = as_user(client, world.member)
    assert member.post(url("settings", world), body).status_code == 302
    world.org.refresh_from_db()
    assert (world.org.backup_lead_minutes, world.org.remove_foreign_codes) == (30, True)
    html = as_user(client, world.viewer).get(url("settings", world)).content.decode()
    assert "30 minutes before check-in" in html and "are removed" in html


# Stay link and alerts ----------------------------------------------------------------------


def test_stay_page_says_whether_the_guest_link_exists_without_showing_it(
    client, world, prop, locks, commit
):
    from bookings.stay.links import stay_link_token
    from bookings.stay.services import stay_create

    with commit():
        stay = stay_create(
            organization=world.org, property=prop, check_in=days_from_now(1),
            check_out=days_from_now(3), guest_name="Greta",
        )  # fmt: skip
    member = as_user(client, world.member)
    assert "No link yet" in member.get(url("stay-page", world, pk=stay.pk)).content.decode()
    token = stay_link_token(grant=stay.grant)
    html = member.get(url("stay-page", world, pk=stay.pk)).content.decode()
    assert "Link made" in html and token not in html


def test_alerts_have_a_headline_and_a_link_in_the_managers_language(client, world, locks):
    Alert.objects.create(
        organization=world.org, kind="lock_nearly_full", subject=f"lock:{locks[0].pk}",
        message="Building door holds 95 of the 100 keypad codes it can store.", fix="Remove some.",
    )  # fmt: skip
    Alert.objects.create(
        organization=world.org, kind="foreign_codes", subject=f"lock:{locks[1].pk}",
        severity="info", message="Flat door holds 1 keypad code(s) Latchkey did not create.",
    )  # fmt: skip
    Alert.objects.create(
        organization=world.org, kind="pms_unmapped", subject="pms:1:L-77",
        message="Hostaway listing L-77 is not linked to a property.",
    )  # fmt: skip
    member = as_user(client, world.member)
    html = member.get(url("dashboard", world)).content.decode()
    assert (
        "PMS listing without a property" in html and url("integrations", world) + "#pms-h" in html
    )
    assert "Lock nearly full" in html and "Codes Latchkey did not create" in html
    assert url("lock-page", world, pk=locks[0].pk) in html
    assert url("settings", world) + "#org-h" in html
    german = member.get(url("dashboard", world), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Schloss fast voll" in german


def test_settings_overview_of_backup_pools_and_step_up(client, world, prop, locks, commit):
    with commit():
        from locks.services import lock_update

        lock_update(lock=locks[0], backup_pool_size=2)
    prop.step_up_verifier = "email_code"
    prop.save()
    html = as_user(client, world.viewer).get(url("settings", world)).content.decode()
    pools = html.split('id="pools-h"')[1].split("</section>")[0]
    assert "Building door" in pools and "2 / 2" in pools and "Flat door" not in pools
    step_up = html.split('id="stepup-h"')[1].split("</section>")[0]
    assert "Alpine Loft" in step_up and "always" in step_up


def test_fetch_now_is_rate_limited_per_organization(
    throttle_window, client, world, prop, settings
):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    limited = {**rates, "ical_fetch": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": limited}
    feed = IcalFeed.objects.create(
        organization=world.org, property=prop, url="https://x.test/a.ics", url_hash="h",
        url_masked="https://x.test/…", status="ok", last_fetch_at=prop.created_at,
    )  # fmt: skip
    member = as_user(client, world.member)
    fetch = url("feed-fetch", world, pk=feed.pk)
    for _ in range(2):
        assert "fetching" in member.post(fetch, HTTP_HX_REQUEST="true").content.decode()
    third = member.post(fetch, HTTP_HX_REQUEST="true").content.decode()
    assert "Too many fetches" in third and "every 1s" not in third
