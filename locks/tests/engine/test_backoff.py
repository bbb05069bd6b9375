"""Retries: exponential backoff with full jitter, capped; a limit of attempts after which the
command fails in the driver's plain words; permanent errors fail at once; the manager's retry
starts over."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import time_machine

from locks.actions import lock_action_request
from locks.models import CodeState, CommandStatus, LockCommand
from locks.sync import outbox
from locks.sync.desired import access_withdraw
from locks.sync.runner import command_retry, command_run
from locks.tests.engine.helpers import command_of, knobs, put, reload, run_when_due
from portal.models import Alert

T0 = dt.datetime(2027, 5, 4, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def jitter(monkeypatch):
    """Pin the jitter: `jitter(x)` makes random.random() return x (0 → half the ceiling)."""

    def pin(value: float) -> None:
        monkeypatch.setattr(random, "random", lambda: value)

    pin(1.0)  # the full ceiling, so schedules are exact
    return pin


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (6, 60), (20, 60)]
)
def test_the_ceiling_doubles_from_the_base_up_to_the_cap(attempt, ceiling, settings, jitter):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 5
    settings.LATCHKEY_RETRY_MAX_SECONDS = 60
    assert outbox.backoff_seconds(attempt) == ceiling
    jitter(0.0)
    assert outbox.backoff_seconds(attempt) == ceiling / 2  # full jitter: half to all of it


def test_attempt_zero_waits_like_the_first(settings, jitter):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 7
    assert outbox.backoff_seconds(0) == outbox.backoff_seconds(1) == 7


def test_jitter_spreads_retries(settings):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 8
    values = {outbox.backoff_seconds(3) for _ in range(40)}
    assert len(values) > 10 and all(16 <= v <= 32 for v in values)


@pytest.mark.django_db
def test_a_failing_lock_is_retried_on_the_doubling_schedule(world, locks, commit, settings, jitter):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 10
    settings.LATCHKEY_RETRY_MAX_SECONDS = 1000
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 8
    knobs(locks[0], offline=True)
    with time_machine.travel(T0, tick=False):
        (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    assert (command.attempts, command.next_attempt_at) == (1, T0 + dt.timedelta(seconds=10))
    at = command.next_attempt_at
    for attempts, wait in [(2, 20), (3, 40), (4, 80)]:
        with time_machine.travel(at, tick=False), commit():
            assert command_run(command_id=command.pk) == "retry"
        command = reload(command)
        assert command.attempts == attempts
        assert command.next_attempt_at == at + dt.timedelta(seconds=wait)
        at = command.next_attempt_at


@pytest.mark.django_db
def test_the_wait_between_retries_is_capped(world, locks, commit, settings, jitter):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 10
    settings.LATCHKEY_RETRY_MAX_SECONDS = 25
    knobs(locks[0], offline=True)
    with time_machine.travel(T0, tick=False):
        (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    waits = []
    for _ in range(4):
        at = reload(command).next_attempt_at
        with time_machine.travel(at, tick=False), commit():
            command_run(command_id=command.pk)
        waits.append((reload(command).next_attempt_at - at).total_seconds())
    assert waits == [20, 25, 25, 25]


@pytest.mark.django_db
def test_a_command_fails_exactly_at_the_attempt_limit(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 4
    knobs(locks[0], offline=True)
    (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    outcomes = [run_when_due(command, commit) for _ in range(3)]
    assert outcomes == ["retry", "retry", "failed"]
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.FAILED, 4)
    assert command.finished_at is not None and command.lease_until is None
    assert command.reason == "The lock is offline."
    assert "batteries" in command.fix
    assert reload(ac).state == CodeState.FAILED and ac.last_error == "The lock is offline."
    # Failed is final: nothing runs it again.
    assert run_when_due(command, commit) == "not-claimed"


@pytest.mark.django_db
def test_while_retrying_the_code_says_why_and_raises_no_alert(world, locks, commit):
    knobs(locks[0], offline=True)
    (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    assert (command.status, command.attempts) == (CommandStatus.PENDING, 1)
    assert command.reason == "The lock is offline." and command.error == command.reason
    assert reload(ac).state == CodeState.SETTING and ac.last_error == "The lock is offline."
    assert not Alert.objects.filter(kind="code_failed").exists()


@pytest.mark.django_db
def test_a_permanent_error_fails_at_the_first_attempt_in_plain_words(world, locks, commit):
    (ac,) = put(
        world.org, locks[:1], commit=commit, kind="app", account_email="ada@x.test", code=""
    )
    command = command_of(ac)
    assert (command.status, command.attempts) == (CommandStatus.FAILED, 1)
    assert command.reason == "This lock cannot give access through the Nuki app."
    assert command.fix == "App access needs a lock connected through Nuki Web."
    assert reload(ac).state == CodeState.FAILED
    alert = Alert.objects.get(kind="code_failed", subject=f"code:{ac.pk}")
    assert alert.message.startswith("Could not set the code")
    assert locks[0].name in alert.message and alert.fix == command.fix
    assert reload(locks[0]).online  # the lock answered: a refusal is not unreachability


@pytest.mark.django_db
def test_a_removal_that_runs_out_of_attempts_says_remove(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    (ac,) = put(world.org, locks[:1], commit=commit)
    knobs(locks[0], offline=True)
    with commit():
        access_withdraw(holder="grant:1")
    assert reload(ac).state == CodeState.FAILED
    alert = Alert.objects.get(kind="code_failed", subject=f"code:{ac.pk}")
    assert alert.message.startswith("Could not remove the code")


@pytest.mark.django_db
def test_the_managers_retry_starts_over_with_fresh_attempts(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 2
    knobs(locks[0], offline=True)
    (ac,) = put(world.org, locks[:1], commit=commit)
    command = command_of(ac)
    run_when_due(command, commit)
    assert reload(command).status == CommandStatus.FAILED
    with commit():  # still offline: two fresh attempts, not zero
        command_retry(command=command)
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.PENDING, 1)
    assert reload(ac).state == CodeState.SETTING
    knobs(locks[0], offline=None)
    assert run_when_due(command, commit) == "succeeded"
    assert reload(ac).state == CodeState.SET


@pytest.mark.parametrize("status", [CommandStatus.PENDING, CommandStatus.SUCCEEDED])
@pytest.mark.django_db
def test_retry_leaves_a_command_that_has_not_failed_alone(world, locks, status):
    (ac,) = put(world.org, locks[:1])
    LockCommand.objects.filter(access_code=ac).update(status=status, attempts=3)
    command = command_retry(command=command_of(ac))
    assert (command.status, command.attempts) == (status, 3)


@pytest.mark.django_db
def test_a_lock_action_gets_three_quick_attempts_at_most(world, locks, commit, settings):
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 8
    settings.LATCHKEY_RETRY_BASE_SECONDS = 60
    knobs(locks[0], offline=True)
    with time_machine.travel(T0, tick=False), commit():
        command = lock_action_request(lock=locks[0], action="unlock")
    command = reload(command)
    assert command.status == CommandStatus.PENDING
    assert T0 < command.next_attempt_at <= T0 + dt.timedelta(seconds=2)  # not 60 s
    assert run_when_due(command, commit) == "retry"
    assert run_when_due(command, commit) == "failed"
    command = reload(command)
    assert (command.status, command.attempts) == (CommandStatus.FAILED, 3)
    assert reload(locks[0]).state != "unlocked"
