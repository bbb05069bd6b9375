"""The sweep: commands whose worker died (lease ran out) go back to pending and run again;
pending commands whose message was lost are sent again, in turns across organizations; a
command parked for an on-site agent that stayed silent past its deadline is retried, then
failed in plain words."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from locks.models import (
    AccessCode,
    Agent,
    AgentJob,
    CodeState,
    CommandKind,
    CommandStatus,
    Lock,
    LockCommand,
    LockEvent,
    VirtualLockCode,
)
from locks.services import lock_create
from locks.sync import outbox
from locks.sync.runner import command_wait_expire
from locks.tests.engine.helpers import command_of, put, reload
from portal.models import Alert
from properties.services import property_create

T0 = dt.datetime(2027, 5, 4, 9, 0, tzinfo=dt.UTC)


def reconcile_on(lock, **fields) -> LockCommand:
    return LockCommand.objects.create(
        organization_id=lock.organization_id, lock=lock, kind=CommandKind.RECONCILE, **fields
    )


@pytest.mark.django_db
def test_only_commands_whose_lease_ran_out_are_revived(world, locks, settings):
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 60
    with time_machine.travel(T0, tick=False):
        dead = reconcile_on(locks[0])
        assert outbox.command_claim(command_id=dead.pk)
    with time_machine.travel(T0 + dt.timedelta(seconds=30), tick=False):
        alive = reconcile_on(locks[1])
        assert outbox.command_claim(command_id=alive.pk)
    with time_machine.travel(T0 + dt.timedelta(seconds=61), tick=False):
        assert outbox.sweep()["revived"] == 1
        dead, alive = reload(dead), reload(alive)
        assert (dead.status, dead.lease_until, dead.next_attempt_at) == (
            CommandStatus.PENDING,
            None,
            timezone.now(),
        )
        assert alive.status == CommandStatus.RUNNING


@pytest.mark.django_db
def test_a_revived_command_runs_again_as_a_new_attempt(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 30
    (ac,) = put(world.org, locks[:1])
    command = command_of(ac)
    assert outbox.command_claim(command_id=command.pk)  # the worker claims it and dies
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)), commit():
        result = outbox.sweep()
    assert result["revived"] == 1
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.SUCCEEDED, 2)
    assert reload(ac).state == CodeState.SET


@pytest.mark.django_db
def test_a_worker_that_died_after_the_lock_acted_leaves_one_code(world, locks, commit, settings):
    """The lock wrote the code, the worker died before recording it: after the sweep the rerun
    adopts the code it finds instead of adding a second one."""
    settings.LATCHKEY_COMMAND_LEASE_SECONDS = 30
    (ac,) = put(world.org, locks[:1])
    command = command_of(ac)
    assert outbox.command_claim(command_id=command.pk)
    VirtualLockCode.objects.create(  # what the dead worker got done: the lock holds the code
        lock=locks[0], slot=4, code=ac.code, name=ac.name,
        valid_from=ac.valid_from, valid_until=ac.valid_until,
    )  # fmt: skip
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=31)), commit():
        outbox.sweep()
    ac = reload(ac)
    (on_lock,) = VirtualLockCode.objects.filter(lock=locks[0])
    assert ac.state == CodeState.SET and ac.remote_id == str(on_lock.slot) == "4"
    assert not LockEvent.objects.filter(lock=locks[0], kind="code_added").exists()


@pytest.mark.django_db
def test_lost_messages_are_sent_again_after_the_grace_only(world, locks, settings):
    settings.LATCHKEY_SWEEP_SECONDS = 30  # grace: 15 s
    with time_machine.travel(T0, tick=False):
        lost = reconcile_on(locks[0])
        reconcile_on(locks[1], next_attempt_at=T0 + dt.timedelta(minutes=5))  # backing off
    with time_machine.travel(T0 + dt.timedelta(seconds=10), tick=False):
        assert outbox.sweep()["redispatched"] == 0  # its message may still be on its way
    with time_machine.travel(T0 + dt.timedelta(seconds=16), tick=False):
        assert outbox.sweep()["redispatched"] == 1
    assert reload(lost).status == CommandStatus.PENDING  # not run: nothing committed


@pytest.mark.django_db
def test_a_redispatched_command_runs_to_the_end(world, locks, commit, settings):
    settings.LATCHKEY_SWEEP_SECONDS = 30
    (ac,) = put(world.org, locks[:1])  # written, its message lost with the web process
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=20)), commit():
        assert outbox.sweep()["redispatched"] == 1
    assert reload(ac).state == CodeState.SET
    assert command_of(ac).status == CommandStatus.SUCCEEDED


@pytest.mark.django_db
def test_ended_commands_are_left_alone(world, locks, settings):
    old = timezone.now() - dt.timedelta(hours=1)
    for status in (CommandStatus.SUCCEEDED, CommandStatus.FAILED):
        reconcile_on(locks[0], status=status, next_attempt_at=old, lease_until=old)
    assert outbox.sweep() == {"revived": 0, "redispatched": 0, "expired": 0}


@pytest.mark.django_db
def test_the_sweep_sends_each_organization_no_more_than_it_may_run(world, prop, settings):
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 2
    old = timezone.now() - dt.timedelta(minutes=5)
    for i in range(5):
        lock = lock_create(organization=world.org, property=prop, name=f"A{i}", driver="virtual")
        reconcile_on(lock, next_attempt_at=old)
    b_prop = property_create(
        organization=world.other_org, name="B", timezone="Europe/Vienna", external_ref="b"
    )
    b_lock = lock_create(organization=world.other_org, property=b_prop, name="B", driver="virtual")
    reconcile_on(b_lock, next_attempt_at=old)
    assert outbox.sweep()["redispatched"] == 3  # two of A's five, B's one
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 0
    assert outbox.sweep()["redispatched"] == 6  # no cap: all of them


@pytest.mark.django_db
def test_a_backlog_behind_a_busy_lock_does_not_take_its_organizations_turn(world, prop, settings):
    """The organization's oldest commands wait behind a lock whose command waits for its
    device: the sweep sends the organization's commands that can start (one per idle lock),
    not the blocked ones again and again."""
    settings.LATCHKEY_ORG_RUNNING_COMMANDS = 2
    old = timezone.now() - dt.timedelta(minutes=5)
    stuck = lock_create(organization=world.org, property=prop, name="Stuck", driver="virtual")
    reconcile_on(stuck, status=CommandStatus.WAITING, lease_until=old + dt.timedelta(hours=1))
    for _ in range(4):
        reconcile_on(stuck, next_attempt_at=old)  # the oldest pending, all blocked
    idle = lock_create(organization=world.org, property=prop, name="Idle", driver="virtual")
    first, second = (reconcile_on(idle, next_attempt_at=old) for _ in range(2))
    other = lock_create(organization=world.org, property=prop, name="Other", driver="virtual")
    third = reconcile_on(other, next_attempt_at=old)
    due = outbox.sweep_due(now=timezone.now(), grace=dt.timedelta(seconds=15))
    assert set(due.values_list("pk", flat=True)) == {first.pk, third.pk}
    assert second.pk not in set(due.values_list("pk", flat=True))  # its lock's next, later
    assert outbox.sweep()["redispatched"] == 2


# The agent path: a command parked (`waiting`) for an on-site agent -----------------------


@pytest.fixture
def agent_lock(world, prop, settings):
    settings.LATCHKEY_AGENT_JOB_DEADLINE_SECONDS = 45
    settings.LATCHKEY_RETRY_BASE_SECONDS = 0  # a retry is due at once
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 2
    agent = Agent.objects.create(organization=world.org, name="Hall agent")
    return Lock.objects.create(
        organization=world.org, property=prop, name="Hall door", driver="ble_agent", agent=agent
    )


@pytest.fixture
def parked(world, agent_lock, commit):
    """A code for the agent's lock: the runner handed the first step to the agent at T0."""
    with time_machine.travel(T0, tick=False):
        (ac,) = put(world.org, [agent_lock], commit=commit)
    command = command_of(ac)
    assert command.status == CommandStatus.WAITING
    assert command.lease_until == T0 + dt.timedelta(seconds=45)
    return ac, command


