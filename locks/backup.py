"""Backup codes: a pool per lock, set ahead of time while the lock is reachable, for stays
whose own code cannot reach the lock in time (the property's internet down at 17:00 for a
guest arriving tonight; following Nuki's advice in its forum: keep codes on the lock in
advance and give them out when the lock cannot be reached).

How a backup code serves a stay
- Each backup code is an ordinary AccessCode on its lock (holder "backup:<id>") with a long
  window (BACKUP_DAYS), pushed like any code and retried until the lock holds it.
- `backup_take` hands one to a holder: the backup's AccessCode passes to the holder with the
  holder's name and window. The lock still holds the digits with the long window; the
  narrower window reaches the lock with the next successful command, and the code leaves the
  lock after the stay like any other. The holder's own (never set) code on that lock is
  withdrawn. The backup is never given out again, and the pool is refilled.
- Pools of locks at the same property share digits where they can, so a stay whose doors are
  all unreachable still gets one code that opens every door.

Residual risk, by nature of an offline lock: while the lock stays unreachable, a backup code
given to a guest keeps the long window on the lock, so it still opens the door after the
guest's check-out until the lock is reachable again; at that moment the window is narrowed
(or the code removed, if the stay has ended) before anything else. Managers see an alert for
every backup code given out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from locks.integrations.base import Capability
from locks.keypad import draw_code
from locks.models import AccessCode, BackupCode, CodeState, Lock, LockEvent, ObservedCode
from locks.signals import backup_code_ended
from locks.sync.desired import access_put, access_withdraw, code_schedule
from locks.sync.states import state_signal
from portal.aftercommit import after_commit

BACKUP_DAYS = 365


def backup_name(backup: BackupCode) -> str:
    return f"LK backup {backup.pk}"[:20]


def _digits_in_use(lock: Lock) -> set[str]:
    """Digits the lock holds or will hold at any time: a backup code must be free for good."""
    ours = AccessCode.objects.filter(lock=lock, wanted=True).values_list("code", flat=True)
    foreign = ObservedCode.objects.filter(lock=lock, access_code__isnull=True).values_list(
        "code", flat=True
    )
    return set(ours) | set(foreign)


def _new_digits(lock: Lock) -> str:
    """Prefer digits already in the pools of the property's other locks (so one backup code
    can open several doors of a stay), else draw fresh ones."""
    in_use = _digits_in_use(lock)
    if lock.property_id:
        siblings = (
            BackupCode.objects.filter(
                lock__property_id=lock.property_id, status=BackupCode.Status.AVAILABLE
            )
            .exclude(lock=lock)
            .order_by("pk")
            .values_list("code", flat=True)
        )
        for code in siblings:
            if code not in in_use:
                return code
    return draw_code(avoid=in_use)


@transaction.atomic
def pool_fill(*, lock: Lock, now: dt.datetime | None = None) -> list[BackupCode]:
    """Bring the lock's pool of available backup codes to its configured size."""
    now = now or timezone.now()
    lock = (
        Lock.objects.select_for_update(of=("self",), no_key=True)
        .select_related("organization")
        .get(pk=lock.pk)
    )
    available = list(
        BackupCode.objects.filter(lock=lock, status=BackupCode.Status.AVAILABLE).order_by("pk")
    )
    size = lock.backup_pool_size if Capability.CODES in lock.capabilities else 0
    for extra in available[size:]:  # the pool was made smaller
        pool_retire(backup=extra)
    created = []
    for _ in range(size - len(available)):
        backup = BackupCode.objects.create(
            organization_id=lock.organization_id, lock=lock, code=_new_digits(lock)
        )
        (ac,) = access_put(
            organization=lock.organization,
            holder=backup.holder,
            locks=[lock],
            code=backup.code,
            name=backup_name(backup),
            valid_from=now,
            valid_until=now + dt.timedelta(days=BACKUP_DAYS),
            now=now,
            new_holder=True,
        )
        backup.access_code = ac
        backup.save(update_fields=["access_code"])
        created.append(backup)
    return created


def pool_retire(*, backup: BackupCode) -> None:
    """Take an unused backup code off its lock for good."""
    BackupCode.objects.filter(pk=backup.pk).update(status=BackupCode.Status.RETIRED)
    access_withdraw(holder=backup.holder)


