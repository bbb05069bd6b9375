"""Claiming: a conditional update takes a due pending command, gives it a lease and counts the
attempt; one command per lock and at most LATCHKEY_ORG_RUNNING_COMMANDS per organization run
at a time; two claimers racing for the same work get it once."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from locks.models import CommandKind, CommandStatus, LockCommand
from locks.services import lock_create
from locks.sync import outbox
from locks.tests.engine.helpers import put, reload
from properties.services import property_create

T0 = dt.datetime(2027, 5, 4, 9, 0, tzinfo=dt.UTC)


def reconcile_on(lock, **fields) -> LockCommand:
    """A pending command written straight into the outbox (its message never sent)."""
    return LockCommand.objects.create(
        organization_id=lock.organization_id, lock=lock, kind=CommandKind.RECONCILE, **fields
    )


@pytest.fixture
def many_locks(world, prop):
    return [
        lock_create(organization=world.org, property=prop, name=f"Door {i}", driver="virtual")
        for i in range(5)
    ]


@pytest.fixture
def other_lock(world):
    other_prop = property_create(
        organization=world.other_org, name="B house", timezone="Europe/Vienna", external_ref="b"
    )
    return lock_create(
        organization=world.other_org, property=other_prop, name="B door", driver="virtual"
    )


@pytest.mark.django_db
def test_a_claim_starts_a_lease_and_counts_an_attempt(world, locks, settings):
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 90
    with time_machine.travel(T0, tick=False):
        command = reconcile_on(locks[0])
        claimed = outbox.command_claim(command_id=command.pk)
    assert claimed is not None and claimed.pk == command.pk
    assert claimed.status == CommandStatus.RUNNING
    assert claimed.claimed_at == T0
    assert claimed.lease_until == T0 + dt.timedelta(seconds=90)
    assert claimed.attempts == 1
    assert claimed.lock == locks[0]  # loaded with the claim, for the runner


@pytest.mark.django_db
def test_a_command_not_due_yet_is_not_claimed(world, locks):
    command = reconcile_on(locks[0], next_attempt_at=timezone.now() + dt.timedelta(minutes=1))
    assert outbox.command_claim(command_id=command.pk) is None
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.PENDING, 0)
    later = command.next_attempt_at + dt.timedelta(seconds=1)
    assert outbox.command_claim(command_id=command.pk, now=later) is not None


@pytest.mark.parametrize("status", [CommandStatus.SUCCEEDED, CommandStatus.FAILED])
@pytest.mark.django_db
def test_an_ended_command_is_never_claimed_again(world, locks, status):
    command = reconcile_on(locks[0], status=status, attempts=2)
    assert outbox.command_claim(command_id=command.pk) is None
    assert reload(command).attempts == 2


@pytest.mark.django_db
def test_a_missing_command_is_not_claimed(world, locks):
    command = reconcile_on(locks[0])
    command.delete()
    assert outbox.command_claim(command_id=command.pk) is None


@pytest.mark.django_db
def test_a_lock_whose_running_command_lost_its_lease_is_free_again(world, locks, settings):
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 30
    first, second = reconcile_on(locks[0]), reconcile_on(locks[0])
    with time_machine.travel(T0, tick=False):
        assert outbox.command_claim(command_id=first.pk) is not None
        assert outbox.command_claim(command_id=second.pk) is None  # the lease holds the lock
    with time_machine.travel(T0 + dt.timedelta(seconds=31), tick=False):
        assert outbox.command_claim(command_id=second.pk) is not None  # the worker died


@pytest.mark.django_db
def test_a_waiting_command_keeps_its_lock_busy_whatever_its_lease(world, locks):
    waiting = reconcile_on(
        locks[0], status=CommandStatus.WAITING, lease_until=timezone.now() - dt.timedelta(hours=1)
    )
    other = reconcile_on(locks[0])
    assert outbox.command_claim(command_id=other.pk) is None
    assert reload(other).status == CommandStatus.PENDING
    assert reload(waiting).status == CommandStatus.WAITING
    # Another lock of the organization is not held up.
    assert outbox.command_claim(command_id=reconcile_on(locks[1]).pk) is not None


@pytest.mark.django_db
def test_the_organization_cap_turns_away_the_next_command_and_spares_other_organizations(
    world, many_locks, other_lock, settings
):
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 2
    commands = [reconcile_on(lock) for lock in many_locks[:3]]
    assert outbox.command_claim(command_id=commands[0].pk) is not None
    assert outbox.command_claim(command_id=commands[1].pk) is not None
    assert outbox.command_claim(command_id=commands[2].pk) is None  # at the cap
    assert (reload(commands[2]).status, commands[2].attempts) == (CommandStatus.PENDING, 0)
    assert outbox.command_claim(command_id=reconcile_on(other_lock).pk) is not None


@pytest.mark.django_db
def test_the_cap_counts_live_leases_only(world, many_locks, settings):
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 1
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 30
    with time_machine.travel(T0, tick=False):
        assert outbox.command_claim(command_id=reconcile_on(many_locks[0]).pk) is not None
        late = reconcile_on(many_locks[1])
        assert outbox.command_claim(command_id=late.pk) is None
    with time_machine.travel(T0 + dt.timedelta(seconds=31), tick=False):
        assert outbox.command_claim(command_id=late.pk) is not None  # the first one's worker died


@pytest.mark.django_db
def test_waiting_commands_do_not_count_against_the_cap(world, many_locks, settings):
    """A command parked for an on-site agent holds no worker: the organization may run another."""
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 1
    reconcile_on(
        many_locks[0],
        status=CommandStatus.WAITING,
        lease_until=timezone.now() + dt.timedelta(minutes=1),
    )
    assert outbox.command_claim(command_id=reconcile_on(many_locks[1]).pk) is not None


@pytest.mark.django_db
def test_no_cap_when_the_setting_is_zero(world, many_locks, settings):
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 0
    claims = [outbox.command_claim(command_id=reconcile_on(lock).pk) for lock in many_locks]
    assert all(claim is not None for claim in claims)


@pytest.mark.django_db
def test_fair_due_takes_turns_across_organizations(world, many_locks, other_lock):
    start = timezone.now() - dt.timedelta(minutes=5)
    a = [
        reconcile_on(many_locks[i % 5], next_attempt_at=start + dt.timedelta(seconds=i))
        for i in range(6)
    ]
    b = [
        reconcile_on(other_lock, next_attempt_at=start + dt.timedelta(seconds=10 + i))
        for i in range(2)
    ]
    due = LockCommand.objects.filter(status=CommandStatus.PENDING)
    order = [pk for pk, _ in outbox.fair_due(due=due, limit=100)]
    assert order[:4] == [a[0].pk, b[0].pk, a[1].pk, b[1].pk]  # oldest of each, then second...
    assert order[4:] == [c.pk for c in a[2:]]
    capped = outbox.fair_due(due=due, limit=100, per_org=2)
    assert [pk for pk, _ in capped] == [a[0].pk, b[0].pk, a[1].pk, b[1].pk]
    assert len(outbox.fair_due(due=due, limit=3)) == 3


@pytest.mark.django_db
def test_a_new_change_reuses_the_pending_command_of_its_code(world, locks):
    (ac,) = put(world.org, locks[:1], code="111222")
    put(world.org, locks[:1], code="111333")  # changed before the first command ran
    (command,) = LockCommand.objects.filter(access_code=ac)
    assert command.status == CommandStatus.PENDING


@pytest.mark.django_db
def test_a_reused_command_in_backoff_keeps_its_schedule(world, locks):
    """A change does not hasten a command that is backing off from a failing lock."""
    (ac,) = put(world.org, locks[:1])
    later = timezone.now() + dt.timedelta(minutes=5)
    LockCommand.objects.filter(access_code=ac).update(attempts=2, next_attempt_at=later)
    put(world.org, locks[:1], code="999000")
    (command,) = LockCommand.objects.filter(access_code=ac)
    assert command.next_attempt_at == later


@pytest.mark.django_db
def test_a_reused_command_never_tried_is_hastened(world, locks):
    (ac,) = put(world.org, locks[:1])
    later = timezone.now() + dt.timedelta(minutes=5)
    LockCommand.objects.filter(access_code=ac).update(next_attempt_at=later)
    put(world.org, locks[:1], code="999000")
    (command,) = LockCommand.objects.filter(access_code=ac)
    assert command.next_attempt_at <= timezone.now()


def _race(targets: list[int]) -> list[bool]:
    """Claim each of `targets` from its own thread (own database connection), all at once."""
    barrier = threading.Barrier(len(targets))
    results: list[bool] = [False] * len(targets)
    errors: list[BaseException] = []

    def claim(i: int, command_id: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = outbox.command_claim(command_id=command_id) is not None
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    return results


@pytest.mark.django_db(transaction=True)
def test_two_claimers_of_one_command_get_it_once(world, locks, concurrent_db):
    command = reconcile_on(locks[0])
    for _ in range(3):
        LockCommand.objects.filter(pk=command.pk).update(status=CommandStatus.PENDING)
        assert sorted(_race([command.pk] * 4)) == [False, False, False, True]
    assert reload(command).attempts == 3


@pytest.mark.django_db(transaction=True)
def test_two_claimers_of_one_lock_run_one_command(world, locks, concurrent_db):
    commands = [reconcile_on(locks[0]) for _ in range(4)]
    assert sum(_race([c.pk for c in commands])) == 1
    assert LockCommand.objects.filter(status=CommandStatus.RUNNING).count() == 1


@pytest.mark.django_db(transaction=True)
def test_racing_claimers_never_pass_the_organization_cap(
    world, many_locks, settings, concurrent_db
):
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 2
    commands = [reconcile_on(lock) for lock in many_locks]
    assert sum(_race([c.pk for c in commands])) == 2
    assert LockCommand.objects.filter(status=CommandStatus.RUNNING).count() == 2
