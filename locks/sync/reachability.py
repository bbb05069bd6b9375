"""A lock going unreachable and coming back.

While a lock cannot be reached its commands retry with backoff and, after enough attempts,
fail. When any command reaches it again, everything it missed is put back in motion at once:
failed code commands get a fresh set of attempts, waiting ones run now, and its backup-code
pool is refilled. Holders hear about unreachable locks (`lock_unreachable`) so that a stay
about to begin can fall back to a backup code.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from locks.backup import pool_fill
from locks.models import AccessCode, CodeState, CommandKind, CommandStatus, Lock, LockCommand
from locks.signals import lock_unreachable as lock_unreachable_signal
from locks.sync.commands import command_retry, dispatch
from portal.aftercommit import after_commit


def lock_unreachable(*, lock: Lock, reason: str) -> None:
    """Record that a command could not reach the lock; tell holders after commit."""
    Lock.objects.filter(pk=lock.pk, online=True).update(online=False)
    lock.online = False

    def _send() -> None:
        lock_unreachable_signal.send(sender=Lock, lock=lock)

    after_commit(_send, what=f"lock_unreachable({lock.pk})")


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
