"""When each lock's codes are read back (reconcile), spread over the period instead of every
lock at once: at 10,000 locks one burst per period meant 10,000 commands in one transaction
and a cloud rate limit blown in a minute.

Each lock has its own due time (`Lock.reconcile_due_at`), at a fixed phase of the period
derived from its id (a golden-ratio hash, so consecutive ids land evenly apart). Beat ticks
every LATCHKEY_RECONCILE_TICK_SECONDS; a tick takes at most ceil(fleet / N) due locks, N being
the ticks in a period, so the work per tick stays bounded at any fleet size, and every lock is
still read once per period. A lock due `None` (new, or one that reported drift) goes first.

A read-back rides on the lock's own RECONCILE command row, re-armed each round once the last
one finished, so reconcile adds no command rows round after round (the outbox keeps doing what
it does for it: one command per lock at a time, lease, retries with backoff, fair claims)."""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from locks.integrations.base import Capability
from locks.integrations.registry import available_kinds, driver_class
from locks.models import AgentJob, CommandKind, CommandStatus, Lock, LockCommand
from locks.sync.commands import dispatch_many

GOLDEN = (math.sqrt(5) - 1) / 2  # 0.618...: the fractions k * GOLDEN spread evenly in [0, 1)
EPOCH = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # phases count from here


def reconcile_period() -> float:
    return max(1.0, float(settings.LATCHKEY_RECONCILE_SECONDS))


def reconcile_tick_seconds() -> float:
    """Never longer than the period: a period shorter than a tick (tests) is one tick."""
    return max(1.0, min(float(settings.LATCHKEY_RECONCILE_TICK_SECONDS), reconcile_period()))


def reconcile_phase(lock_id: int, *, period: float) -> float:
    """Seconds into the period at which this lock is due, the same every period."""
    return (lock_id * GOLDEN) % 1.0 * period


