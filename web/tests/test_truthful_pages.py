"""What the manager pages say is true and readable: alerts in the reader's language, lock
values with labels (a state nobody reported is grey, not a green badge), "Resend email" only
once there was a first email, and the door code masked in the email log until asked for."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from bookings.models import GuestEmail
from bookings.stay.services import stay_create, stay_send_code
from locks.actions import lock_action_request
from locks.models import Lock, LockEvent
from locks.sync.outbox import command_enqueue
from portal.services import ServiceError, alert_raise
from portal.testing import days_from_now

pytestmark = pytest.mark.django_db


def url(name, world, **kw):
    return reverse(name, kwargs={"slug": world.org.slug, **kw})


@pytest.fixture
def member(client, world):
    client.force_login(world.member)
    return client


def _stay(world, prop, commit, **kw):
    with commit():
        return stay_create(
            organization=world.org,
            property=prop,
            check_in=days_from_now(0),
            check_out=days_from_now(2),
            guest_name="Greta Guest",
            guest_email="greta@example.com",
            **kw,
        )


def test_today_shows_an_alert_in_the_readers_language(member, world):
    alert_raise(
        organization=world.org,
        kind="code_not_set",
        subject="booking:1",
        code="code_not_set.retrying",
        params={"guest": "Anna", "check_in": "2026-12-24", "property": "Loft", "locks": "Tür"},
    )
    english = member.get(url("dashboard", world)).content.decode()
    assert "Code not on the lock yet" in english and "the portal is still trying" in english
    member.post(reverse("set_language"), {"language": "de", "next": "/"})
    german = member.get(url("dashboard", world)).content.decode()
    assert "Code noch nicht auf dem Schloss" in german
    assert "Der Code für Anna (Anreise 2026-12-24 in Loft) ist noch nicht auf: Tür." in german
    assert "Das Portal versucht es weiter" in german
    assert "still trying" not in german


def test_a_state_nobody_reported_is_grey_and_every_value_has_a_label(member, world, locks):
    lock = locks[0]
    assert lock.state == "unknown"
    page = member.get(url("lock-page", world, pk=lock.pk)).content.decode()
    assert 'class="state state-unknown" data-state="unknown">not reported yet<' in page
    assert "state-ok" not in page.split("<h1>")[1].split("</h1>")[0]
    LockEvent.objects.create(
        organization=world.org, lock=lock, kind="code_added", source="virtual", message="x"
    )
    page = member.get(url("lock-page", world, pk=lock.pk)).content.decode()
    log = page.split('id="log-h"')[1]
    assert "<td>Code added</td><td>Virtual lock</td>" in log
    assert ">code_added<" not in log and "<td>virtual</td>" not in log


def test_virtual_locks_report_battery_and_door_like_real_ones(member, world, locks, commit):
    lock = locks[0]
    with commit():
        lock_action_request(lock=lock, action="unlock")
    lock.refresh_from_db()
    assert (lock.state, lock.battery_percent, lock.door_state) == ("unlocked", 87, "door closed")
    page = member.get(url("lock-page", world, pk=lock.pk)).content.decode()
    assert "87 %" in page and ">closed<" in page and "state state-ok" in page


def test_the_demo_locks_show_battery_and_door(db, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    virtual = list(Lock.objects.filter(driver="virtual"))
    assert virtual
    for lock in virtual:
        assert lock.battery_percent is not None and lock.door_state == "door closed"
        assert lock.state != "unknown"


def test_resend_is_offered_only_once_the_first_email_went(member, world, prop, locks, commit):
    locks[1].config = {"offline": True}
    locks[1].save(update_fields=["config"])
    stay = _stay(world, prop, commit)
    assert not GuestEmail.objects.filter(booking=stay).exists()
    page = member.get(url("stay-page", world, pk=stay.pk)).content.decode()
    assert "Resend email" not in page
    assert "once the code is on every door. Waiting for: Flat door." in page
    with pytest.raises(ServiceError, match="No email was sent yet"):
        stay_send_code(booking=stay)
    member.post(url("stay-send", world, pk=stay.pk))
    assert not GuestEmail.objects.filter(booking=stay).exists()  # no code the door lacks

    locks[1].config = {}
    locks[1].save(update_fields=["config"])
    with commit():
        command_enqueue(lock=locks[1], kind="reconcile")
    assert GuestEmail.objects.filter(booking=stay, sent_at__isnull=False).count() == 1
    page = member.get(url("stay-page", world, pk=stay.pk)).content.decode()
    assert "Resend email" in page and "Waiting for" not in page


def test_the_email_log_masks_the_code_until_asked_for(member, client, world, prop, locks, commit):
    stay = _stay(world, prop, commit)
    email = GuestEmail.objects.get(booking=stay)
    code = stay.grant.code
    assert code in email.body_text and "/stay/" in email.body_text
    for name, kw in [("emails", {}), ("stay-page", {"pk": stay.pk})]:
        page = member.get(url(name, world, **kw)).content.decode()
        assert code not in page, name
        assert "••••••" in page and "/stay/••••••" in page
        assert url("email-body", world, pk=email.pk) in page  # the "Show code" button
    full = member.get(url("email-body", world, pk=email.pk))
    assert full.status_code == 200 and code in full.content.decode()
    assert full["Cache-Control"] == "no-store"
    client.force_login(world.viewer)
    assert client.get(url("email-body", world, pk=email.pk)).status_code == 403
    assert code not in client.get(url("emails", world)).content.decode()
