"""The outbox: LockCommand rows written with the change, dispatched after commit, claimed with
a conditional update (so a command runs once even if its message is delivered twice), and swept
when a message or a worker was lost."""

from __future__ import annotations

import datetime as dt
import random

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F
from django.utils import timezone

from locks.models import CommandKind, CommandStatus, Lock, LockCommand
from portal import fastsql


def dispatch(command_id: int, *, countdown: float = 0) -> None:
    """Queue the task that runs a command, once the surrounding transaction commits."""
    dispatch_many([command_id], countdown=countdown)


def dispatch_many(command_ids: list[int], *, countdown: float = 0) -> None:
    """Queue several commands after commit as ONE broker message: publishing a message costs
    more CPU than the rest of a booking's database work, on the web side and the worker's."""
    if not command_ids:
        return
    ids, delay = list(command_ids), max(0.0, countdown)

    def _send() -> None:
        from locks.tasks import run_command, run_commands

        if len(ids) == 1:
            run_command.apply_async((ids[0],), countdown=delay)
        else:
            run_commands.apply_async((ids,), countdown=delay)

    transaction.on_commit(_send)


def command_enqueue(*, lock: Lock, kind: str, access_code=None) -> LockCommand:
    """Write a command in the caller's transaction and dispatch it after commit.

    A pending command for the same code already covers the change (commands read the desired
    state when they run), so it is reused rather than duplicated.
    """
    pending = LockCommand.objects.filter(
        lock=lock, kind=kind, access_code=access_code, status=CommandStatus.PENDING
    ).first()
    if pending is not None:
        if pending.next_attempt_at > timezone.now() and pending.attempts == 0:
            pending.next_attempt_at = timezone.now()
            pending.save(update_fields=["next_attempt_at"])
        dispatch(pending.pk)
        return pending
    command = LockCommand.objects.create(
        organization_id=lock.organization_id, lock=lock, kind=kind, access_code=access_code
    )
    dispatch(command.pk)
    return command


def commands_enqueue_sync(*, access_codes: list, fresh: set[int]) -> list[LockCommand]:
    """Queue sync commands for several codes at once. Codes in `fresh` were just created, so
    no pending command can exist for them: one insert for all of them, no lookups."""
    commands = [
        LockCommand(
            organization_id=ac.organization_id,
            lock_id=ac.lock_id,
            kind=CommandKind.SYNC_CODE,
            access_code=ac,
        )
        for ac in access_codes
        if ac.pk in fresh
    ]
    fastsql.insert(commands)
    dispatch_many([command.pk for command in commands])
    return commands + [
        command_enqueue_sync(access_code=ac) for ac in access_codes if ac.pk not in fresh
    ]


def command_enqueue_sync(*, access_code) -> LockCommand:
    return command_enqueue(
        lock=access_code.lock, kind=CommandKind.SYNC_CODE, access_code=access_code
    )


def command_claim(*, command_id: int, now: dt.datetime | None = None) -> LockCommand | None:
    """Claim a due pending command, one running command per lock at a time.

    The lock row is locked while deciding, so two workers cannot both see the lock idle and
    both start. Returns None when the command is not due, already taken, or its lock is busy.
    """
    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.LATCHKEY_COMMAND_LEASE_SECONDS)
    with transaction.atomic():
        # The command's lock row, locked, in one statement (only the lock row: `of`).
        lock_id = (
            Lock.objects.select_for_update(of=("self",))
            .filter(commands__pk=command_id, commands__status=CommandStatus.PENDING)
            .values_list("pk", flat=True)
            .first()
        )
        if lock_id is None:
            return None
        # The lock row is held, so "no other command of this lock is running" cannot change
        # before the update: the check rides along in the same statement.
        busy = LockCommand.objects.filter(
            lock_id=lock_id, status=CommandStatus.RUNNING, lease_until__gt=now
        )
        claimed = LockCommand.objects.filter(
            ~Exists(busy), pk=command_id, status=CommandStatus.PENDING, next_attempt_at__lte=now
        ).update(
            status=CommandStatus.RUNNING,
            claimed_at=now,
            lease_until=now + lease,
            attempts=F("attempts") + 1,
        )
        if not claimed:
            return None
    return LockCommand.objects.select_related("lock", "access_code", "lock__organization").get(
        pk=command_id
    )


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: base * 2^(attempt-1), capped, times 0.5..1."""
    base = settings.LATCHKEY_RETRY_BASE_SECONDS
    cap = settings.LATCHKEY_RETRY_MAX_SECONDS
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling * (0.5 + random.random() / 2)


def dispatch_next_for_lock(*, lock_id: int) -> None:
    """After a command ends, start the next due one for the same lock (they wait their turn).
    Call it inside the transaction that ends the command: the message goes out after commit."""
    next_id = (
        LockCommand.objects.filter(
            lock_id=lock_id, status=CommandStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
        .first()
    )
    if next_id is not None:
        dispatch(next_id)


def sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Recover from lost messages and dead workers.

    - running commands whose lease ran out (the worker died) go back to pending;
    - pending commands that are due (some time ago) get a fresh message. A duplicate message
      is harmless: only one claim can succeed.
    """
    now = now or timezone.now()
    grace = dt.timedelta(seconds=max(1.0, settings.LATCHKEY_SWEEP_SECONDS / 2))
    with transaction.atomic():
        revived = LockCommand.objects.filter(
            status=CommandStatus.RUNNING, lease_until__lt=now
        ).update(status=CommandStatus.PENDING, next_attempt_at=now, lease_until=None)
        stale = list(
            LockCommand.objects.filter(
                status=CommandStatus.PENDING, next_attempt_at__lte=now - grace
            ).values_list("pk", flat=True)[:1000]
        )
        revived_ids = list(
            LockCommand.objects.filter(
                status=CommandStatus.PENDING, next_attempt_at=now
            ).values_list("pk", flat=True)[:1000]
        )
        for pk in dict.fromkeys(stale + revived_ids):
            dispatch(pk)
    return {"revived": revived, "redispatched": len(set(stale + revived_ids))}