@pytest.mark.django_db
def test_a_parked_command_is_left_waiting_until_its_deadline(parked, commit):
    _, command = parked
    with time_machine.travel(T0 + dt.timedelta(seconds=44), tick=False), commit():
        assert outbox.sweep()["expired"] == 0
        assert command_wait_expire(command_id=command.pk) == "not-expired"
    assert reload(command).status == CommandStatus.WAITING


@pytest.mark.django_db
def test_a_silent_agent_is_retried_with_a_fresh_job(parked, agent_lock, commit):
    ac, command = parked
    (first_job,) = AgentJob.objects.filter(command=command)
    with time_machine.travel(T0 + dt.timedelta(seconds=46), tick=False), commit():
        assert outbox.sweep()["expired"] == 1
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.WAITING, 2)
    assert command.reason == "The on-site agent “Hall agent” has never been heard from."
    assert reload(first_job).status == AgentJob.Status.CANCELLED  # it can never run late
    assert AgentJob.objects.get(command=command, attempt=2).status == AgentJob.Status.PENDING
    assert reload(ac).last_error == command.reason
    assert reload(agent_lock).online is False


@pytest.mark.django_db
def test_a_silent_agent_fails_the_code_once_out_of_attempts(parked, agent_lock, commit):
    ac, command = parked
    seen = T0 - dt.timedelta(minutes=3)
    Agent.objects.filter(pk=agent_lock.agent_id).update(last_seen_at=seen)
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False), commit():
        assert outbox.sweep()["expired"] == 1
    # Silent for longer than a poll plus a deadline: the retry hands the agent no new job
    # to wait out, it fails at once (here the last attempt).
    assert not AgentJob.objects.filter(command=command, attempt=2).exists()
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.FAILED, 2)
    # In the property's zone (Europe/Vienna, UTC+2 in May), in the pages' one format.
    said = (
        "The on-site agent “Hall agent” has not been heard from since "
        "2027-05-04 10:57 (Europe/Vienna)."
    )
    assert command.reason == said
    assert reload(ac).state == CodeState.FAILED
    assert "10:57 (Europe/Vienna)" in Alert.objects.get(kind="code_failed").message
    assert not AgentJob.objects.filter(status=AgentJob.Status.PENDING).exists()


