"""Alerts that tell the truth: each is resolved where its cause ends (not by a later beat
task), one cause raises one alert, the advice matches the state (still retrying or stopped;
a backup pool or none), and the text is rendered in the reader's language."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from bookings.alerts import alert_unset_codes
from bookings.models import AccessGrant
from bookings.tests.test_backup_codes import (
    back_online,
    book,
    pools,
    retry_round,
    set_offline,
    stay,
)
from locks.models import AccessCode, CodeState, LockCommand
from locks.tests.engine.helpers import command_of, knobs, put, reload
from portal.models import Alert
from portal.services import alert_raise

pytestmark = pytest.mark.django_db


def open_alerts():
    return list(Alert.objects.filter(resolved_at__isnull=True).order_by("pk"))


def test_code_not_set_is_resolved_when_the_code_is_set_not_by_the_beat(
    world, prop, locks, commit, settings
):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 10
    set_offline(locks[1:], True)
    booking = book(world, commit, stay(prop, "FAR", starts_in=dt.timedelta(hours=30)))
    grant = AccessGrant.objects.get(booking=booking)
    assert alert_unset_codes(now=grant.valid_from - dt.timedelta(hours=20)) == 1
    (alert,) = open_alerts()
    # The command is still being retried: the advice says so, and nothing else is open.
    assert alert.code == "code_not_set.retrying"
    assert "still trying" in alert.advice
    back_online(locks[1:], commit)
    assert AccessCode.objects.get(holder=grant.holder, lock=locks[1]).state == CodeState.SET
    alert.refresh_from_db()
    assert alert.resolved_at is not None  # at once, without alert_unset_codes running again
    assert open_alerts() == []


def test_code_not_set_says_the_portal_stopped_once_it_did(world, prop, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    set_offline(locks[1:], True)
    booking = book(world, commit, stay(prop, "FAR", starts_in=dt.timedelta(hours=30)))
    grant = AccessGrant.objects.get(booking=booking)
    flat = AccessCode.objects.get(holder=grant.holder, lock=locks[1])
    assert flat.state == CodeState.FAILED
    # The failed command raised code_failed; the stay's alert a day ahead stands for it.
    assert [a.kind for a in open_alerts()] == ["code_failed"]
    alert_unset_codes(now=grant.valid_from - dt.timedelta(hours=20))
    (alert,) = open_alerts()
    assert (alert.kind, alert.code) == ("code_not_set", "code_not_set.gave_up")
    assert "stopped trying" in alert.body and "Retry" in alert.advice
    assert "still trying" not in alert.advice


def test_one_offline_lock_without_a_pool_raises_one_alert_that_does_not_speak_of_a_pool(
    world, prop, locks, commit, settings
):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 2
    settings.LATCHKEY_RETRY_BASE_SECONDS = 1
    set_offline(locks[1:], True)
    book(world, commit, stay(prop, "SOON", starts_in=dt.timedelta(minutes=30)))
    for _ in range(3):
        retry_round(commit)
    assert LockCommand.objects.filter(status="failed").exists()
    alert_unset_codes()
    (alert,) = open_alerts()
    assert (alert.kind, alert.code) == ("no_backup_code", "no_backup_code.no_pool")
    assert alert.title != "No backup code left" and "pool" not in alert.title.lower()
    assert "Set a backup pool" in alert.advice
    command = LockCommand.objects.get(status="failed")
    assert "retries" not in command.fix and "keeps retrying" not in command.fix
    assert "stopped retrying" in command.fix
    # The lock comes back: the code is set, and the alert ends there.
    back_online(locks[1:], commit)
    assert open_alerts() == []


def test_with_a_pool_used_up_the_alert_says_no_backup_code_left(
    world, prop, locks, commit, settings
):
    pools(world, locks, commit, size=1)
    set_offline(locks, True)
    book(world, commit, stay(prop, "ONE", starts_in=dt.timedelta(minutes=-5)))
    book(world, commit, stay(prop, "TWO", starts_in=dt.timedelta(minutes=-5)))
    kinds = sorted(a.kind for a in open_alerts())
    assert kinds == ["backup_code_given", "no_backup_code"]  # one alert per stay
    no_backup = Alert.objects.get(kind="no_backup_code", resolved_at__isnull=True)
    assert no_backup.title == "No backup code left"


def test_a_failed_code_alert_ends_when_the_lock_comes_back(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    knobs(locks[0], offline=True)
    (ac,) = put(world.org, locks[:1], commit=commit, holder="standing:1")
    assert command_of(ac).status == "failed"
    (alert,) = open_alerts()
    assert alert.code == "code_failed.gave_up" and "stopped trying" in alert.advice
    knobs(locks[0], offline=None)
    back_online(locks[:1], commit)
    assert reload(ac).state == CodeState.SET
    assert open_alerts() == []


def test_our_crash_on_the_last_attempt_does_not_promise_a_retry(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    knobs(locks[0], failure_rate="often")  # unreadable: our driver code breaks
    (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    assert command.status == "failed"
    assert "The portal retries it" not in command.fix
    assert "stopped retrying" in command.fix and "contact support" in command.fix


def test_alerts_render_in_the_readers_language_and_old_rows_keep_their_text(world):
    alert = alert_raise(
        organization=world.org,
        kind="lock_nearly_full",
        subject="lock:1",
        code="lock_nearly_full",
        params={"lock": "Haustür", "held": 180, "capacity": 200},
    )
    assert alert.message == "Haustür holds 180 of the 200 keypad codes it can store."
    with translation.override("de"):
        assert alert.title == "Schloss fast voll"
        assert alert.body == "Haustür speichert 180 der 200 möglichen Keypad-Codes."
        assert "Codes" in alert.advice and "remove" not in alert.advice
    old = Alert.objects.create(
        organization=world.org, kind="something_old", subject="x", message="Old text", fix="Do it"
    )
    with translation.override("de"):
        assert (old.title, old.body, old.advice) == ("", "Old text", "Do it")
