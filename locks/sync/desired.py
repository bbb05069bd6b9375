"""What each lock should hold. Other apps call `access_put` / `access_withdraw`; the planner
moves codes onto locks when they enter the preload horizon and off them after they end."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from locks.models import AccessCode, CodeState, CommandKind, Lock, LockCommand
from locks.signals import access_code_ended, backup_code_ended
from locks.sync import fastsql
from locks.sync.commands import (
    command_enqueue_sync,
    commands_dispatch_fresh,
    commands_enqueue_sync,
)
from locks.sync.reserved import reserved_callbacks
from locks.sync.states import state_signal
from portal.models import Organization


def is_due(ac: AccessCode, now: dt.datetime) -> bool:
    """Should the code be on the lock right now (wanted, inside the horizon, not ended)?"""
    return ac.wanted and ac.push_after <= now < ac.valid_until


def property_locks_locked(*, property_id: int, shared: bool = False) -> list[Lock]:
    """The property's locks in id order, row-locked (FOR NO KEY UPDATE) until the transaction
    ends, so that two holders cannot draw the same free code on them at once (`codes_taken`).

    `shared` (FOR SHARE): for holders that also claim each candidate code (`codes_taken`
    with `claim=True`). Such holders, new stays above all, then wait for each other only when
    they drew the same code, not for every other stay of the property; they still wait for an
    exclusive holder (standing access, backup codes), and it for them. A shared holder must not
    ask for the exclusive lock later in its transaction: two of them would deadlock.
    Hand-built, like `codes_taken`: see locks/sync/fastsql.py."""
    return fastsql.lock_rows_locked(property_id=property_id, shared=shared)


def codes_taken(
    *,
    lock_ids: Iterable[int],
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    candidates: Iterable[str],
    exclude_holder: str | None = None,
    claim: bool = False,
) -> set[str]:
    """Which of `candidates` may not be used on these locks in this window: ours whose window
    overlaps, every code found on the locks that we did not create (their windows are not
    trusted), and those other apps hold back for good (`locks.sync.reserved`, e.g. bookings'
    standing access). One query (a union), answering at most len(candidates) rows however
    many codes the locks hold. Hand-built: it runs for every booking (locks/sync/fastsql.py).

    `claim`: first wait for, and hold until commit, each candidate on these locks, so that a
    holder with a shared lock (`property_locks_locked(shared=True)`) sees every code another
    such holder gave at the same time."""
    lock_ids, candidates = list(lock_ids), list(candidates)
    if not lock_ids or not candidates:
        return set()
    if claim:
        fastsql.codes_claim(lock_ids=lock_ids, candidates=candidates)
    return fastsql.codes_taken(
        lock_ids=lock_ids,
        valid_from=valid_from,
        valid_until=valid_until,
        candidates=candidates,
        exclude_holder=exclude_holder,
        reserved=reserved_callbacks(),
    )


def _next_state(ac: AccessCode, now: dt.datetime) -> str:
    """The state a change leads to; `setting` and `removing` need a command."""
    if is_due(ac, now):
        return CodeState.SETTING
    if ac.remote_id or ac.state in (CodeState.SETTING, CodeState.SET, CodeState.REMOVING):
        return CodeState.REMOVING  # it is (or may be) on the lock but should not be now
    return CodeState.PLANNED if ac.wanted else CodeState.REMOVED


def code_schedule(ac: AccessCode, now: dt.datetime) -> None:
    """Set the state the change leads to and queue a command when the lock must act now
    (the caller saves `ac`)."""
    ac.state = _next_state(ac, now)
    if ac.state in (CodeState.SETTING, CodeState.REMOVING):
        command_enqueue_sync(access_code=ac)


def access_put(
    *,
    organization: Organization,
    holder: str,
    locks: Iterable[Lock],
    code: str,
    name: str,
    valid_from: dt.datetime,
    valid_until: dt.datetime,
    now: dt.datetime | None = None,
    new_holder: bool = False,
    weekdays: int = 127,
    from_minute: int = 0,
    until_minute: int = 0,
    kind: str = "keypad",
    account_email: str = "",
    only_these: bool = True,
) -> list[AccessCode]:
    """Make `holder` hold `code` on exactly these locks in this window.

    Idempotent: putting the same thing twice changes nothing and queues nothing.
    `new_holder=True` (a holder that cannot have codes yet) skips the reads, so a new booking
    costs two inserts (codes, commands) whatever its number of locks.

    Optional recurring limits inside the window (e.g. a cleaner on weekdays 10:00-14:00):
    `weekdays` is Nuki's bitmask (Monday = 64 ... Sunday = 1, 127 = every day) and
    `from_minute` / `until_minute` are minutes after midnight in the property's local time
    (0 / 0 = the whole day). `kind="app"` asks for access in the holder's own Nuki app for
    the Nuki account `account_email` (then `code` is ""; give such a holder its own name,
    e.g. "grant:42/app", as a holder has one entry per lock).
    `only_these=False` leaves the holder's codes on other locks alone (a holder whose locks
    need different shapes puts each group in turn).
    """
    if not (0 <= weekdays <= 127 and 0 <= from_minute < 1440 and 0 <= until_minute < 1440):
        raise ValueError("weekdays must be 0-127 and times 0-1439 minutes")
    if kind == "app" and not account_email:
        raise ValueError("app access needs the holder's Nuki account email")
    account_email = account_email.strip().lower() if kind == "app" else ""
    now = now or timezone.now()
    push_after = valid_from - dt.timedelta(hours=organization.preload_hours)
    locks = list(locks)
    limits = (weekdays, from_minute, until_minute, kind, account_email)
    with transaction.atomic(savepoint=False):
        existing = (
            {}
            if new_holder
            else {
                ac.lock_id: ac
                for ac in AccessCode.objects.select_for_update(no_key=True).filter(
                    holder=holder, lock__in=locks
                )
            }
        )
        result, created, changed = [], [], []
        for lock in locks:
            ac = existing.get(lock.pk)
            desired = (code, name[:20], valid_from, valid_until, push_after, True, *limits)
            if ac is not None and _desired_of(ac) == desired and ac.state != CodeState.REMOVED:
                result.append(ac)
                continue
            if ac is None:
                ac = AccessCode(organization=organization, lock=lock, holder=holder)
                created.append(ac)
            else:
                changed.append(ac)
            ac.code, ac.name, ac.valid_from, ac.valid_until, ac.push_after, ac.wanted = desired[:6]
            ac.weekdays, ac.from_minute, ac.until_minute, ac.kind, ac.account_email = limits
            ac.updated_at = now
            ac.last_error = ""
            ac.state = _next_state(ac, now)
            result.append(ac)
        if new_holder and connection.vendor == "postgresql":
            # Codes and their commands in one statement: a new stay's hottest step.
            command = LockCommand(kind=CommandKind.SYNC_CODE)
            command_ids = fastsql.codes_insert_with_commands(
                created, command=command, wants_command=CodeState.SETTING
            )
            commands_dispatch_fresh(access_codes=created, command_ids=command_ids)
        else:
            AccessCode.objects.bulk_create(created)
            for ac in changed:
                ac.save()
            due = [
                ac
                for ac in created + changed
                if ac.state in (CodeState.SETTING, CodeState.REMOVING)
            ]
            commands_enqueue_sync(access_codes=due, fresh={ac.pk for ac in created})
        for ac in created + changed:
            state_signal(ac)
        if not new_holder and only_these:
            gone = AccessCode.objects.filter(holder=holder).exclude(lock__in=locks)
            access_withdraw(holder=holder, queryset=gone, now=now)
    return result


def _desired_of(ac: AccessCode) -> tuple:
    return (
        ac.code, ac.name, ac.valid_from, ac.valid_until, ac.push_after, ac.wanted,
        ac.weekdays, ac.from_minute, ac.until_minute, ac.kind, ac.account_email,
    )  # fmt: skip


@transaction.atomic(savepoint=False)
def access_withdraw(
    *, holder: str, queryset=None, now: dt.datetime | None = None
) -> list[AccessCode]:
    """Take the holder's codes off their locks (all of them, or those in `queryset`)."""
    now = now or timezone.now()
    qs = queryset if queryset is not None else AccessCode.objects.filter(holder=holder)
    changed = []
    for ac in qs.select_for_update(no_key=True).filter(wanted=True).select_related("lock"):
        ac.wanted = False
        ac.updated_at = now
        code_schedule(ac, now)
        ac.save()
        state_signal(ac)
        changed.append(ac)
    return changed


