"""Fair claiming across organizations: one organization's backlog of thousands of commands
does not delay another organization's first command by more than one claim round."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from locks.models import CommandKind, CommandStatus, LockCommand
from locks.services import lock_create
from locks.sync import outbox, runner


def _backlog(*, organization, locks, count: int, age: dt.timedelta) -> list[int]:
    """`count` due pending commands spread over `locks`, oldest first (their messages lost)."""
    start = timezone.now() - age
    rows = [
        LockCommand(
            organization=organization,
            lock=locks[i % len(locks)],
            kind=CommandKind.RECONCILE,
            next_attempt_at=start + dt.timedelta(milliseconds=i),
            created_at=start + dt.timedelta(milliseconds=i),
        )
        for i in range(count)
    ]
    return [row.pk for row in LockCommand.objects.bulk_create(rows)]


@pytest.fixture
def noisy(world, prop):
    """Organization A with 2,000 pending commands on 40 locks; organization B with one lock."""
    from properties.services import property_create

    a_locks = [
        lock_create(organization=world.org, property=prop, name=f"A door {i}", driver="virtual")
        for i in range(40)
    ]
    b_prop = property_create(
        organization=world.other_org, name="B house", timezone="Europe/Vienna", external_ref="b-1"
    )
    b_lock = lock_create(
        organization=world.other_org, property=b_prop, name="B door", driver="virtual"
    )
    a_ids = _backlog(organization=world.org, locks=a_locks, count=2000, age=dt.timedelta(minutes=5))
    return a_ids, b_lock


@pytest.mark.django_db
def test_sweep_gives_another_organization_its_turn_in_the_first_round(noisy, monkeypatch, settings):
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 8
    settings.LATCHKEY_SWEEP_SECONDS = 30
    a_ids, b_lock = noisy
    b_command = outbox.command_enqueue(lock=b_lock, kind=CommandKind.RECONCILE)  # msg lost
    sent: list[int] = []
    monkeypatch.setattr(outbox, "dispatch", lambda pk, **kw: sent.append(pk))
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=20)):
        outbox.sweep()
        # The round: the sent messages, claimed in the order they were sent.
        claimed = [pk for pk in sent if outbox.command_claim(command_id=pk) is not None]
    assert b_command.pk in sent[:2]  # B's first command is in A's first turn, not after 2,000
    assert b_command.pk in claimed
    a_sent = [pk for pk in sent if pk != b_command.pk]
    assert a_sent == a_ids[:8]  # A's oldest, no more than it may run at once
    assert LockCommand.objects.filter(pk__in=a_ids, status=CommandStatus.RUNNING).count() == 8


@pytest.mark.django_db
def test_a_backlog_in_the_queue_cannot_take_more_than_its_cap(noisy, settings):
    """A's 2,000 messages were queued before B's: A gets its cap of running commands, its other
    messages are turned away at once, and B's command is claimed in the same round."""
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 8
    a_ids, b_lock = noisy
    b_command = outbox.command_enqueue(lock=b_lock, kind=CommandKind.RECONCILE)
    claims = [outbox.command_claim(command_id=pk) for pk in [*a_ids[:100], b_command.pk]]
    assert sum(c is not None for c in claims[:100]) == 8
    assert claims[-1] is not None and claims[-1].pk == b_command.pk
    assert (
        LockCommand.objects.filter(
            organization=b_lock.organization, status=CommandStatus.RUNNING
        ).count()
        == 1
    )


@pytest.mark.django_db
def test_a_command_turned_away_at_the_cap_runs_when_another_ends(world, locks, commit, settings):
    """Exactly once and nothing stranded: when a running command ends, the organization's
    next command is sent, until its backlog is done."""
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 1
    extra = [
        lock_create(
            organization=world.org, property=locks[0].property, name=f"D{i}", driver="virtual"
        )
        for i in range(3)
    ]
    ids = _backlog(
        organization=world.org, locks=locks + extra, count=5, age=dt.timedelta(seconds=1)
    )
    first = outbox.command_claim(command_id=ids[0])
    assert first is not None
    with commit():
        assert runner.command_run(command_id=ids[1]) == "not-claimed"  # A is at its cap
    assert LockCommand.objects.get(pk=ids[1]).status == CommandStatus.PENDING
    with commit():
        runner._succeed(first)  # the running one ends: the next ones follow, one at a time
    statuses = dict(LockCommand.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert set(statuses.values()) == {CommandStatus.SUCCEEDED}
    assert all(c.attempts == 1 for c in LockCommand.objects.filter(pk__in=ids))


@pytest.mark.django_db
def test_a_backlog_found_by_the_sweep_drains_without_waiting_for_more_sweeps(
    world, locks, commit, settings
):
    """The sweep sends an organization only its cap of lost commands; the rest follow one by
    one as those end, not 2 per sweep interval."""
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 2
    settings.LATCHKEY_SWEEP_SECONDS = 30
    extra = [
        lock_create(
            organization=world.org, property=locks[0].property, name=f"D{i}", driver="virtual"
        )
        for i in range(4)
    ]
    ids = _backlog(
        organization=world.org, locks=locks + extra, count=6, age=dt.timedelta(minutes=1)
    )
    with commit():
        assert outbox.sweep()["redispatched"] == 2
    done = LockCommand.objects.filter(pk__in=ids, status=CommandStatus.SUCCEEDED).count()
    assert done == 6
