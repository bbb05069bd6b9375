"""The outbox: LockCommand rows written with the change, dispatched after commit, claimed with
a conditional update (so a command runs once even if its message is delivered twice), and swept
when a message or a worker was lost.

The rows' own functions live in `locks.sync.commands` (the engine's modules use them from
there) and are offered here under the same names; the sweep lives here because it resumes
waiting commands through the runner, which itself builds on those functions."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter

from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from locks.models import CommandStatus, LockCommand
from locks.sync.commands import (
    backoff_seconds,
    command_claim,
    command_enqueue,
    command_enqueue_sync,
    command_retry,
    commands_enqueue_sync,
    dispatch,
    dispatch_many,
    dispatch_next_for_lock,
    dispatch_next_for_org,
    fair_due,
    mark_capped,
)
from locks.sync.runner import command_wait_expire

__all__ = [
    "backoff_seconds",
    "command_claim",
    "command_enqueue",
    "command_enqueue_sync",
    "command_retry",
    "commands_enqueue_sync",
    "dispatch",
    "dispatch_many",
    "dispatch_next_for_lock",
    "dispatch_next_for_org",
    "fair_due",
    "sweep",
]


def sweep_due(*, now: dt.datetime, grace: dt.timedelta):
    """The pending commands the sweep may send now: due (some time ago), on a lock with no
    command running or waiting for its device, and the oldest such command of its lock.

    Why both: a claim can start only one command per lock. Without the two rules an
    organization's oldest commands, queued behind a lock whose on-site agent is silent (its
    command waits out the deadline), filled the organization's share of every sweep round,
    were refused by the claim, and were sent again the next round: the organization's
    commands on answering locks never got a turn (bench/noisy_neighbour.py)."""
    occupied = LockCommand.objects.filter(
        Q(status=CommandStatus.RUNNING, lease_until__gt=now) | Q(status=CommandStatus.WAITING)
    ).values("lock_id")
    due = LockCommand.objects.filter(
        Q(next_attempt_at__lte=now - grace) | Q(next_attempt_at=now),
        status=CommandStatus.PENDING,
    ).exclude(lock_id__in=occupied)
    # Each lock's oldest: one grouped pass, not a lookup per pending command.
    first_of_lock = due.order_by().values("lock_id").annotate(first=Min("pk")).values("first")
    return due.filter(pk__in=first_of_lock)


def sweep(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Recover from lost messages and dead workers.

    - running commands whose lease ran out (the worker died) go back to pending;
    - waiting commands whose device (an on-site agent) did not answer by the deadline are
      retried with backoff, or failed in plain words once out of attempts;
    - pending commands that are due (some time ago) get a fresh message. A duplicate message
      is harmless: only one claim can succeed. They are sent in turns across organizations
      (`fair_due`), at most as many per organization as it may run at once: the rest follow
      as its commands end (`dispatch_next_for_org`) or in the next sweep.
    """
    now = now or timezone.now()
    grace = dt.timedelta(seconds=max(1.0, settings.LATCHKEY_SWEEP_SECONDS / 2))
    with transaction.atomic():
        revived = LockCommand.objects.filter(
            status=CommandStatus.RUNNING, lease_until__lt=now
        ).update(status=CommandStatus.PENDING, next_attempt_at=now, lease_until=None)
        due = sweep_due(now=now, grace=grace)
        per_org = settings.LATCHKEY_ORG_RUNNING_COMMANDS or None
        rows = fair_due(due=due, limit=1000, per_org=per_org)
        sent = Counter(organization_id for _, organization_id in rows)
        with contextlib.suppress(Exception):  # an organization with more left: chain the rest
            for organization_id, count in sent.items():
                if count == per_org:
                    mark_capped(organization_id)
        drivers = dict(
            LockCommand.objects.filter(pk__in=[pk for pk, _ in rows]).values_list(
                "pk", "lock__driver"
            )
        )
        for pk, _ in rows:
            dispatch(pk, driver=drivers.get(pk))  # sent after commit, to its driver's queue
    expired = 0
    overdue = LockCommand.objects.filter(status=CommandStatus.WAITING, lease_until__lt=now)
    for pk in overdue.order_by("lease_until").values_list("pk", flat=True)[:500]:
        expired += command_wait_expire(command_id=pk, now=now) != "not-expired"
    return {"revived": revived, "redispatched": len(rows), "expired": expired}