def plan_due(
    *, now: dt.datetime | None = None, batch: int = 500, max_batches: int = 100
) -> dict[str, int]:
    """Push codes that entered the preload horizon; withdraw codes whose window ended.

    In batches of `batch`, each its own transaction (a long run holds no row lock for long
    and what is done stays done). Each batch scans only what is due: the codes are taken in
    the order of an index that begins with what the filter asks ((state, push_after) for
    pushes, (wanted, valid_until) for ends), so the scan stops after the batch however many
    codes the history holds. `max_batches` bounds one run; the next run goes on."""
    now = now or timezone.now()
    pushed = removed = 0
    for _ in range(max_batches):
        count, more = _push_batch(now=now, batch=batch)
        pushed += count
        if not more:
            break
    for _ in range(max_batches):
        count, more = _end_batch(now=now, batch=batch)
        removed += count
        if not more:
            break
    return {"pushed": pushed, "removed": removed}


def _push_batch(*, now: dt.datetime, batch: int) -> tuple[int, bool]:
    """One batch of codes entering the horizon: (how many were pushed, maybe more)."""
    with transaction.atomic():
        ids = list(
            AccessCode.objects.select_for_update(skip_locked=True)
            .filter(state=CodeState.PLANNED, push_after__lte=now, wanted=True, valid_until__gt=now)
            .order_by("state", "push_after")
            .values_list("pk", flat=True)[:batch]
        )
        codes = AccessCode.objects.filter(pk__in=ids).select_related("lock").order_by("pk")
        for ac in codes:
            code_schedule(ac, now)
            ac.save(update_fields=["state"])
            state_signal(ac)
    return len(ids), len(ids) == batch


