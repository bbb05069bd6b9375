"""The manager pages through Django's test client: forms validate field by field and change
nothing when wrong, actions reach the services, live fragments answer htmx, German works."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from bookings.models import Booking, GuestEmail
from bookings.stay.services import stay_create
from locks.models import AccessCode, CommandStatus, Lock, LockCommand, LockEvent
from portal.testing import days_from_now
from properties.models import Property

pytestmark = pytest.mark.django_db


def url(name, world, **kw):
    return reverse(name, kwargs={"slug": world.org.slug, **kw})


@pytest.fixture
def member(client, world):
    client.force_login(world.member)
    return client


@pytest.fixture
def stay(world, prop, locks, commit):
    with commit():
        return stay_create(
            organization=world.org,
            property=prop,
            check_in=days_from_now(0),
            check_out=days_from_now(2),
            guest_name="Greta Guest",
            guest_email="greta@example.com",
        )


def test_property_create_validates_and_creates(member, world):
    bad = member.post(url("property-new", world), {"name": "", "timezone": "Mars/Base"})
    assert bad.status_code == 200
    assert bad.context["form"].errors.keys() >= {"name", "timezone"}
    assert not Property.objects.filter(organization=world.org).exists()
    good = member.post(
        url("property-new", world),
        {
            "name": "Seaside",
            "timezone": "Europe/Lisbon",
            "check_in_time": "16:00",
            "check_out_time": "10:00",
            "lead_minutes": 30,
            "lag_minutes": 15,
        },
    )
    prop = Property.objects.get(organization=world.org, name="Seaside")
    assert good.status_code == 302 and good["Location"] == url("property-page", world, pk=prop.pk)
    assert (prop.timezone, prop.lead_minutes, prop.check_in_time) == (
        "Europe/Lisbon",
        30,
        dt.time(16, 0),
    )


def test_property_edit_replans_stays(member, world, prop, stay):
    before = AccessCode.objects.filter(holder=stay.grant.holder).first().valid_from
    form = {
        "name": prop.name,
        "timezone": prop.timezone,
        "check_in_time": "12:00",
        "check_out_time": "11:00",
        "lead_minutes": 0,
        "lag_minutes": 0,
    }
    assert member.post(url("property-edit", world, pk=prop.pk), form).status_code == 302
    after = AccessCode.objects.filter(holder=stay.grant.holder).first().valid_from
    assert after == before - dt.timedelta(hours=3)


def test_virtual_lock_with_simulation_settings(member, world, prop):
    res = member.post(
        url("lock-new", world),
        {"name": "Gate", "property": prop.pk, "capacity": 50, "offline": "on", "delay_ms": 10},
    )
    lock = Lock.objects.get(name="Gate")
    assert res.status_code == 302
    assert (lock.driver, lock.capacity, lock.property_id) == ("virtual", 50, prop.pk)
    assert lock.config == {"offline": True, "failure_rate": 0.0, "delay_ms": 10}
    # Another organization's property cannot be chosen.
    other = Property.objects.create(organization=world.other_org, name="X", timezone="UTC")
    res = member.post(url("lock-new", world), {"name": "Evil", "property": other.pk, "capacity": 5})
    assert "property" in res.context["form"].errors
    assert not Lock.objects.filter(name="Evil").exists()


def test_stay_flow_create_code_hidden_dates_new_code_resend_cancel(member, world, prop, locks):
    res = member.post(
        url("stay-new", world),
        {
            "property": prop.pk,
            "guest_name": "Ida",
            "guest_email": "ida@example.com",
            "guest_language": "de",
            "check_in": str(days_from_now(1)),
            "check_out": str(days_from_now(1)),
        },
    )
    assert "check_out" in res.context["form"].errors  # not after check-in
    assert not Booking.objects.exists()
    res = member.post(
        url("stay-new", world),
        {
            "property": prop.pk,
            "guest_name": "Ida",
            "guest_email": "ida@example.com",
            "guest_language": "de",
            "check_in": str(days_from_now(1)),
            "check_out": str(days_from_now(3)),
        },
    )
    booking = Booking.objects.get()
    assert res.status_code == 302 and booking.source == "manual"
    grant = booking.grant
    page = member.get(url("stay-page", world, pk=booking.pk)).content.decode()
    assert "Ida" in page and grant.code not in page  # hidden until asked for
    code = member.get(url("stay-code", world, pk=booking.pk), HTTP_HX_REQUEST="true")
    assert grant.code in code.content.decode()

    # Extend: same code, later end on every lock.
    res = member.post(
        url("stay-dates", world, pk=booking.pk),
        {"check_in": str(days_from_now(1)), "check_out": str(days_from_now(5))},
    )
    assert res.status_code == 302
    codes = AccessCode.objects.filter(holder=grant.holder)
    assert {c.code for c in codes} == {grant.code}
    assert {c.valid_until.date() for c in codes} == {days_from_now(5)}
    bad = member.post(
        url("stay-dates", world, pk=booking.pk),
        {"check_in": str(days_from_now(4)), "check_out": str(days_from_now(2))},
    )
    assert bad.status_code == 400
    booking.refresh_from_db()
    assert booking.check_out == days_from_now(5)

    # A new code replaces the old one on every lock.
    member.post(url("stay-new-code", world, pk=booking.pk))
    grant.refresh_from_db()
    assert {c.code for c in AccessCode.objects.filter(holder=grant.holder)} == {grant.code}
    assert grant.code not in page

    # Send: refused while no first email went out (the code is not on the doors yet: the
    # commands run at commit, which this test does not reach); resending once it went out is
    # test_resend_repeats_the_same_email.
    res = member.post(url("stay-send", world, pk=booking.pk), follow=True)
    assert "No email was sent yet" in res.content.decode()
    assert not GuestEmail.objects.filter(booking=booking).exists()

    # Cancel: the codes are withdrawn.
    member.post(url("stay-cancel", world, pk=booking.pk))
    booking.refresh_from_db()
    assert booking.status == "cancelled"
    assert not AccessCode.objects.filter(holder=grant.holder, wanted=True).exists()


def test_resend_repeats_the_same_email(member, world, stay):
    first = GuestEmail.objects.get(booking=stay)  # sent when the code was set (eager tasks)
    member.post(url("stay-send", world, pk=stay.pk))
    second = GuestEmail.objects.filter(booking=stay).latest("created_at")
    assert second.pk != first.pk
    assert (second.subject, second.body_text) == (first.subject, first.body_text)


def test_stay_sync_fragment_polls_only_while_busy(member, world, stay):
    ac = AccessCode.objects.filter(holder=stay.grant.holder).first()
    fragment = member.get(url("stay-page", world, pk=stay.pk), HTTP_HX_REQUEST="true")
    body = fragment.content.decode()
    assert body.lstrip().startswith('<div id="stay-sync"') and "<html" not in body
    assert "hx-trigger" not in body  # everything set: no more polling
    AccessCode.objects.filter(pk=ac.pk).update(state="setting")
    body = member.get(url("stay-page", world, pk=stay.pk), HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in body.content.decode()


def test_today_shows_failed_command_and_retry_runs_it_again(
    member, world, prop, locks, commit, settings
):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    lock = locks[0]
    lock.config = {"offline": True}
    lock.save()
    with commit():
        booking = stay_create(
            organization=world.org,
            property=prop,
            check_in=days_from_now(1),
            check_out=days_from_now(2),
            guest_name="Otto",
        )
    cmd = LockCommand.objects.get(lock=lock, status=CommandStatus.FAILED)
    page = member.get(url("dashboard", world)).content.decode()
    assert "The lock is offline." in page and "Check the lock" in page
    assert url("command-retry", world, pk=cmd.pk) in page
    assert "Otto" in page and "code not set" in page
    lock.config = {}
    lock.save()
    with commit():
        res = member.post(url("command-retry", world, pk=cmd.pk), {"next": "https://evil.test/"})
    assert res.status_code == 302 and res["Location"] == url("dashboard", world)
    cmd.refresh_from_db()
    assert cmd.status == CommandStatus.SUCCEEDED
    assert AccessCode.objects.get(lock=lock, holder=booking.grant.holder).state == "set"
    assert "The lock is offline." not in member.get(url("dashboard", world)).content.decode()


def test_today_fragment_for_htmx(member, world):
    body = member.get(url("dashboard", world), HTTP_HX_REQUEST="true").content.decode()
    assert body.startswith('<div id="today-live"') and "<html" not in body


def test_lock_action_and_live_status(member, world, locks, commit):
    with commit():
        res = member.post(
            url("lock-action", world, pk=locks[0].pk), {"action": "unlock"}, HTTP_HX_REQUEST="true"
        )
    cmd = LockCommand.objects.get(kind="lock_action")
    assert f'id="cmd-{cmd.pk}"' in res.content.decode()
    status = member.get(url("command-status", world, pk=cmd.pk), HTTP_HX_REQUEST="true")
    assert cmd.status == "pending" or "Done" in status.content.decode()
    cmd.refresh_from_db()
    assert cmd.status == "succeeded"
    assert "Done" in status.content.decode()
    assert "hx-trigger" not in status.content.decode()  # finished: polling stops
    refused = member.post(url("lock-action", world, pk=locks[0].pk), {"action": "explode"})
    assert refused.status_code == 302
    assert LockCommand.objects.filter(kind="lock_action").count() == 1


def test_activity_log_filters_and_csv(member, world, locks):
    lock = locks[0]
    now = dt.datetime.now(dt.UTC)
    LockEvent.objects.bulk_create(
        [
            LockEvent(
                organization=world.org, lock=lock, kind="unlock", message="door", occurred_at=now
            ),
            LockEvent(
                organization=world.org,
                lock=lock,
                kind="battery",
                message="=HYPERLINK(1)",
                occurred_at=now - dt.timedelta(days=3),
            ),
        ]
    )
    page = member.get(url("lock-page", world, pk=lock.pk), {"kind": "unlock"}).content.decode()
    assert "door" in page and "HYPERLINK" not in page
    csv = member.get(url("lock-events-csv", world, pk=lock.pk)).content.decode()
    lines = csv.strip().splitlines()
    assert lines[0] == "occurred_at,kind,source,message"
    assert len(lines) == 3 and "'=HYPERLINK(1)" in csv  # no formula injection
    since = str((now - dt.timedelta(days=1)).date())
    csv = member.get(url("lock-events-csv", world, pk=lock.pk), {"since": since}).content.decode()
    assert len(csv.strip().splitlines()) == 2


def test_stays_list_filters(member, world, prop, locks, commit):
    with commit():
        for name, day in [("Anna", 1), ("Bert", 3)]:
            stay_create(
                organization=world.org,
                property=prop,
                check_in=days_from_now(day),
                check_out=days_from_now(day + 1),
                guest_name=name,
            )
    page = member.get(url("stays", world), {"q": "ann"}).content.decode()
    assert "Anna" in page and "Bert" not in page
    page = member.get(url("stays", world), {"when": "past"}).content.decode()
    assert "Anna" not in page
    timeline = member.get(url("property-timeline", world, pk=prop.pk)).content.decode()
    assert "Anna" in timeline and "Bert" in timeline


def test_viewer_sees_no_write_buttons(client, world, stay):
    client.force_login(world.viewer)
    page = client.get(url("stay-page", world, pk=stay.pk)).content.decode()
    assert "Resend email" not in page and "Change dates" not in page
    assert client.post(url("stay-cancel", world, pk=stay.pk)).status_code == 403
    stay.refresh_from_db()
    assert stay.status == "confirmed"


def test_german(member, world):
    member.post(reverse("set_language"), {"language": "de", "next": "/"})
    page = member.get(url("dashboard", world)).content.decode()
    assert 'lang="de"' in page and "Heute" in page and "Aufenthalte" in page


def test_compiled_translations_match_the_po_file(tmp_path):
    """The committed .mo is what msgfmt makes of the .po (a fresh clone needs no compile)."""
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("msgfmt") is None:
        pytest.skip("msgfmt (gettext) not installed")
    locale = Path(__file__).resolve().parents[2] / "locale" / "de" / "LC_MESSAGES"
    out = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "-o", str(out), str(locale / "django.po")], check=True)
    assert out.read_bytes() == (locale / "django.mo").read_bytes(), "run: make messages"


def test_date_fields_keep_iso_values_in_german(member, world, stay):
    """<input type=date> only takes YYYY-MM-DD: a localized value would show an empty field."""
    member.post(reverse("set_language"), {"language": "de", "next": "/"})
    page = member.get(url("stay-page", world, pk=stay.pk)).content.decode()
    assert f'value="{stay.check_in.isoformat()}"' in page


def test_property_delete_only_without_stays(member, world, prop, locks, stay):
    res = member.post(url("property-delete", world, pk=prop.pk))
    assert res.status_code == 302 and Property.objects.filter(pk=prop.pk).exists()
    empty = Property.objects.create(organization=world.org, name="Empty", timezone="UTC")
    lock = Lock.objects.create(organization=world.org, property=empty, name="G", driver="virtual")
    member.post(url("property-delete", world, pk=empty.pk))
    assert not Property.objects.filter(pk=empty.pk).exists()
    lock.refresh_from_db()
    assert lock.property_id is None


def test_add_bridge_shows_import_progress(member, world):
    """The bridge's import runs in the background (not run here: no on-commit callbacks);
    the section shows its progress and polls until it is done."""
    from locks.models import Bridge
    from portal.sudo import SUDO_KEY

    asked = member.post(url("bridge-new", world), {"bridge-name": "B", "bridge-host": "10.0.0.2"})
    assert asked["Location"].startswith(reverse("sudo"))  # its token is a credential
    assert not Bridge.objects.exists()
    session = member.session
    session[SUDO_KEY] = 4e9  # inside the re-authentication window
    session.save()
    bad = member.post(url("bridge-new", world), {"bridge-name": "B", "bridge-host": "not a host!"})
    assert bad.status_code == 400 and not Bridge.objects.exists()
    res = member.post(
        url("bridge-new", world),
        {
            "bridge-name": "Hall bridge",
            "bridge-host": "192.168.1.20",  # the LAN (loopback is refused: test_bridge_hosts)
            "bridge-port": 8080,
            "bridge-token_mode": "encrypted",
        },
    )
    assert res.status_code == 302
    bridge = Bridge.objects.get(name="Hall bridge")
    assert bridge.status == "waiting_for_button"  # no token: press the bridge's button
    fragment = member.get(url("integrations", world), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.startswith('<div id="integrations-live"')
    assert 'hx-trigger="every 2s"' in fragment and "Press the bridge" in fragment
    Bridge.objects.filter(pk=bridge.pk).update(status="ok")
    fragment = member.get(url("integrations", world), HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in fragment and "Connected" in fragment


def test_nuki_web_first_import_shows_progress(member, world):
    """Connected by API token; the import runs in the background (not here: no on-commit
    callbacks, and the real Nuki cloud is never a target)."""
    from locks.models import Lock, NukiWebConnection
    from portal.sudo import SUDO_KEY

    asked = member.post(url("nuki-web-token", world), {"nuki-api_token": "x" * 40})
    assert asked["Location"].startswith(reverse("sudo"))  # a credential: the password first
    assert not NukiWebConnection.objects.exists()
    session = member.session
    session[SUDO_KEY] = 4e9  # inside the re-authentication window
    session.save()
    res = member.post(url("nuki-web-token", world), {"nuki-api_token": "x" * 40})
    assert res.status_code == 302 and NukiWebConnection.objects.exists()
    page = member.get(url("integrations", world)).content.decode()
    assert "Importing your smart locks" in page and 'hx-trigger="every 2s"' in page
    Lock.objects.create(organization=world.org, name="Cloud lock", driver="nuki_web", nuki_id=1)
    page = member.get(url("integrations", world)).content.decode()
    assert "Importing" not in page and "1 smart lock" in page and "hx-trigger" not in page


def test_dismiss_alert(member, world):
    from portal.models import Alert

    alert = Alert.objects.create(
        organization=world.org, kind="code_failed", subject="code:1", message="Could not set"
    )
    assert "Could not set" in member.get(url("dashboard", world)).content.decode()
    assert member.post(url("alert-dismiss", world, pk=alert.pk)).status_code == 302
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert "Could not set" not in member.get(url("dashboard", world)).content.decode()
