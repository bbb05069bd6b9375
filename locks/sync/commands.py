"""The outbox's rows: LockCommand rows written with the change, dispatched after commit to their
driver's queue, claimed with a conditional update (so a command runs once even if its message is
delivered twice), retried with backoff, handed out in fair turns across organizations.

The engine's modules import these from here; `locks.sync.outbox` is the outbox's public face
(the same names, and the sweep, which needs the runner that needs these)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Exists, F, Q, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from locks.dispatch import task_send
from locks.integrations.registry import queue_for
from locks.models import AccessCode, CodeState, CommandKind, CommandStatus, Lock, LockCommand
from portal.aftercommit import after_commit

# The tasks that run commands (locks/tasks.py), sent by name: see locks/dispatch.py.
RUN_COMMAND = "locks.tasks.run_command"
RUN_COMMANDS = "locks.tasks.run_commands"


def dispatch(command_id: int, *, driver: str | None = None, countdown: float = 0) -> None:
    """Queue the task that runs a command, once the surrounding transaction commits.
    `driver`: its lock's driver kind, when the caller has the lock at hand (see dispatch_many)."""
    dispatch_many([command_id], driver=driver, countdown=countdown)


def dispatch_many(
    command_ids: list[int], *, driver: str | None = None, countdown: float = 0
) -> None:
    """Queue several commands after commit as ONE broker message: publishing a message costs
    more CPU than the rest of a booking's database work, on the web side and the worker's.

    Each command goes to its lock's driver's queue (`locks.integrations.registry.queue_for`),
    so a bridge that never answers holds only the bridge queue's workers. `driver` is the kind
    of every command's lock when the caller knows it; without it the locks are looked up when
    the message goes out (one query), and commands of different queues get one message each."""
    if not command_ids:
        return
    ids, delay = list(command_ids), max(0.0, countdown)

    def _send() -> None:
        for queue, group in _by_queue(ids, driver=driver).items():
            if len(group) == 1:
                task_send(RUN_COMMAND, group[0], countdown=delay, queue=queue)
            else:
                task_send(RUN_COMMANDS, group, countdown=delay, queue=queue)

    # Robust: with the broker down the commands stay pending and sweep() sends them later.
    after_commit(_send, what=f"run_commands({ids})")


def _by_queue(ids: list[int], *, driver: str | None) -> dict[str, list[int]]:
    """The commands grouped by the queue of their lock's driver, in their order."""
    if driver is not None:
        return {queue_for(driver): ids}
    drivers = dict(LockCommand.objects.filter(pk__in=ids).values_list("pk", "lock__driver"))
    groups: dict[str, list[int]] = {}
    for pk in ids:
        if pk in drivers:  # a command deleted since has nothing to run
            groups.setdefault(queue_for(drivers[pk]), []).append(pk)
    return groups


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
        dispatch(pending.pk, driver=lock.driver)
        return pending
    command = LockCommand.objects.create(
        organization_id=lock.organization_id, lock=lock, kind=kind, access_code=access_code
    )
    dispatch(command.pk, driver=lock.driver)
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
    LockCommand.objects.bulk_create(commands)
    commands_dispatch_fresh(
        access_codes=access_codes, command_ids={c.access_code_id: c.pk for c in commands}
    )
    return commands + [
        command_enqueue_sync(access_code=ac) for ac in access_codes if ac.pk not in fresh
    ]


def commands_dispatch_fresh(*, access_codes: list, command_ids: dict[int, int]) -> None:
    """Dispatch just-written commands ({code id: command id}) after commit: one message per
    driver of their locks, in the codes' order."""
    by_driver: dict[str, list[int]] = {}
    for ac in access_codes:
        if ac.pk in command_ids:
            by_driver.setdefault(ac.lock.driver, []).append(command_ids[ac.pk])
    for driver, ids in by_driver.items():
        dispatch_many(ids, driver=driver)


def command_enqueue_sync(*, access_code) -> LockCommand:
    return command_enqueue(
        lock=access_code.lock, kind=CommandKind.SYNC_CODE, access_code=access_code
    )