def _end_batch(*, now: dt.datetime, batch: int) -> tuple[int, bool]:
    """One batch of codes whose window ended: (how many were withdrawn, maybe more). A code
    its holder renews (a recurring window moved on) is no longer ended afterwards."""
    removed = 0
    with transaction.atomic():
        ids = list(
            AccessCode.objects.select_for_update(skip_locked=True)
            .filter(wanted=True, valid_until__lte=now)
            .exclude(state=CodeState.REMOVED)
            .order_by("wanted", "valid_until")
            .values_list("pk", flat=True)[:batch]
        )
        for ac in AccessCode.objects.filter(pk__in=ids).select_related("lock").order_by("pk"):
            if _renewed(ac, now):
                continue
            ac.wanted = False
            code_schedule(ac, now)
            ac.save(update_fields=["wanted", "state"])
            state_signal(ac)
            removed += 1
    return removed, len(ids) == batch


def _renewed(ac: AccessCode, now: dt.datetime) -> bool:
    """Let the holder move a recurring code's window on before it leaves the lock."""
    if ac.holder.startswith("backup:"):  # locks.backup retires it and draws a new one
        backup_code_ended.send(sender=AccessCode, access_code=ac)
        return False
    access_code_ended.send(sender=AccessCode, access_code=ac)
    ac.refresh_from_db()
    return ac.wanted and ac.valid_until > now