def pool_usable(*, lock: Lock) -> list[BackupCode]:
    """Available backup codes that the lock confirmed holding."""
    return [
        b
        for b in BackupCode.objects.filter(lock=lock, status=BackupCode.Status.AVAILABLE)
        .select_related("access_code")
        .order_by("pk")
        if b.access_code is not None
        and b.access_code.wanted
        and b.access_code.state == CodeState.SET
        and b.access_code.valid_until > timezone.now()
    ]


@transaction.atomic(savepoint=False)
def backup_take(
    *,
    unreachable: Iterable[Lock],
    locks: Iterable[Lock],
    holder: str,
    name: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    usable: Callable[[str], bool] = lambda code: True,
) -> str | None:
    """Give `holder` one backup code that is on every lock in `unreachable` (and take the same
    digits from the pools of its other `locks`, where they are). Returns the digits, or None
    when no pool can serve every unreachable lock."""
    unreachable, locks = list(unreachable), list(locks)
    pools = {
        lock.pk: {
            b.code: b
            for b in BackupCode.objects.select_for_update(of=("self",))
            .filter(lock=lock, status=BackupCode.Status.AVAILABLE)
            .select_related("access_code")
        }
        for lock in locks
    }
    confirmed = [{b.code for b in pool_usable(lock=lock)} for lock in unreachable]
    if not confirmed:
        return None
    for code in sorted(set.intersection(*confirmed)):
        if not usable(code):
            continue
        for lock in locks:
            backup = pools.get(lock.pk, {}).get(code)
            if backup is not None:
                _hand_over(backup, lock, holder, name, valid_from, valid_until)
        for lock in locks:
            after_commit(lambda lock=lock: pool_fill(lock=lock), what=f"pool_fill(lock {lock.pk})")
        return code
    return None


def _hand_over(backup, lock, holder, name, valid_from, valid_until) -> None:
    now = timezone.now()
    own = AccessCode.objects.select_for_update(no_key=True).filter(lock=lock, holder=holder).first()
    if own is not None and own.code == backup.code:
        # The same digits cannot be on the lock twice: the backup holds them, so the holder's
        # own row never reached the lock. Dropping it (and its commands) also keeps a later
        # removal from finding the backup by digits and name and taking it off.
        own.delete()
    elif own is not None:
        # The holder's own code never reached the lock: keep tracking it under another name
        # and take it off (a no-op unless it arrives after all).
        own.holder = f"{holder}~{own.pk}"[:64]
        own.save(update_fields=["holder"])
        access_withdraw(holder=own.holder, now=now)
    ac = AccessCode.objects.select_for_update(no_key=True).get(pk=backup.access_code_id)
    confirmed_from, confirmed_until = ac.valid_from, ac.valid_until  # `set`: the lock has it
    ac.holder, ac.name, ac.valid_from, ac.valid_until = holder, name[:20], valid_from, valid_until
    preload = dt.timedelta(hours=lock.organization.preload_hours)
    ac.push_after = min(now, valid_from - preload)  # it is on the lock: it stays there
    ac.wanted, ac.updated_at = True, now
    ac.save()
    code_schedule(ac, now)  # narrow the window on the lock as soon as it answers
    ac.save(update_fields=["state"])
    state_signal(ac)
    BackupCode.objects.filter(pk=backup.pk).update(
        status=BackupCode.Status.TAKEN,
        taken_by=holder,
        taken_at=now,
        confirmed_from=confirmed_from,
        confirmed_until=confirmed_until,
    )
    LockEvent.objects.create(
        organization_id=lock.organization_id,
        lock=lock,
        kind="backup_code_given",
        source="portal",
        message=f"Backup code given to “{name[:20]}”: the lock could not be reached in time",
        detail={"backup": backup.pk, "holder": holder},
    )


@receiver(backup_code_ended, dispatch_uid="latchkey-backup-expired")
def on_backup_code_ended(sender, access_code: AccessCode, **kwargs) -> None:
    """The planner found a backup code's window ended (locks.sync.desired.plan_due)."""
    backup_expired(access_code=access_code)


def backup_expired(*, access_code: AccessCode) -> None:
    """An unused backup code reached the end of its long window: retire it, draw a new one."""
    backup = BackupCode.objects.filter(access_code=access_code).select_related("lock").first()
    if backup is None or backup.status != BackupCode.Status.AVAILABLE:
        return
    BackupCode.objects.filter(pk=backup.pk).update(status=BackupCode.Status.RETIRED)
    after_commit(lambda: pool_fill(lock=backup.lock), what=f"pool_fill(lock {backup.lock_id})")