def command_claim(*, command_id: int, now: dt.datetime | None = None) -> LockCommand | None:
    """Claim a due pending command, one running command per lock at a time, and at most
    LATCHKEY_ORG_RUNNING_COMMANDS running per organization, so one organization's backlog
    cannot take every worker while another organization's first command waits.

    Claims of one lock take turns (`_claim_turn`), so two workers cannot both see the lock
    idle and both start. Returns None when the command is not due, already taken, its lock is
    busy or its organization is at its cap (then the next command to end in that organization
    dispatches it: `dispatch_next_for_org`).
    """
    now = now or timezone.now()
    lease = dt.timedelta(seconds=settings.LATCHKEY_COMMAND_LEASE_SECONDS)
    cap = settings.LATCHKEY_ORG_RUNNING_COMMANDS
    with transaction.atomic():
        row = (
            LockCommand.objects.filter(pk=command_id, status=CommandStatus.PENDING)
            .values_list("lock_id", "organization_id")
            .first()
        )
        if row is None:
            return None
        lock_id, organization_id = row
        if not _claim_turn(lock_id=lock_id):
            return None
        if cap and _org_at_cap(organization_id=organization_id, cap=cap, now=now):
            return None
        # It is this lock's claim turn, so "no other command of this lock is running" cannot
        # change before the update: the check rides along in the same statement.
        busy = LockCommand.objects.filter(
            Q(status=CommandStatus.RUNNING, lease_until__gt=now) | Q(status=CommandStatus.WAITING),
            lock_id=lock_id,
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


# Namespace of the transaction-scoped advisory lock that serialises one organization's claims
# (the second key is the organization's id), so two workers cannot both see it under its cap.
_ORG_CLAIM_LOCK = 0x4C4B  # "LK"


def _claim_turn(*, lock_id: int) -> bool:
    """Take this lock's claim turn until the transaction ends; False if the lock is gone.

    The lock row, `FOR NO KEY UPDATE`: it waits for a planner that is changing the lock's
    codes (it holds the same lock on the row until it commits), so the claimed command reads
    the code as the planner left it; and it serialises the claims. Not `FOR UPDATE`, as
    before: that also stopped every transaction inserting a row that points at the lock (a
    code, a command, an event: PostgreSQL checks the foreign key at commit with
    `FOR KEY SHARE`), and under load a claim held by a descheduled worker made those commits
    queue (bench/noisy_neighbour.py). An advisory lock, tried too, serialised only the claims:
    a claim then ran beside a planner's uncommitted edit with the code as it was, and the edit
    waited for no command (bookings/tests/test_pms_integration.py caught it)."""
    row = Lock.objects.select_for_update(of=("self",), no_key=True).filter(pk=lock_id)
    return bool(list(row.values_list("pk", flat=True)))


def _capped_key(organization_id: int) -> str:
    return f"latchkey:commands:capped:{organization_id}"


def _org_at_cap(*, organization_id: int, cap: int, now: dt.datetime) -> bool:
    """True when the organization already runs `cap` commands (live leases only). Call inside
    the claiming transaction: the advisory lock holds until it ends. SQLite (`make run`'s
    default) has no advisory locks; it runs one writing transaction at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_ORG_CLAIM_LOCK, organization_id]
            )
    running = LockCommand.objects.filter(
        organization_id=organization_id, status=CommandStatus.RUNNING, lease_until__gt=now
    )[:cap].count()
    if running < cap:
        return False
    # Remember that a command was turned away: the next one to end here sends the next.
    mark_capped(organization_id)
    return True


def mark_capped(organization_id: int) -> None:
    cache.set(_capped_key(organization_id), 1, timeout=settings.LATCHKEY_COMMAND_LEASE_SECONDS)


def dispatch_next_for_org(*, organization_id: int) -> None:
    """After a command ends, send the organization's oldest due command on an idle lock, if
    one was turned away at the organization's cap (otherwise every pending command already
    has its message). Call it inside the transaction that ends the command."""
    if not settings.LATCHKEY_ORG_RUNNING_COMMANDS:
        return
    with contextlib.suppress(Exception):  # the cache is an optimisation: without it, look
        if not cache.get(_capped_key(organization_id)):
            return
    now = timezone.now()
    # The organization's busy locks as one (hashed) list, not a check per pending command:
    # with a backlog behind silent agents the correlated form took ~90 ms per ended command
    # and kept PostgreSQL busy for everyone (bench/noisy_neighbour.py); this takes ~4 ms.
    busy_locks = LockCommand.objects.filter(
        Q(status=CommandStatus.RUNNING, lease_until__gt=now) | Q(status=CommandStatus.WAITING),
        organization_id=organization_id,
    ).values("lock_id")
    next_id = (
        LockCommand.objects.filter(
            organization_id=organization_id,
            status=CommandStatus.PENDING,
            next_attempt_at__lte=now,
        )
        .exclude(lock_id__in=busy_locks)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", "lock__driver")
        .first()
    )
    with contextlib.suppress(Exception):
        if next_id is None:
            cache.delete(_capped_key(organization_id))
        else:  # still a backlog: keep the chain going past the flag's expiry
            mark_capped(organization_id)
    if next_id is not None:
        dispatch(next_id[0], driver=next_id[1])


def fair_due(*, due, limit: int, per_org: int | None = None) -> list[tuple[int, int]]:
    """(id, organization id) of the pending commands in `due` (a queryset), in turns across
    organizations: every organization's oldest first, then every organization's second, ...
    so one organization's thousands of commands never push another's first one out of a round.
    `per_org` caps how many one organization gets in the round."""
    turn = Window(
        expression=RowNumber(),
        partition_by=[F("organization_id")],
        order_by=[F("next_attempt_at").asc(), F("pk").asc()],
    )
    ranked = due.annotate(turn=turn)
    if per_org:
        ranked = ranked.filter(turn__lte=per_org)  # Django 4.2+: filtering on a window
    return list(
        ranked.order_by("turn", "next_attempt_at", "pk").values_list("pk", "organization_id")[
            :limit
        ]
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
        .values_list("pk", "lock__driver")
        .first()
    )
    if next_id is not None:
        dispatch(next_id[0], driver=next_id[1])


@transaction.atomic
def command_retry(*, command: LockCommand) -> LockCommand:
    """Give a failed command a fresh set of attempts (the manager's "retry")."""
    if command.status != CommandStatus.FAILED:
        return command
    LockCommand.objects.filter(pk=command.pk, status=CommandStatus.FAILED).update(
        status=CommandStatus.PENDING, attempts=0, next_attempt_at=timezone.now(), finished_at=None
    )
    if command.access_code_id:
        ac = AccessCode.objects.select_for_update(no_key=True).get(pk=command.access_code_id)
        ac.state = CodeState.SETTING if ac.wanted else CodeState.REMOVING
        ac.save(update_fields=["state"])
    dispatch(command.pk)
    command.refresh_from_db()
    return command
