"""A lock going offline and coming back: a command that cannot reach the lock marks it
unreachable and tells the holders; the first command that reaches it again marks it online
and puts everything it missed back in motion (failed codes retried, backed-off commands run
now, the backup pool refilled)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from bookings.models import AccessGrant
from bookings.services import BookingData, booking_upsert
from locks.models import (
    AccessCode,
    BackupCode,
    CodeState,
    CommandKind,
    CommandStatus,
    Lock,
    LockCommand,
    VirtualLockCode,
)
from locks.services import lock_create
from locks.signals import lock_unreachable
from locks.sync.outbox import command_enqueue
from locks.sync.reachability import lock_back_online
from locks.sync.runner import command_run
from locks.tests.engine.helpers import command_of, knobs, put, reload
from portal.models import Alert
from properties.services import property_create

T0 = dt.datetime(2027, 5, 4, 9, 0, tzinfo=dt.UTC)


class Heard(list):
    codes: list


@pytest.fixture
def heard():
    """The locks the `lock_unreachable` signal was sent for, in order (`heard.codes`: the
    codes each was about, None for all of the lock's)."""
    sent = Heard()
    sent.codes = []

    def receiver(sender, lock, access_codes=None, **kwargs):
        sent.append(lock.pk)
        sent.codes.append(access_codes)

    lock_unreachable.connect(receiver, weak=False)
    yield sent
    lock_unreachable.disconnect(receiver)


def reach(lock, commit) -> LockCommand:
    """Any command that gets through: a reconcile."""
    with commit():
        command = command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
    return reload(command)


@pytest.mark.django_db
def test_a_lock_that_does_not_answer_is_marked_offline_and_holders_hear_of_it(
    world, locks, commit, heard
):
    knobs(locks[0], offline=True)
    put(world.org, locks[:1], commit=commit)
    assert reload(locks[0]).online is False
    assert heard == [locks[0].pk]
    assert reload(locks[1]).online is True  # its neighbour is not concerned


@pytest.mark.django_db
def test_holders_hear_again_of_a_lock_that_stays_unreachable_once_a_minute(
    world, locks, commit, heard, settings
):
    """Every failed attempt used to tell the holders about every stay of the lock, and each
    telling looked at all of them for a backup code: 0.4 s per attempt behind a silent
    on-site agent. Now only the lock's going (and once a minute) is about all of its codes; a
    failure in between is about its own code."""
    from django.core.cache import cache

    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    knobs(locks[0], offline=True)
    codes = [  # three codes fail on the same lock, one after the other
        put(world.org, locks[:1], commit=commit, holder=f"grant:{n}", code=f"31415{n}")[0]
        for n in range(3)
    ]
    assert heard == [locks[0].pk] * 3
    assert heard.codes == [None, [codes[1].pk], [codes[2].pk]]  # went: all; then one each
    cache.delete(f"latchkey:lock-unreachable-told:{locks[0].pk}")  # the quiet minute is over
    put(world.org, locks[:1], commit=commit, holder="grant:9", code="314159")
    Lock.objects.filter(pk=locks[0].pk).update(online=True)  # back, then gone again
    put(world.org, locks[:1], commit=commit, holder="grant:10", code="271828")
    assert heard.codes[3:] == [None, None]


@pytest.mark.django_db
def test_a_refusal_says_nothing_about_reachability(world, locks, commit, heard):
    put(world.org, locks[:1], commit=commit, kind="app", account_email="a@x.test", code="")
    assert reload(locks[0]).online is True and heard == []


@pytest.mark.django_db
def test_the_first_command_that_gets_through_marks_the_lock_online(world, locks, commit):
    Lock.objects.filter(pk=locks[0].pk).update(online=False, last_seen_at=None)
    with time_machine.travel(T0, tick=False):
        assert reach(locks[0], commit).status == CommandStatus.SUCCEEDED
    lock = reload(locks[0])
    assert (lock.online, lock.last_seen_at) == (True, T0)


@pytest.mark.django_db
def test_a_lock_seen_recently_is_not_written_on_every_command(world, locks, commit):
    with time_machine.travel(T0, tick=False):
        reach(locks[0], commit)
    with time_machine.travel(T0 + dt.timedelta(seconds=20), tick=False):
        reach(locks[0], commit)
    assert reload(locks[0]).last_seen_at == T0
    with time_machine.travel(T0 + dt.timedelta(seconds=31), tick=False):
        reach(locks[0], commit)
    assert reload(locks[0]).last_seen_at == T0 + dt.timedelta(seconds=31)


@pytest.mark.django_db
def test_codes_that_failed_while_offline_are_set_when_the_lock_is_back(
    world, locks, commit, settings
):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    knobs(locks[0], offline=True)
    (first,) = put(world.org, locks[:1], commit=commit, holder="grant:1", code="111111")
    (second,) = put(world.org, locks[:1], commit=commit, holder="grant:2", code="222222")
    assert {reload(first).state, reload(second).state} == {CodeState.FAILED}
    assert Alert.objects.filter(kind="code_failed", resolved_at__isnull=True).count() == 2
    knobs(locks[0], offline=None)
    reach(locks[0], commit)
    assert {reload(first).state, reload(second).state} == {CodeState.SET}
    assert set(VirtualLockCode.objects.values_list("code", flat=True)) == {"111111", "222222"}
    assert not Alert.objects.filter(kind="code_failed", resolved_at__isnull=True).exists()
    # Each failed command got fresh attempts: retried, not duplicated.
    assert LockCommand.objects.filter(access_code=first).count() == 1


@pytest.mark.django_db
def test_commands_backing_off_run_at_once_when_the_lock_is_back(world, locks, commit, settings):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 600  # the next try would be minutes away
    knobs(locks[0], offline=True)
    (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    assert command.next_attempt_at > timezone.now() + dt.timedelta(minutes=4)
    knobs(locks[0], offline=None)
    reach(locks[0], commit)  # e.g. the nightly reconcile, or a guest's unlock
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.SUCCEEDED, 2)
    assert reload(ac).state == CodeState.SET


def _one_failed_one_backing_off(world, locks):
    (failed,) = put(world.org, locks[:1], holder="grant:1", code="111111")
    (backing_off,) = put(world.org, locks[:1], holder="grant:2", code="222222")
    LockCommand.objects.filter(access_code=failed).update(status=CommandStatus.FAILED)
    AccessCode.objects.filter(pk=failed.pk).update(state=CodeState.FAILED)
    LockCommand.objects.filter(access_code=backing_off).update(
        attempts=1, next_attempt_at=timezone.now() + dt.timedelta(hours=1)
    )
    return failed, backing_off


@pytest.mark.django_db
def test_back_online_retries_failed_codes_and_hastens_the_rest(world, locks):
    with time_machine.travel(T0, tick=False):
        failed, backing_off = _one_failed_one_backing_off(world, locks)
        assert lock_back_online(lock=locks[0]) == {"retried": 1, "hastened": 1}
        assert command_of(failed).status == CommandStatus.PENDING
        assert command_of(failed).attempts == 0
        assert reload(failed).state == CodeState.SETTING
        assert command_of(backing_off).next_attempt_at == timezone.now()


@pytest.mark.xfail(
    strict=True,
    reason="lock_back_online reads `now` before command_retry stamps the retried command's "
    "next_attempt_at with a later timezone.now(): on a running clock every retried command is "
    "also counted as 'hastened' and dispatched a second time (a harmless duplicate message, "
    "but the count is wrong)",
)
@pytest.mark.django_db
def test_back_online_counts_a_retried_command_once_on_a_running_clock(world, locks):
    _one_failed_one_backing_off(world, locks)
    assert lock_back_online(lock=locks[0]) == {"retried": 1, "hastened": 1}


@pytest.mark.django_db
def test_back_online_refills_the_backup_pool(world, locks, commit):
    Lock.objects.filter(pk=locks[0].pk).update(online=False, backup_pool_size=2)
    reach(reload(locks[0]), commit)
    assert BackupCode.objects.filter(lock=locks[0], status="available").count() == 2
    assert VirtualLockCode.objects.filter(lock=locks[0]).count() == 2  # and on the lock


@pytest.mark.django_db
def test_offline_then_back_online_end_to_end(world, locks, commit, settings):
    """Offline for longer than the retries last, back, and every code the lock should hold is
    on it, with nobody pressing "retry"."""
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 2
    settings.LATCHKEY_RETRY_BASE_SECONDS = 1
    knobs(locks[0], offline=True)
    codes = [
        put(world.org, locks[:1], commit=commit, holder=f"grant:{i}", code=f"{i}{i}{i}{i}{i}{i}")[0]
        for i in range(1, 4)
    ]
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)), commit():
        for ac in codes:  # the retries come due: still offline, they fail
            command_run(command_id=command_of(ac).pk)
    assert {reload(ac).state for ac in codes} == {CodeState.FAILED}
    knobs(locks[0], offline=None)
    reach(locks[0], commit)
    assert {reload(ac).state for ac in codes} == {CodeState.SET}
    assert reload(locks[0]).online is True
    assert VirtualLockCode.objects.filter(lock=locks[0]).count() == 3