def reconcile_next_due(lock_id: int, *, after: dt.datetime, period: float) -> dt.datetime:
    """The lock's first due time strictly after `after`, at its own phase (in whole
    microseconds, so that the due time found again from itself is the next one, not itself)."""
    unit = dt.timedelta(microseconds=1)
    phase = round(reconcile_phase(lock_id, period=period) * 1_000_000)
    step = max(1, round(period * 1_000_000))
    elapsed = (after - EPOCH) // unit - phase
    return EPOCH + (phase + (elapsed // step + 1) * step) * unit


def reconcile_kinds() -> list[str]:
    """The driver kinds whose locks can list their codes (only those are read back)."""
    return [k for k in available_kinds() if Capability.CODES in driver_class(k).capabilities]


def reconcile_share(*, fleet: int, period: float, tick: float) -> int:
    """The most locks one tick may take: the fleet over the ticks in a period, rounded up."""
    ticks = max(1, math.floor(period / tick))
    return math.ceil(fleet / ticks) if fleet else 0


def reconcile_soon(*, lock_id: int) -> None:
    """Read this lock back at the next tick, before the locks merely due: it reported drift
    or changed (a code taken on it by someone else, back after being unreachable)."""
    Lock.objects.filter(pk=lock_id).exclude(reconcile_due_at=None).update(reconcile_due_at=None)


def reconcile_due_at_retry(*, lock_id: int, when: dt.datetime) -> None:
    """A read-back failed for now (the lock, the bridge or the cloud will answer later, maybe
    at a time it said): the lock stays due at that time instead of its next round."""
    Lock.objects.filter(pk=lock_id).update(reconcile_due_at=when)


@transaction.atomic(savepoint=False)
def reconcile_now(*, locks: list[Lock]) -> int:
    """Read these locks back now, outside their rounds (a webhook that disagrees with what we
    believe, a reconnected account), on each lock's own command row like a tick does."""
    taken = {lock.pk: (lock.driver, lock.organization_id) for lock in locks}
    return _read_backs_queue(taken, now=timezone.now(), after_running=True)[0]


def reconcile_tick(*, now: dt.datetime | None = None) -> dict[str, int]:
    """One tick: queue the read-back of at most `reconcile_share` due locks, first those due
    `None`, then the longest due, and move each to its next round. Returns counts for logs
    and the benchmark."""
    now = now or timezone.now()
    period, tick = reconcile_period(), reconcile_tick_seconds()
    kinds = reconcile_kinds()
    locks = Lock.objects.filter(driver__in=kinds)
    share = reconcile_share(fleet=locks.count(), period=period, tick=tick)
    if not share:
        return {"share": 0, "taken": 0, "queued": 0, "created": 0}
    with transaction.atomic():
        first = list(
            locks.select_for_update(skip_locked=True)
            .filter(reconcile_due_at=None)
            .order_by("pk")
            .values_list("pk", "driver", "organization_id")[:share]
        )
        due = list(
            locks.select_for_update(skip_locked=True)
            .filter(reconcile_due_at__lte=now)
            .order_by("reconcile_due_at", "pk")
            .values_list("pk", "driver", "organization_id")[: share - len(first)]
        )
        taken = {pk: (driver, org) for pk, driver, org in first + due}
        queued, created = _read_backs_queue(taken, now=now)
        Lock.objects.bulk_update(
            [
                Lock(pk=pk, reconcile_due_at=reconcile_next_due(pk, after=now, period=period))
                for pk in taken
            ],
            ["reconcile_due_at"],
        )
    return {"share": share, "taken": len(taken), "queued": queued, "created": created}


def _read_backs_queue(
    taken: dict[int, tuple[str, int]], *, now: dt.datetime, after_running: bool = False
) -> tuple[int, int]:
    """Queue a RECONCILE command for each lock in `taken` (id -> (driver, organization id)):
    its pending one is sent again, its last finished one re-armed, a lock without one gets its
    first. A lock whose read-back is running or waiting is left alone by a tick (its round is
    being read); with `after_running` (something changed since that read began) it gets a
    second row, run after the first. Returns (queued, created). Five statements whatever the
    number of locks."""
    if not taken:
        return 0, 0
    last = dict(
        LockCommand.objects.filter(lock_id__in=list(taken), kind=CommandKind.RECONCILE)
        .values("lock_id")
        .annotate(last=Max("pk"))
        .values_list("lock_id", "last")
    )
    status = dict(LockCommand.objects.filter(pk__in=last.values()).values_list("pk", "status"))
    send: dict[str, list[int]] = {}
    rearm: list[int] = []
    fresh: list[LockCommand] = []
    for lock_id, (driver, organization_id) in taken.items():
        pk = last.get(lock_id)
        if pk is None:
            fresh.append(
                LockCommand(
                    organization_id=organization_id, lock_id=lock_id, kind=CommandKind.RECONCILE
                )
            )
        elif status[pk] in (CommandStatus.SUCCEEDED, CommandStatus.FAILED):
            rearm.append(pk)
            send.setdefault(driver, []).append(pk)
        elif status[pk] == CommandStatus.PENDING:
            send.setdefault(driver, []).append(pk)
        elif after_running:  # running or waiting, and what it reads may be older
            fresh.append(
                LockCommand(
                    organization_id=organization_id, lock_id=lock_id, kind=CommandKind.RECONCILE
                )
            )
    if rearm:
        LockCommand.objects.filter(
            pk__in=rearm, status__in=(CommandStatus.SUCCEEDED, CommandStatus.FAILED)
        ).update(
            status=CommandStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            claimed_at=None,
            lease_until=None,
            finished_at=None,
            error="",
            reason="",
            fix="",
            created_at=now,
            prune_kept=False,  # a new round: the routine prune looks at it afresh
        )
        # An agent's answers belong to the run that asked (its journal is per attempt); the
        # re-armed row starts a new run, so its old jobs keep their record, unlinked.
        AgentJob.objects.filter(command_id__in=rearm).update(command=None)
    if fresh:
        LockCommand.objects.bulk_create(fresh)
        for command in fresh:
            send.setdefault(taken[command.lock_id][0], []).append(command.pk)
    for driver, ids in send.items():
        dispatch_many(ids, driver=driver)  # a re-armed row someone else took is not claimed
    return sum(len(ids) for ids in send.values()), len(fresh)
