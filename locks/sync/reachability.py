"""A lock going unreachable and coming back.

While a lock cannot be reached its commands retry with backoff and, after enough attempts,
fail. When any command reaches it again, everything it missed is put back in motion at once:
failed code commands get a fresh set of attempts, waiting ones run now, and its backup-code
pool is refilled. Holders hear about unreachable locks (`lock_unreachable`) so that a stay
about to begin can fall back to a backup code.
"""

from __future__ import annotations

import contextlib

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from locks.backup import pool_fill
from locks.models import AccessCode, CodeState, CommandKind, CommandStatus, Lock, LockCommand
from locks.signals import lock_unreachable as lock_unreachable_signal
from locks.sync.commands import command_retry, dispatch
from portal.aftercommit import after_commit


def lock_unreachable(*, lock: Lock, reason: str, access_code_id: int | None = None) -> None:
    """Record that a command could not reach the lock; tell holders after commit: about
    every code of the lock when it has just gone unreachable or was last told about over a
    minute ago, else only about the code whose command failed (`access_code_id`)."""
    went = Lock.objects.filter(pk=lock.pk, online=True).update(online=False)
    lock.online = False
    due = _tell_again(lock.pk)  # always: a lock that just went also starts its quiet minute
    if went or due:
        codes = None
    elif access_code_id is not None:
        codes = [access_code_id]
    else:
        return

    def _send() -> None:
        lock_unreachable_signal.send(sender=Lock, lock=lock, access_codes=codes)

    after_commit(_send, what=f"lock_unreachable({lock.pk})")


def _tell_again(lock_id: int) -> bool:
    """True at most once per LATCHKEY_PLAN_SECONDS per lock, across workers; True too when
    the cache is down (telling again costs time, not telling could cost a guest).

    Why a quiet time: every failed attempt calls `lock_unreachable`; behind a silent on-site
    agent that is every command of the lock, twice, and telling about every stay each time
    made bookings look at all of them for a backup code (0.4 s a time: one tenant's backlog
    drained at 2 commands a second; bench/noisy_neighbour.py). The beat task
    `assign-backup-codes` covers a stay that comes due in between: the quiet time is its
    period."""
    key = f"latchkey:lock-unreachable-told:{lock_id}"
    with contextlib.suppress(Exception):
        return bool(cache.add(key, 1, timeout=settings.LATCHKEY_PLAN_SECONDS))
    return True


@transaction.atomic(savepoint=False)
def lock_back_online(*, lock: Lock) -> dict[str, int]:
    """Put back in motion what the lock missed while it was unreachable."""
    now = timezone.now()
    retried = 0
    failed_codes = AccessCode.objects.filter(lock=lock, state=CodeState.FAILED)
    for ac in failed_codes:
        command = (
            LockCommand.objects.filter(
                access_code=ac, kind=CommandKind.SYNC_CODE, status=CommandStatus.FAILED
            )
            .order_by("-pk")
            .first()
        )
        if command is not None:
            command_retry(command=command)
            retried += 1
    waiting = list(
        LockCommand.objects.filter(
            lock=lock, status=CommandStatus.PENDING, next_attempt_at__gt=now
        ).values_list("pk", flat=True)
    )
    LockCommand.objects.filter(pk__in=waiting).update(next_attempt_at=now)
    for pk in waiting:
        dispatch(pk, driver=lock.driver)
    pool_fill(lock=lock)
    return {"retried": retried, "hastened": len(waiting)}
