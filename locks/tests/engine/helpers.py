"""Test-only helpers for the sync engine's tests: putting codes on virtual locks, switching a
virtual lock's fault knobs, and running a command once it is due (the clock moved to it)."""

from __future__ import annotations

import datetime as dt
from contextlib import nullcontext

import time_machine
from django.utils import timezone

from locks.models import AccessCode, Lock, LockCommand
from locks.sync.desired import access_put
from locks.sync.runner import command_run


def put(
    org,
    lock_list,
    *,
    commit=None,
    holder: str = "grant:1",
    code: str = "345678",
    days: float = 1,
    length_days: float = 2,
    **extra,
) -> list[AccessCode]:
    """`holder` should hold `code` on these locks from `days` from now, for `length_days`.
    With `commit`, what runs after commit (the commands, eagerly) runs."""
    start = timezone.now() + dt.timedelta(days=days)
    kwargs = dict(
        organization=org,
        holder=holder,
        locks=lock_list,
        code=code,
        name=f"LK {holder}",
        valid_from=start,
        valid_until=start + dt.timedelta(days=length_days),
        **extra,
    )
    with commit() if commit is not None else nullcontext():
        return access_put(**kwargs)


def knobs(lock: Lock, **config) -> Lock:
    """Set a virtual lock's config (offline, failure_rate, delay_ms, schedules); None removes."""
    merged = {**lock.config, **config}
    lock.config = {k: v for k, v in merged.items() if v is not None}
    lock.save(update_fields=["config"])
    return lock


def command_of(ac: AccessCode) -> LockCommand:
    """The latest command for a code."""
    return LockCommand.objects.filter(access_code=ac).latest("pk")


def run_when_due(command: LockCommand, commit, *, after: float = 1.0) -> str:
    """Move the clock past the command's next attempt and run it (and what follows it)."""
    command.refresh_from_db()
    with time_machine.travel(command.next_attempt_at + dt.timedelta(seconds=after)), commit():
        return command_run(command_id=command.pk)


def reload(obj):
    obj.refresh_from_db()
    return obj
