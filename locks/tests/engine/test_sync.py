"""The sync engine: claiming, retries with backoff, failures in plain words, the sweep,
reconcile and recovery from a worker that died mid-command."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from locks.integrations.base import CodeSpec
from locks.integrations.registry import driver_for
from locks.models import (
    AccessCode,
    CodeState,
    CommandKind,
    CommandStatus,
    LockCommand,
    LockEvent,
    ObservedCode,
    VirtualLockCode,
)
from locks.sync import outbox, runner
from locks.sync.desired import access_put, access_withdraw
from portal.models import Alert


def put(world, lock_list, commit=None, holder="grant:1", code="345678", days=1):
    start = timezone.now() + dt.timedelta(days=days)
    kwargs = dict(
        organization=world.org,
        holder=holder,
        locks=lock_list,
        code=code,
        name=f"LK {holder}",
        valid_from=start,
        valid_until=start + dt.timedelta(days=2),
    )
    if commit is None:
        return access_put(**kwargs)
    with commit():
        return access_put(**kwargs)


@pytest.mark.django_db
def test_change_writes_the_outbox_row_in_the_same_transaction(world, locks):
    (ac,) = put(world, locks[:1])  # no commit: nothing dispatched yet
    command = LockCommand.objects.get(access_code=ac)
    assert command.status == CommandStatus.PENDING and command.kind == CommandKind.SYNC_CODE
    assert ac.state == CodeState.SETTING
    assert not VirtualLockCode.objects.exists()


@pytest.mark.django_db
def test_a_command_is_claimed_once(world, locks):
    (ac,) = put(world, locks[:1])
    command = LockCommand.objects.get(access_code=ac)
    assert outbox.command_claim(command_id=command.pk) is not None
    assert outbox.command_claim(command_id=command.pk) is None
    assert runner.command_run(command_id=command.pk) == "not-claimed"


@pytest.mark.django_db
def test_one_running_command_per_lock(world, locks):
    put(world, locks[:1], holder="grant:1")
    put(world, locks[:1], holder="grant:2", code="456789")
    first, second = LockCommand.objects.order_by("pk")
    assert outbox.command_claim(command_id=first.pk) is not None
    assert outbox.command_claim(command_id=second.pk) is None  # the lock is busy
    second.refresh_from_db()
    assert second.status == CommandStatus.PENDING


@pytest.mark.django_db
def test_transient_failure_retries_with_backoff_then_succeeds(world, locks, commit, settings):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 10
    lock = locks[0]
    lock.config = {"offline": True}
    lock.save()
    (ac,) = put(world, [lock], commit)
    command = LockCommand.objects.get(access_code=ac)
    assert command.status == CommandStatus.PENDING and command.attempts == 1
    assert command.reason == "The lock is offline."
    wait = (command.next_attempt_at - timezone.now()).total_seconds()
    assert 4 <= wait <= 10  # base 10 s with jitter 0.5..1
    ac.refresh_from_db()
    assert ac.state == CodeState.SETTING and ac.last_error == "The lock is offline."
    # Back online; the retry runs once it is due.
    lock.config = {}
    lock.save()
    assert runner.command_run(command_id=command.pk) == "not-claimed"  # not due yet
    with time_machine.travel(command.next_attempt_at + dt.timedelta(seconds=1)), commit():
        assert runner.command_run(command_id=command.pk) == "succeeded"
    ac.refresh_from_db()
    assert ac.state == CodeState.SET and ac.last_error == ""


@pytest.mark.django_db
def test_backoff_grows_exponentially_and_is_capped(settings):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 5
    settings.LATCHKEY_RETRY_MAX_SECONDS = 60
    for attempt, ceiling in [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (9, 60)]:
        values = [outbox.backoff_seconds(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= v <= ceiling for v in values)
        assert max(values) - min(values) > 0  # jitter


@pytest.mark.django_db
def test_exhausted_retries_fail_with_plain_reason_and_alert(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 3
    lock = locks[0]
    lock.config = {"offline": True}
    lock.save()
    (ac,) = put(world, [lock], commit)
    command = LockCommand.objects.get(access_code=ac)
    for _ in range(2):
        command.refresh_from_db()
        with time_machine.travel(command.next_attempt_at + dt.timedelta(seconds=1)), commit():
            runner.command_run(command_id=command.pk)
    command.refresh_from_db()
    assert command.status == CommandStatus.FAILED and command.attempts == 3
    assert command.reason == "The lock is offline." and "batteries" in command.fix
    ac.refresh_from_db()
    assert ac.state == CodeState.FAILED
    alert = Alert.objects.get(kind="code_failed", resolved_at__isnull=True)
    assert lock.name in alert.message and alert.fix
    # The manager's retry, with the lock back: set, and the alert resolves.
    lock.config = {}
    lock.save()
    with commit():
        runner.command_retry(command=command)
    ac.refresh_from_db()
    assert ac.state == CodeState.SET
    assert not Alert.objects.filter(kind="code_failed", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_permanent_error_fails_at_once(world, locks, commit):
    lock = locks[0]
    lock.capacity = 1
    lock.save()
    VirtualLockCode.objects.create(
        lock=lock,
        slot=1,
        code="987654",
        name="Owner",
        valid_from=timezone.now(),
        valid_until=timezone.now() + dt.timedelta(days=30),
    )
    (ac,) = put(world, [lock], commit)
    command = LockCommand.objects.get(access_code=ac)
    assert command.status == CommandStatus.FAILED and command.attempts == 1
    assert command.reason.startswith("The lock's keypad memory is full")
    assert "1 added by someone else" in command.reason


@pytest.mark.django_db
def test_unexpected_crash_is_retried_not_lost(world, locks, commit, monkeypatch):
    from locks.integrations.virtual.driver import VirtualDriver

    def boom(self, spec):
        raise RuntimeError("bug")

    monkeypatch.setattr(VirtualDriver, "add_code", boom)
    (ac,) = put(world, locks[:1], commit)
    command = LockCommand.objects.get(access_code=ac)
    assert command.status == CommandStatus.PENDING
    assert command.reason == "An unexpected error stopped this change."
    assert "RuntimeError" in command.error and "345678" not in command.error
    locks[0].refresh_from_db()
    assert locks[0].online  # our bug is not the lock being unreachable


@pytest.mark.django_db
def test_unreachable_lock_is_marked_offline_and_everything_resumes_when_it_is_back(
    world, locks, commit, settings
):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1  # the command gives up at once
    lock = locks[0]
    lock.config = {"offline": True}
    lock.save()
    (ac,) = put(world, [lock], commit)
    lock.refresh_from_db()
    ac.refresh_from_db()
    assert lock.online is False and ac.state == CodeState.FAILED
    lock.config = {}
    lock.save()
    from locks.sync.reconcile import reconcile_enqueue_all

    with commit():
        reconcile_enqueue_all()  # the first command to get through revives the failed one
    lock.refresh_from_db()
    ac.refresh_from_db()
    assert lock.online is True and ac.state == CodeState.SET
    assert VirtualLockCode.objects.filter(lock=lock, code=ac.code).exists()


@pytest.mark.django_db
def test_sweep_revives_a_command_whose_worker_died(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 30
    (ac,) = put(world, locks[:1])
    command = LockCommand.objects.get(access_code=ac)
    assert outbox.command_claim(command_id=command.pk)  # the worker claims... and dies
    with commit():
        assert outbox.sweep()["revived"] == 0  # lease still running
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)), commit():
        result = outbox.sweep()
    assert result["revived"] == 1
    command.refresh_from_db()
    assert command.status == CommandStatus.SUCCEEDED
    ac.refresh_from_db()
    assert ac.state == CodeState.SET


@pytest.mark.django_db
def test_sweep_redispatches_lost_messages(world, locks, commit, settings):
    settings.LATCHKEY_SWEEP_SECONDS = 30
    (ac,) = put(world, locks[:1])  # committed row, but its message is lost (never dispatched)
    with commit():
        assert outbox.sweep()["redispatched"] == 0  # too fresh to call lost
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=20)), commit():
        assert outbox.sweep()["redispatched"] == 1
    ac.refresh_from_db()
    assert ac.state == CodeState.SET


@pytest.mark.django_db
def test_rerun_after_crash_adopts_the_code_instead_of_adding_it_twice(world, locks, commit):
    """The lock acted but the worker died before recording it: the rerun finds the code."""
    (ac,) = put(world, locks[:1])
    driver = driver_for(locks[0])
    driver.add_code(CodeSpec(ac.code, ac.name, ac.valid_from, ac.valid_until))  # the lock acted
    command = LockCommand.objects.get(access_code=ac)
    with commit():
        assert runner.command_run(command_id=command.pk) == "succeeded"
    assert VirtualLockCode.objects.filter(lock=locks[0]).count() == 1
    assert LockEvent.objects.filter(kind="code_added").count() == 1
    ac.refresh_from_db()
    assert ac.state == CodeState.SET and ac.remote_id


@pytest.mark.django_db
def test_desired_change_while_running_is_not_lost(world, locks, commit):
    (ac,) = put(world, locks[:1])
    first = LockCommand.objects.get(access_code=ac)
    outbox.command_claim(command_id=first.pk)
    # While the first command runs, the stay is extended: a new command must follow.
    put(world, locks[:1], days=2)
    assert LockCommand.objects.filter(access_code=ac, status=CommandStatus.PENDING).count() == 1
    with commit():
        LockCommand.objects.filter(pk=first.pk).update(status=CommandStatus.PENDING)
        runner.command_run(command_id=first.pk)
    ac.refresh_from_db()
    assert ac.state == CodeState.SET
    assert VirtualLockCode.objects.get(lock=locks[0]).valid_from == ac.valid_from


@pytest.mark.django_db
def test_reconcile_restores_a_code_deleted_on_the_lock(world, locks, commit):
    from locks.sync.reconcile import reconcile_enqueue_all

    (ac,) = put(world, locks[:1], commit)
    VirtualLockCode.objects.filter(lock=locks[0]).delete()  # someone deleted it at the lock
    with commit():
        assert reconcile_enqueue_all() == 2
    assert LockEvent.objects.filter(kind="drift", lock=locks[0]).count() == 1
    ac.refresh_from_db()
    assert ac.state == CodeState.SET
    assert VirtualLockCode.objects.filter(lock=locks[0], code=ac.code).count() == 1


@pytest.mark.django_db
def test_reconcile_records_foreign_codes_and_never_deletes_them(world, locks, commit):
    from locks.selectors import lock_codes
    from locks.sync.reconcile import reconcile_enqueue_all

    put(world, locks[:1], commit)
    VirtualLockCode.objects.create(
        lock=locks[0],
        slot=50,
        code="777888",
        name="Cleaner",
        valid_from=timezone.now(),
        valid_until=timezone.now() + dt.timedelta(days=365),
    )
    with commit():
        reconcile_enqueue_all()
    assert VirtualLockCode.objects.filter(code="777888").exists()
    foreign = ObservedCode.objects.get(lock=locks[0], access_code__isnull=True)
    assert foreign.code == "777888"
    rows = lock_codes(lock=locks[0])
    assert {(r["name"], r["state"], r["managed"]) for r in rows} == {
        ("LK grant:1", "set", True),
        ("Cleaner", "foreign", False),
    }


@pytest.mark.django_db
def test_reconcile_removes_our_code_that_should_be_gone(world, locks, commit):
    from locks.sync.reconcile import reconcile_enqueue_all

    (ac,) = put(world, locks[:1], commit)
    AccessCode.objects.filter(pk=ac.pk).update(wanted=False, state=CodeState.REMOVED)
    with commit():
        reconcile_enqueue_all()
    assert not VirtualLockCode.objects.filter(lock=locks[0]).exists()


@pytest.mark.django_db
def test_withdraw_before_push_needs_no_command(world, locks, commit):
    put(world, locks[:1], commit, days=10)  # outside the 72 h horizon: planned
    with commit():
        (ac,) = access_withdraw(holder="grant:1")
    assert ac.state == CodeState.REMOVED
    assert not LockCommand.objects.exists()