@pytest.mark.django_db
def test_a_stay_about_to_begin_behind_an_unreachable_lock_gets_a_backup_code(
    world, commit, settings
):
    """The engine tells holders a lock cannot be reached; a stay checking in within the
    organization's backup lead then gets one of the lock's backup codes (already on it) once
    its own code has failed to reach the lock twice."""
    settings.LATCHKEY_RETRY_BASE_SECONDS = 1
    now = dt.datetime(2027, 5, 4, 11, 30, tzinfo=dt.UTC)  # 13:30 in Vienna
    with time_machine.travel(now, tick=False) as clock:
        house = property_create(
            organization=world.org, name="Hut", timezone="Europe/Vienna", external_ref="hut"
        )
        with commit():
            door = lock_create(
                organization=world.org, property=house, name="Hut door", driver="virtual",
                backup_pool_size=1,
            )  # fmt: skip
        backup = BackupCode.objects.get(lock=door)
        assert VirtualLockCode.objects.filter(lock=door, code=backup.code).exists()
        knobs(door, offline=True)
        with commit():
            booking, _, _ = booking_upsert(
                organization=world.org,
                source="api",
                data=BookingData(
                    external_id="LATE-1", property=house, status="confirmed",
                    check_in=dt.date(2027, 5, 4), check_out=dt.date(2027, 5, 6),
                    guest_name="Ada",
                ),
            )  # fmt: skip
        grant = AccessGrant.objects.get(booking=booking)
        assert grant.code != backup.code  # one failure may be a blip
        command = LockCommand.objects.get(access_code__holder=grant.holder)
        clock.move_to(reload(command).next_attempt_at)
        with commit():
            assert command_run(command_id=command.pk) == "retry"
    grant = reload(grant)
    assert grant.code == backup.code
    assert reload(backup).status == BackupCode.Status.TAKEN
    ac = AccessCode.objects.get(holder=grant.holder, lock=door)
    assert ac.code == backup.code and ac.works_on_lock()
