"""Run one LockCommand against its lock's driver and record what happened.

The driver is called outside any database transaction: the lock acts on its own, and the
portal's bookkeeping follows. A worker that dies in between leaves a `running` command whose
lease runs out; the sweep puts it back and the rerun finds the code already on the lock
(`find_code`) instead of adding it twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import random

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from locks.integrations.base import (
    AccessKind,
    AwaitingDevice,
    Capability,
    CodeConflict,
    CodeSpec,
    DriverError,
    LockFull,
    NotFoundOnLock,
    command_context,
)
from locks.integrations.registry import driver_for
from locks.models import (
    AccessCode,
    CodeState,
    CommandKind,
    CommandStatus,
    Lock,
    LockCommand,
    LockEvent,
    ObservedCode,
)
from locks.observed import lock_status_record
from locks.signals import access_code_conflict, access_code_state_changed, command_failed
from locks.sync.advice import gave_up_fix
from locks.sync.commands import (
    backoff_seconds,
    command_claim,
    command_retry,
    dispatch,
    dispatch_next_for_lock,
    dispatch_next_for_org,
)
from locks.sync.desired import is_due
from locks.sync.reachability import lock_back_online, lock_unreachable
from locks.sync.reconcile import foreign_code_remove, reconcile_lock
from locks.sync.schedule import reconcile_due_at_retry, reconcile_soon
from locks.sync.states import state_signal
from portal.aftercommit import after_commit
from portal.services import alert_raise, alert_resolve

__all__ = ["command_retry", "command_run", "command_wait_expire"]  # command_retry: see commands

logger = logging.getLogger(__name__)

ACTION_MAX_ATTEMPTS = 3


def command_run(*, command_id: int) -> str:
    """Claim and run a command. Returns what happened, for logs and tests."""
    command = command_claim(command_id=command_id)
    if command is None:
        return "not-claimed"
    try:
        with command_context(command):
            _run(command)
    except AwaitingDevice as waiting:
        return _park(command, waiting)
    except CodeConflict as exc:
        outcome = _conflict(command, exc)
    except DriverError as exc:
        outcome = _retry_or_fail(command, exc)
    except Exception as exc:
        logger.exception("command %s crashed", command.pk)
        outcome = _retry_or_fail(
            command,
            DriverError(
                "An unexpected error stopped this change.",
                fix="The portal retries it; if this stays, contact support.",
                detail=f"{exc.__class__.__name__}: {exc}",
            ),
            reached=True,  # our own bug says nothing about whether the lock can be reached
        )
    else:
        return _succeed(command)  # ends the command and starts the next in one transaction
    with transaction.atomic():
        dispatch_next_for_lock(lock_id=command.lock_id)
        dispatch_next_for_org(organization_id=command.organization_id)
    return outcome


def _run(command: LockCommand) -> None:
    if command.kind == CommandKind.SYNC_CODE:
        _sync_code(command)
    elif command.kind == CommandKind.LOCK_ACTION:
        _lock_action(command)
    elif command.kind == CommandKind.RECONCILE:
        reconcile_lock(command=command)
    elif command.kind == CommandKind.REMOVE_FOREIGN:
        foreign_code_remove(command=command)
    else:  # pragma: no cover - guarded by choices
        raise DriverError(f"Unknown command kind {command.kind}.", permanent=True)


def _park(command: LockCommand, waiting: AwaitingDevice) -> str:
    """The lock's device (an on-site agent) has the work and answers in its own time: the
    command waits without a worker, keeping its lock busy, until the answer resumes it or the
    sweep finds its deadline passed (`command_wait_expire`). Another command of the
    organization may run meanwhile."""
    with transaction.atomic():
        driver_for(command.lock).park(
            command, claimed_at=command.claimed_at, deadline=waiting.deadline
        )
        dispatch_next_for_org(organization_id=command.organization_id)
    return "waiting"


def command_wait_expire(*, command_id: int, now: dt.datetime | None = None) -> str:
    """A waiting command whose device did not answer by the deadline: retried with backoff
    while attempts remain, else failed in the driver's plain words (for an agent: when it was
    last heard from), with the alert any failed code raises. Called by the sweep."""
    now = now or timezone.now()
    taken = LockCommand.objects.filter(
        pk=command_id, status=CommandStatus.WAITING, lease_until__lt=now
    ).update(
        status=CommandStatus.RUNNING,
        claimed_at=now,
        lease_until=now + dt.timedelta(seconds=settings.LATCHKEY_COMMAND_LEASE_SECONDS),
    )
    if not taken:
        return "not-expired"
    command = LockCommand.objects.select_related("lock", "lock__organization").get(pk=command_id)
    outcome = _retry_or_fail(command, driver_for(command.lock).wait_expired(command))
    with transaction.atomic():
        dispatch_next_for_lock(lock_id=command.lock_id)
        dispatch_next_for_org(organization_id=command.organization_id)
    return outcome


def _lock_action(command: LockCommand) -> None:
    """A remote action is only worth doing promptly: one that could not start before it
    expired is cancelled, so a door never opens minutes after someone asked."""
    resumed = command.agent_jobs.filter(attempt=command.attempts).exists()
    if command.expires_at and timezone.now() > command.expires_at and not resumed:
        raise DriverError(
            "The action was not carried out in time and was cancelled, so the door does not "
            "open or close later than asked.",
            fix="Check that the lock and its bridge are online, then try again.",
            permanent=True,
        )
    status = driver_for(command.lock).lock_action(command.payload["action"])
    if status is not None:
        lock_status_record(lock=command.lock, status=status, source=command.lock.driver)


def _spec(ac: AccessCode, driver) -> CodeSpec:
    """The code as the driver gets it; refused (permanently, in plain words) when the lock
    cannot carry what it asks for, instead of retrying something that can never work."""
    spec = ac.spec()
    capabilities = driver.capabilities_for(ac.lock)
    if spec.kind == AccessKind.APP and Capability.APP_ACCESS not in capabilities:
        raise DriverError(
            "This lock cannot give access through the Nuki app.",
            fix="App access needs a lock connected through Nuki Web.",
            permanent=True,
        )
    if spec.limited and Capability.SCHEDULES not in capabilities:
        raise DriverError(
            "This lock cannot limit a code to weekdays or times of day.",
            fix="Use a lock connected through Nuki Web, or give this access without limits.",
            permanent=True,
        )
    return spec


def _sync_code(command: LockCommand) -> None:
    ac = command.access_code  # read by the claim, after it committed
    ac.lock = command.lock  # the same row, already loaded
    driver = driver_for(command.lock)
    spec = _spec(ac, driver) if ac.wanted else ac.spec()
    snapshot = ac.desired_snapshot()
    remote_id, applied, confirmed = ac.remote_id, ac.applied, True
    if is_due(ac, timezone.now()):
        if remote_id and applied == snapshot:
            pass  # the lock already confirmed exactly this
        else:
            if remote_id:
                try:
                    confirmed = driver.update_code(remote_id, spec).confirmed
                except NotFoundOnLock:
                    remote_id = ""
            if not remote_id:
                # Adopt what an earlier attempt left on the lock, unless the driver finds
                # that out from the write itself (Nuki Web's 409), saving a read per code.
                found = driver.find_code(spec) if driver.find_before_add(spec) else None
                if found is not None:
                    remote_id = found.remote_id
                    if not found.matches(spec):
                        confirmed = driver.update_code(remote_id, spec).confirmed
                else:
                    result = _add_making_room(command.lock, driver, spec)
                    remote_id, confirmed = result.remote_id, result.confirmed
            applied = snapshot
    else:
        if not remote_id:
            found = driver.find_code(spec)
            remote_id = found.remote_id if found else ""
        queued = False
        if remote_id:
            with contextlib.suppress(NotFoundOnLock):
                queued = driver.remove_code(remote_id) is False
        # A queued removal keeps its id (and `removing`) until a read-back shows it gone.
        remote_id, applied = (remote_id if queued else ""), None
    _record_code(ac.pk, snapshot, remote_id, applied, confirmed)


def _add_making_room(lock: Lock, driver, spec: CodeSpec):
    """Add a code; when the lock is full, first remove codes that have ended (ours, and
    foreign ones only where the organization opted in), then try once more. Still full: a
    plain-words error saying what fills the lock."""
    try:
        return driver.add_code(spec)
    except LockFull:
        if _make_room(lock, driver):
            return driver.add_code(spec)
        ours = AccessCode.objects.filter(lock=lock).exclude(remote_id="").count()
        held = len(driver.list_codes())
        raise DriverError(
            f"The lock's keypad memory is full: it holds {held} codes, none of them expired "
            f"({ours} set by Latchkey, {max(0, held - ours)} added by someone else).",
            fix="Remove codes that are no longer needed from this lock (see its codes), or "
            "move some stays to another door.",
            permanent=True,
            detail="lock full",
        ) from None


def _make_room(lock: Lock, driver) -> int:
    """Remove codes on the lock that should no longer be there. Returns how many went."""
    now = timezone.now()
    ours = {ac.remote_id: ac for ac in AccessCode.objects.filter(lock=lock).exclude(remote_id="")}
    by_name = set(AccessCode.objects.filter(lock=lock).values_list("name", "code"))
    opted_in = lock.organization.remove_foreign_codes
    freed = 0
    for code in driver.list_codes():
        ac = ours.get(code.remote_id)
        if ac is not None:
            if ac.wanted and ac.valid_until > now:
                continue  # current or coming: never make room with a guest's code
        elif (code.name, code.code) in by_name:
            continue  # ours, written but not yet confirmed
        elif not (opted_in and code.valid_until is not None and code.valid_until <= now):
            continue  # someone else's: shown, kept unless the organization opted in
        queued = False
        with contextlib.suppress(NotFoundOnLock):
            queued = driver.remove_code(code.remote_id) is False
        if queued:
            continue  # the cloud frees the slot later, not now
        freed += 1
        if ac is not None:
            AccessCode.objects.filter(pk=ac.pk).update(
                wanted=False, remote_id="", applied=None, state=CodeState.REMOVED
            )
        else:
            ObservedCode.objects.filter(lock=lock, remote_id=code.remote_id).delete()
            LockEvent.objects.create(
                organization_id=lock.organization_id,
                lock=lock,
                kind="foreign_code_removed",
                source="portal",
                message=f"Expired code “{code.name}” not created by Latchkey removed to make room",
            )
    return freed


@transaction.atomic
def _record_code(ac_id: int, snapshot: dict, remote_id: str, applied, confirmed: bool) -> None:
    """Store what the lock now holds; the state follows from comparing it with the desired
    state as it is now (which may have changed while the lock was busy)."""
    ac = AccessCode.objects.select_for_update(no_key=True).get(pk=ac_id)
    ac.remote_id, ac.applied = remote_id, applied
    now = timezone.now()
    if is_due(ac, now):
        if applied == ac.desired_snapshot():
            if confirmed:
                ac.state = CodeState.SET
                ac.set_at = now
            else:
                ac.state = CodeState.SETTING
            ac.last_error = ""
    elif not remote_id:
        ac.state = CodeState.PLANNED if ac.wanted else CodeState.REMOVED
        ac.last_error = ""
    ac.save(update_fields=["remote_id", "applied", "state", "set_at", "last_error"])
    alert_resolve(organization=ac.organization_id, kind="code_failed", subject=f"code:{ac.pk}")
    state_signal(ac)


def _conflict(command: LockCommand, exc: CodeConflict) -> str:
    """The digits are taken on the lock by someone else: end this command and let the holder
    (the stay) choose a new code, which queues a fresh command."""
    with transaction.atomic():
        updated = _still_ours(command).update(
            status=CommandStatus.FAILED,
            finished_at=timezone.now(),
            lease_until=None,
            error=exc.detail[:2000],
            reason=exc.reason,
        )
        if updated and command.access_code_id:
            ac = AccessCode.objects.get(pk=command.access_code_id)
            access_code_conflict.send(sender=AccessCode, access_code=ac, code=exc.code)
        if updated:  # someone else's code where ours should go: the lock drifted, read it
            reconcile_soon(lock_id=command.lock_id)
    return "conflict"


def _still_ours(command: LockCommand):
    return LockCommand.objects.filter(
        pk=command.pk, status=CommandStatus.RUNNING, claimed_at=command.claimed_at
    )


# A lock that answered this recently is not marked seen again on every command (a burst of
# codes would write its row once per code).
SEEN_REFRESH = dt.timedelta(seconds=30)


def _succeed(command: LockCommand) -> str:
    now = timezone.now()
    lock = command.lock
    with transaction.atomic():
        _still_ours(command).update(
            status=CommandStatus.SUCCEEDED, finished_at=now, lease_until=None, reason="", fix=""
        )
        if not (lock.online and lock.last_seen_at and now - lock.last_seen_at < SEEN_REFRESH):
            back = Lock.objects.filter(pk=command.lock_id, online=False).update(
                online=True, last_seen_at=now
            )
            if back:
                lock_back_online(lock=command.lock)
                if command.kind != CommandKind.RECONCILE:  # what did it miss? read it first
                    reconcile_soon(lock_id=command.lock_id)
            else:
                Lock.objects.filter(pk=command.lock_id).update(last_seen_at=now)
        dispatch_next_for_lock(lock_id=command.lock_id)
        dispatch_next_for_org(organization_id=command.organization_id)
    return "succeeded"


def _postpone(command: LockCommand, exc: DriverError) -> str:
    """The cloud or bridge is rate-limited (its 429, or our budget for it): the command runs
    again once the limit allows, with the attempt handed back. The lock did nothing wrong, so
    it is not marked unreachable, nothing fails, and no alert is raised however long it waits."""
    delay = max(0.0, float(exc.retry_after or 0.0))
    delay += random.uniform(0.0, min(1.0, delay / 10))  # the waiters do not all return at once
    when = timezone.now() + dt.timedelta(seconds=delay)
    with transaction.atomic():
        updated = _still_ours(command).update(
            status=CommandStatus.PENDING,
            next_attempt_at=when,
            lease_until=None,
            attempts=Greatest(F("attempts") - 1, 0),
            error=exc.detail[:2000],
            reason=exc.reason,
            fix=exc.fix,
        )
        if updated:
            if command.kind == CommandKind.RECONCILE:  # the lock stays due until then
                reconcile_due_at_retry(lock_id=command.lock_id, when=when)
            dispatch(command.pk, driver=command.lock.driver, countdown=delay)
    return "postponed"


def _retry_or_fail(command: LockCommand, exc: DriverError, *, reached: bool = False) -> str:
    if exc.retry_after is not None and not exc.permanent:
        return _postpone(command, exc)
    now = timezone.now()
    max_attempts = settings.LATCHKEY_COMMAND_MAX_ATTEMPTS
    if command.kind == CommandKind.LOCK_ACTION:
        max_attempts = min(max_attempts, ACTION_MAX_ATTEMPTS)
    final = exc.permanent or command.attempts >= max_attempts
    if not exc.permanent and not reached:
        lock_unreachable(
            lock=command.lock, reason=exc.reason, access_code_id=command.access_code_id
        )
    with transaction.atomic():
        if not final:
            delay = backoff_seconds(command.attempts)
            if command.kind == CommandKind.LOCK_ACTION:
                delay = min(delay, 2.0)  # an action is wanted now, not in minutes
            updated = _still_ours(command).update(
                status=CommandStatus.PENDING,
                next_attempt_at=now + dt.timedelta(seconds=delay),
                lease_until=None,
                error=exc.detail[:2000],
                reason=exc.reason,
                fix=exc.fix,
            )
            if updated:
                dispatch(command.pk, driver=command.lock.driver, countdown=delay)
                if command.kind == CommandKind.RECONCILE:  # the lock stays due until then
                    reconcile_due_at_retry(
                        lock_id=command.lock_id, when=now + dt.timedelta(seconds=delay)
                    )
                if command.access_code_id:
                    AccessCode.objects.filter(pk=command.access_code_id).update(
                        last_error=exc.reason
                    )
            return "retry"
        updated = _still_ours(command).update(
            status=CommandStatus.FAILED,
            finished_at=now,
            lease_until=None,
            error=exc.detail[:2000],
            reason=exc.reason,
            fix=exc.fix if exc.permanent else gave_up_fix(exc.fix),
        )
        if updated and command.access_code_id:
            _fail_code(command, exc)
    return "failed"


def _fail_code(command: LockCommand, exc: DriverError) -> None:
    ac = AccessCode.objects.select_for_update(no_key=True).get(pk=command.access_code_id)
    ac.state = CodeState.FAILED
    ac.last_error = exc.reason
    ac.save(update_fields=["state", "last_error"])
    if exc.detail == "lock full":
        alert_raise(
            organization=command.lock.organization,
            kind="lock_full",
            subject=f"lock:{command.lock_id}",
            severity="critical",
            code="lock_full",
            params={"lock": command.lock.name, "reason": exc.reason},
            covers=[("code_failed", f"code:{ac.pk}")],  # one cause (the full keypad), one alert
        )
    refused = exc.permanent and exc.fix
    alert_raise(
        organization=command.lock.organization,
        kind="code_failed",
        subject=f"code:{ac.pk}",
        code="code_failed."
        + ("" if ac.wanted else "remove_")
        + ("refused" if refused else "gave_up"),
        params={"name": ac.name, "lock": command.lock.name, "reason": exc.reason, "fix": exc.fix},
    )

    def _send() -> None:
        access_code_state_changed.send(sender=AccessCode, access_code=ac)
        command_failed.send(sender=LockCommand, command=command)

    after_commit(_send, what=f"command_failed({command.pk})")