@pytest.mark.django_db
def test_a_parked_command_whose_lock_lost_its_agent_fails_at_once(parked, agent_lock, commit):
    ac, command = parked
    Agent.objects.filter(pk=agent_lock.agent_id).delete()  # the lock's agent is gone
    with time_machine.travel(T0 + dt.timedelta(seconds=46), tick=False), commit():
        assert outbox.sweep()["expired"] == 1
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.FAILED, 1)
    assert command.reason == "No on-site agent serves this lock."
    assert AccessCode.objects.get(pk=ac.pk).state == CodeState.FAILED


@pytest.mark.django_db
def test_a_parked_command_holds_its_lock_but_not_the_organization(parked, agent_lock, locks):
    other_on_agent_lock = reconcile_on(agent_lock)
    assert outbox.command_claim(command_id=other_on_agent_lock.pk) is None
    assert outbox.command_claim(command_id=reconcile_on(locks[0]).pk) is not None


@pytest.mark.django_db
def test_an_agent_heard_within_a_poll_and_a_deadline_still_gets_the_retry(
    parked, agent_lock, commit
):
    _, command = parked
    with time_machine.travel(T0 + dt.timedelta(seconds=46), tick=False), commit():
        Agent.objects.filter(pk=agent_lock.agent_id).update(
            last_seen_at=T0 + dt.timedelta(seconds=46) - dt.timedelta(seconds=60)
        )
        assert outbox.sweep()["expired"] == 1
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.WAITING, 2)
    assert AgentJob.objects.get(command=command, attempt=2).status == AgentJob.Status.PENDING
