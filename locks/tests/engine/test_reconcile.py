"""Reconcile: read what the lock holds, record it, and repair drift: a code of ours missing or
changed on the lock is written again, one that should be gone is removed, codes we did not
create are shown (and removed only by opt-in); an unreachable lock changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from locks.models import (
    AccessCode,
    CodeState,
    CommandKind,
    CommandStatus,
    Lock,
    LockCommand,
    LockEvent,
    ObservedCode,
    VirtualLockCode,
)
from locks.sync.outbox import command_enqueue
from locks.sync.reconcile import reconcile_enqueue_all
from locks.sync.runner import command_run
from locks.tests.engine.helpers import knobs, put, reload
from portal.models import Alert


def reconcile(lock, commit=None) -> LockCommand:
    """Queue a reconcile of the lock; with `commit` it runs (and whatever it queues)."""
    if commit is None:
        command = command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
        command_run(command_id=command.pk)
        return reload(command)
    with commit():
        command = command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
    return reload(command)


def foreign(lock, *, slot=50, code="777888", name="Cleaner", days=365) -> VirtualLockCode:
    """A code someone added at the lock itself."""
    now = timezone.now()
    return VirtualLockCode.objects.create(
        lock=lock,
        slot=slot,
        code=code,
        name=name,
        valid_from=now - dt.timedelta(days=1),
        valid_until=now + dt.timedelta(days=days),
    )


def drift_events(lock) -> int:
    return LockEvent.objects.filter(lock=lock, kind="drift").count()


@pytest.mark.django_db
def test_a_code_missing_on_the_lock_is_written_again(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit)
    VirtualLockCode.objects.filter(lock=locks[0]).delete()
    assert reconcile(locks[0], commit).status == CommandStatus.SUCCEEDED
    assert drift_events(locks[0]) == 1
    ac = reload(ac)
    (on_lock,) = VirtualLockCode.objects.filter(lock=locks[0])
    assert (ac.state, ac.remote_id, on_lock.code) == (CodeState.SET, str(on_lock.slot), ac.code)


@pytest.mark.django_db
def test_a_window_changed_on_the_lock_is_put_back_in_place(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit)
    slot = VirtualLockCode.objects.get(lock=locks[0]).slot
    VirtualLockCode.objects.filter(lock=locks[0]).update(
        valid_until=ac.valid_until + dt.timedelta(days=30)  # someone gave the guest a month
    )
    reconcile(locks[0], commit)
    on_lock = VirtualLockCode.objects.get(lock=locks[0])
    assert on_lock.slot == slot  # updated in place, not added again
    assert on_lock.valid_until == ac.valid_until
    assert drift_events(locks[0]) == 1
    assert LockEvent.objects.filter(lock=locks[0], kind="code_updated").count() == 1
    assert reload(ac).state == CodeState.SET


@pytest.mark.django_db
def test_digits_changed_on_the_lock_are_restored(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit)
    VirtualLockCode.objects.filter(lock=locks[0]).update(code="000111")
    reconcile(locks[0], commit)
    assert VirtualLockCode.objects.get(lock=locks[0]).code == ac.code


@pytest.mark.django_db
def test_a_lock_in_line_needs_no_repair(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit)
    before = LockCommand.objects.count()
    reconcile(locks[0], commit)
    assert LockCommand.objects.count() == before + 1  # the reconcile itself, nothing queued
    assert drift_events(locks[0]) == 0
    observed = ObservedCode.objects.get(lock=locks[0])
    assert observed.access_code_id == ac.pk and observed.code == ac.code


@pytest.mark.django_db
def test_our_code_that_should_have_left_is_removed(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit, days=-3, length_days=2)  # ended yesterday
    assert VirtualLockCode.objects.filter(lock=locks[0]).count() == 0  # never due: never set
    # The lock holds it anyway (set by an earlier version of the stay):
    VirtualLockCode.objects.create(
        lock=locks[0], slot=3, code=ac.code, name=ac.name,
        valid_from=ac.valid_from, valid_until=ac.valid_until,
    )  # fmt: skip
    AccessCode.objects.filter(pk=ac.pk).update(remote_id="3", state=CodeState.SET)
    reconcile(locks[0], commit)
    assert not VirtualLockCode.objects.filter(lock=locks[0]).exists()
    ac = reload(ac)
    # Still wanted until the planner withdraws ended codes: off the lock, nothing pending.
    assert (ac.state, ac.remote_id, ac.applied) == (CodeState.PLANNED, "", None)


@pytest.mark.django_db
def test_a_removal_confirmed_by_its_absence_ends_removing(world, locks):
    (ac,) = put(world.org, locks[:1], days=10)  # planned
    AccessCode.objects.filter(pk=ac.pk).update(
        wanted=False, state=CodeState.REMOVING, remote_id="9"
    )
    reconcile(locks[0])
    ac = reload(ac)
    assert (ac.state, ac.remote_id, ac.applied) == (CodeState.REMOVED, "", None)


@pytest.mark.django_db
def test_a_write_queued_by_the_lock_is_not_sent_twice(world, locks):
    (ac,) = put(world.org, locks[:1])
    AccessCode.objects.filter(pk=ac.pk).update(applied=ac.desired_snapshot())
    LockCommand.objects.filter(access_code=ac).update(status=CommandStatus.SUCCEEDED)
    reconcile(locks[0])
    assert not LockCommand.objects.filter(access_code=ac, status=CommandStatus.PENDING).exists()
    assert reload(ac).state == CodeState.SETTING


@pytest.mark.django_db
def test_a_write_found_on_the_lock_by_name_and_digits_is_confirmed(world, locks):
    """The lock took the code but its id never came back: the read-back confirms it, and its
    observation counts as ours, not as a foreign code."""
    (ac,) = put(world.org, locks[:1])
    LockCommand.objects.filter(access_code=ac).update(status=CommandStatus.SUCCEEDED)
    VirtualLockCode.objects.create(
        lock=locks[0], slot=7, code=ac.code, name=ac.name,
        valid_from=ac.valid_from, valid_until=ac.valid_until,
    )  # fmt: skip
    reconcile(locks[0])
    ac = reload(ac)
    assert (ac.state, ac.remote_id) == (CodeState.SET, "7")
    assert ObservedCode.objects.get(lock=locks[0]).access_code_id == ac.pk
    assert not Alert.objects.filter(kind="foreign_codes", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_failed_code_is_left_for_the_manager(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit)
    AccessCode.objects.filter(pk=ac.pk).update(state=CodeState.FAILED)
    VirtualLockCode.objects.filter(lock=locks[0]).delete()
    reconcile(locks[0], commit)
    assert reload(ac).state == CodeState.FAILED
    assert not VirtualLockCode.objects.filter(lock=locks[0]).exists()


@pytest.mark.django_db
def test_a_foreign_code_is_shown_once_and_kept(world, locks, commit):
    foreign(locks[0])
    reconcile(locks[0], commit)
    reconcile(locks[0], commit)
    assert VirtualLockCode.objects.filter(lock=locks[0], code="777888").exists()
    assert LockEvent.objects.filter(lock=locks[0], kind="foreign_code_found").count() == 1
    alert = Alert.objects.get(kind="foreign_codes", resolved_at__isnull=True)
    assert "“Cleaner”" in alert.message and alert.severity == "info"
    observed = ObservedCode.objects.get(lock=locks[0])
    assert (observed.access_code_id, observed.code) == (None, "777888")
    # Removed at the lock: the observation goes, the alert resolves.
    VirtualLockCode.objects.filter(lock=locks[0]).delete()
    reconcile(locks[0], commit)
    assert not ObservedCode.objects.filter(lock=locks[0]).exists()
    assert not Alert.objects.filter(kind="foreign_codes", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_foreign_code_is_removed_when_the_organization_opted_in(world, locks, commit):
    world.org.remove_foreign_codes = True
    world.org.save()
    foreign(locks[0])
    reconcile(locks[0], commit)
    assert not VirtualLockCode.objects.filter(lock=locks[0]).exists()
    assert not ObservedCode.objects.filter(lock=locks[0]).exists()
    removed = LockEvent.objects.get(lock=locks[0], kind="foreign_code_removed")
    assert "Cleaner" in removed.message
    command = LockCommand.objects.get(kind=CommandKind.REMOVE_FOREIGN)
    assert command.status == CommandStatus.SUCCEEDED


@pytest.mark.django_db
def test_a_foreign_removal_is_dropped_when_the_opt_in_is_withdrawn(world, locks):
    world.org.remove_foreign_codes = True
    world.org.save()
    foreign(locks[0])
    reconcile(locks[0])  # queued the removal; its message not yet delivered
    reconcile(locks[0])  # a second pass queues no second removal
    (removal,) = LockCommand.objects.filter(kind=CommandKind.REMOVE_FOREIGN)
    world.org.remove_foreign_codes = False
    world.org.save()
    assert command_run(command_id=removal.pk) == "succeeded"
    assert VirtualLockCode.objects.filter(lock=locks[0], code="777888").exists()


@pytest.mark.django_db
def test_a_nearly_full_keypad_is_warned_about_until_there_is_room(world, locks, commit):
    lock = locks[0]
    lock.capacity = 10
    lock.save()
    for slot in range(1, 10):
        foreign(lock, slot=slot, code=f"10{slot:04d}", name=f"F{slot}")
    reconcile(lock, commit)
    warning = Alert.objects.get(kind="lock_nearly_full", resolved_at__isnull=True)
    assert "holds 9 of the 10" in warning.message
    VirtualLockCode.objects.filter(lock=lock, slot__gt=5).delete()
    reconcile(lock, commit)
    assert not Alert.objects.filter(kind="lock_nearly_full", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_an_unreachable_lock_is_retried_and_nothing_is_concluded(world, locks, commit):
    (ac,) = put(world.org, locks[:1], commit=commit)
    reconcile(locks[0], commit)  # one observation recorded while it answered
    VirtualLockCode.objects.filter(lock=locks[0]).delete()  # drift it cannot see yet
    knobs(locks[0], offline=True)
    command = reconcile(locks[0], commit)
    assert (command.status, command.reason) == (CommandStatus.PENDING, "The lock is offline.")
    assert reload(locks[0]).online is False
    assert reload(ac).state == CodeState.SET  # no conclusion drawn from a lock not read
    assert ObservedCode.objects.filter(lock=locks[0]).count() == 1
    assert drift_events(locks[0]) == 0


@pytest.mark.django_db
def test_reconcile_all_skips_locks_that_cannot_list_codes(world, locks, prop, commit):
    Lock.objects.create(organization=world.org, property=prop, name="Bridge", driver="bridge_http")
    with commit():
        assert reconcile_enqueue_all() == 2
    assert set(
        LockCommand.objects.filter(kind=CommandKind.RECONCILE).values_list(
            "lock__driver", flat=True
        )
    ) == {"virtual"}
