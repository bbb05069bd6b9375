"""A lock offline when the booking arrives, and the backup-code path (the forum's case: a
guest books at 17:00 for tonight while the flat's internet is down). Virtual locks made
unreachable with their `offline` knob, then reachable again; tasks run at commit."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from bookings.alerts import alert_unset_codes
from bookings.models import AccessGrant, BookingStatus, GuestEmail
from bookings.services import BookingData, booking_upsert
from locks.backup import BACKUP_DAYS, pool_usable
from locks.models import AccessCode, BackupCode, CodeState, LockCommand, VirtualLockCode
from locks.sync.desired import plan_due
from locks.sync.reconcile import reconcile_enqueue_all
from portal.models import Alert
from portal.testing import days_from_now
from portal.times import local_stamp


def stay(prop, external_id, *, starts_in=dt.timedelta(minutes=30), **over):
    """A stay that begins soon (an exact check-in moment), for two nights."""
    check_in_at = timezone.now() + starts_in
    base = dict(
        external_id=external_id,
        property=prop,
        status=BookingStatus.CONFIRMED,
        check_in=check_in_at.date(),
        check_out=check_in_at.date() + dt.timedelta(days=2),
        check_in_at=check_in_at,
        guest_name=f"Guest {external_id}",
        guest_email=f"{external_id.lower()}@example.com",
    )
    base.update(over)
    return BookingData(**base)


def book(world, commit, data):
    with commit():
        booking, _, _ = booking_upsert(organization=world.org, source="api", data=data)
    return booking


def set_offline(locks, offline: bool):
    for lock in locks:
        lock.config = {"offline": True} if offline else {}
        lock.save(update_fields=["config"])


def pools(world, locks, commit, size=2):
    for lock in locks:
        with commit():
            response = world.api(world.write_key).patch(
                f"/api/v1/locks/{lock.pk}/", {"backup_pool_size": size}, format="json"
            )
        assert response.status_code == 200, response.content


def retry_round(commit):
    """Let the clock reach every waiting retry and run it (the worker would, seconds later)."""
    from locks.sync.runner import command_run

    for command in LockCommand.objects.filter(status="pending", kind="sync_code"):
        with time_machine.travel(command.next_attempt_at + dt.timedelta(seconds=1)), commit():
            command_run(command_id=command.pk)


def back_online(locks, commit):
    set_offline(locks, False)
    with commit():
        reconcile_enqueue_all()  # the periodic reconcile is the first command to get through


@pytest.mark.django_db
def test_pool_is_set_ahead_and_shared_by_the_doors_of_a_property(world, prop, locks, commit):
    pools(world, locks, commit, size=3)
    for lock in locks:
        ready = pool_usable(lock=lock)
        assert len(ready) == 3
        for backup in ready:
            on_lock = VirtualLockCode.objects.get(lock=lock, code=backup.code)
            assert on_lock.valid_until - on_lock.valid_from >= dt.timedelta(days=BACKUP_DAYS - 1)
    # One backup code can open both doors of a stay.
    assert {b.code for b in pool_usable(lock=locks[0])} == {
        b.code for b in pool_usable(lock=locks[1])
    }
    body = world.api(world.read_key).get(f"/api/v1/locks/{locks[0].pk}/").json()
    assert body["backup_pool_size"] == 3 and body["backup_codes_ready"] == 3
    bad = world.api(world.write_key).patch(
        f"/api/v1/locks/{locks[0].pk}/", {"backup_pool_size": 99}, format="json"
    )
    assert bad.status_code == 400 and "backup_pool_size" in bad.json()
    # A smaller pool takes the extra codes off the lock.
    pools(world, locks[:1], commit, size=1)
    assert len(pool_usable(lock=locks[0])) == 1
    assert BackupCode.objects.filter(lock=locks[0], status="retired").count() == 2
    assert VirtualLockCode.objects.filter(lock=locks[0]).count() == 1


@pytest.mark.django_db
def test_offline_lock_far_from_check_in_retries_and_alerts_before_check_in(
    world, prop, locks, commit, settings
):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 10
    pools(world, locks, commit)
    set_offline(locks[1:], True)
    booking = book(world, commit, stay(prop, "FAR", starts_in=dt.timedelta(hours=30)))
    grant = AccessGrant.objects.get(booking=booking)
    flat = AccessCode.objects.get(holder=grant.holder, lock=locks[1])
    command = LockCommand.objects.get(access_code=flat)
    assert command.status == "pending" and command.attempts == 1  # retried with backoff
    assert command.next_attempt_at > timezone.now() + dt.timedelta(seconds=4)
    assert flat.last_error == "The lock is offline."
    locks[1].refresh_from_db()
    assert locks[1].online is False
    # Far from check-in: no backup code yet, the guest's own code keeps being tried.
    assert not BackupCode.objects.filter(status="taken").exists()
    assert not GuestEmail.objects.exists()
    # A day before check-in the manager is alerted.
    assert alert_unset_codes(now=grant.valid_from - dt.timedelta(hours=20)) == 1
    alert = Alert.objects.get(kind="code_not_set")
    assert "Flat door" in alert.message and "offline" in alert.message
    # The lock comes back in time: its own code is set, no backup used, the email goes out.
    back_online(locks[1:], commit)
    flat.refresh_from_db()
    assert flat.state == CodeState.SET
    assert not BackupCode.objects.filter(status="taken").exists()
    assert GuestEmail.objects.get(booking=booking).code == grant.code


@pytest.mark.django_db
def test_backup_code_when_the_lock_is_unreachable_at_check_in(world, prop, locks, commit):
    pools(world, locks, commit)
    ready = {b.code for b in pool_usable(lock=locks[0])}
    set_offline(locks, True)  # the flat's internet is down: both doors unreachable

    # 17:00, check-in was at 15:00: no time to wait for the internet to come back.
    first = book(world, commit, stay(prop, "TONIGHT", starts_in=-dt.timedelta(hours=2)))
    grant = AccessGrant.objects.get(booking=first)
    assert grant.code in ready  # the stay's code is now a backup code already on both doors
    for lock in locks:
        ac = AccessCode.objects.get(holder=grant.holder, lock=lock)
        assert ac.works_on_lock() and ac.state == CodeState.SETTING  # cannot narrow yet
        # Residual risk, by nature: the lock still holds the backup's long window.
        held = VirtualLockCode.objects.get(lock=lock, code=grant.code)
        assert held.valid_until > grant.valid_until + dt.timedelta(days=300)
        assert AccessCode.objects.filter(lock=lock, code=grant.code, wanted=True).count() == 1
    # The guest's email is the usual one: nothing says "backup".
    email = GuestEmail.objects.get(booking=first)
    assert email.kind == "access" and email.code == grant.code
    assert grant.code in email.body_text and "backup" not in email.body_text.lower()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["tonight@example.com"]
    alert = Alert.objects.get(kind="backup_code_given", resolved_at__isnull=True)
    assert "could not be reached" in alert.message and "after check-out" in alert.message
    assert f"check-out, {local_stamp(grant.valid_until, first.property.timezone)};" in alert.message

    # A second, overlapping stay, checking in in 30 minutes: one failed attempt may be a blip,
    # so its own code is tried again first; when that fails too, it gets a backup code, never
    # the same one.
    second = book(world, commit, stay(prop, "ALSO-TONIGHT"))
    assert AccessGrant.objects.get(booking=second).code not in ready
    assert not GuestEmail.objects.filter(booking=second).exists()
    retry_round(commit)
    second_code = AccessGrant.objects.get(booking=second).code
    assert second_code in ready and second_code != grant.code
    # The pools are refilled, but the new codes cannot reach the locks yet: a third stay has
    # no backup ready, and the manager is told in plain words.
    for lock in locks:
        assert BackupCode.objects.filter(lock=lock, status="available").count() == 2
        assert pool_usable(lock=lock) == []
    third = book(world, commit, stay(prop, "THIRD", starts_in=-dt.timedelta(minutes=5)))
    assert AccessGrant.objects.get(booking=third).code not in ready
    assert not GuestEmail.objects.filter(booking=third).exists()
    no_backup = Alert.objects.get(kind="no_backup_code", subject=f"booking:{third.pk}")
    assert "no backup code left" in no_backup.message  # the locks have pools, used up
    assert no_backup.title == "No backup code left"

    # The locks are reachable again: windows narrowed, pools refilled on the locks, the third
    # guest's own code set and sent.
    back_online(locks, commit)
    for lock in locks:
        held = VirtualLockCode.objects.get(lock=lock, code=grant.code)
        assert held.valid_until == grant.valid_until and held.valid_from == grant.valid_from
        assert AccessCode.objects.get(holder=grant.holder, lock=lock).state == CodeState.SET
        assert len(pool_usable(lock=lock)) == 2
        assert not {b.code for b in pool_usable(lock=lock)} & {grant.code, second_code}
    third_grant = AccessGrant.objects.get(booking=third)
    assert GuestEmail.objects.get(booking=third).code == third_grant.code
    no_backup.refresh_from_db()
    assert no_backup.resolved_at is not None  # the lock came back: the alert is over
    assert len(mail.outbox) == 3  # one each; the first guest got no second email
    assert not Alert.objects.filter(kind="backup_code_given", subject=f"booking:{first.pk}",
                                    resolved_at__isnull=True).exists()  # fmt: skip

    # After check-out the used backup code leaves the locks like any stay's code, for good.
    with time_machine.travel(grant.valid_until + dt.timedelta(minutes=1)), commit():
        plan_due()
    assert not VirtualLockCode.objects.filter(code=grant.code).exists()
    assert set(BackupCode.objects.filter(code=grant.code).values_list("status", flat=True)) == {
        "taken"
    }


@pytest.mark.django_db
def test_backup_takes_over_a_door_that_already_had_the_stays_code(world, prop, locks, commit):
    """Only the flat door is unreachable: the stay's code moves to a backup code that is on
    the flat door, and the building door (reachable) gets the same digits."""
    pools(world, locks, commit)
    set_offline(locks[1:], True)
    booking = book(world, commit, stay(prop, "HALF", starts_in=-dt.timedelta(hours=1)))
    grant = AccessGrant.objects.get(booking=booking)
    assert grant.code in {b.code for b in BackupCode.objects.filter(status="taken")}
    building = VirtualLockCode.objects.get(lock=locks[0], code=grant.code)
    assert building.valid_until == grant.valid_until  # reachable: exactly the stay
    assert VirtualLockCode.objects.filter(lock=locks[0]).count() == 3  # stay + 2 backups
    assert GuestEmail.objects.get(booking=booking).code == grant.code
    # Nothing else on the building door carries the stay's digits.
    assert AccessCode.objects.filter(lock=locks[0], code=grant.code, wanted=True).count() == 1


@pytest.mark.django_db
def test_no_pool_means_an_alert_not_a_guess(world, prop, locks, commit):
    set_offline(locks, True)
    booking = book(world, commit, stay(prop, "NOPOOL", starts_in=-dt.timedelta(hours=1)))
    assert not GuestEmail.objects.exists()
    alert = Alert.objects.get(kind="no_backup_code", subject=f"booking:{booking.pk}")
    assert alert.severity == "critical" and "backup pool" in alert.fix
    assert days_from_now(-1) <= booking.check_in


@pytest.mark.django_db
def test_backup_code_of_an_ended_stay_leaves_the_lock_when_it_is_back(world, prop, locks, commit):
    """The lock stays offline past the guest's check-out: the backup code still works there
    (the residual risk) until the lock answers; then it is removed before anything else."""
    pools(world, locks, commit)
    set_offline(locks, True)
    booking = book(world, commit, stay(prop, "GONE", starts_in=-dt.timedelta(hours=1)))
    grant = AccessGrant.objects.get(booking=booking)
    after = grant.valid_until + dt.timedelta(minutes=5)
    with time_machine.travel(after), commit():
        plan_due()  # the stay ended: its code should go, but the locks cannot be told
    assert VirtualLockCode.objects.filter(code=grant.code).count() == 2
    assert {ac.state for ac in AccessCode.objects.filter(holder=grant.holder)} == {"removing"}
    with time_machine.travel(after + dt.timedelta(minutes=1)):
        back_online(locks, commit)
    assert not VirtualLockCode.objects.filter(code=grant.code).exists()
    assert {ac.state for ac in AccessCode.objects.filter(holder=grant.holder)} == {"removed"}
