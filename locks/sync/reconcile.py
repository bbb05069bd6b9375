"""Compare what a lock reports with what it should hold, record what it reports, and queue
repairs for drift. Codes we did not create are recorded and shown, never deleted."""

from __future__ import annotations

import contextlib

from django.db import transaction
from django.utils import timezone

from locks.integrations.base import Capability, NotFoundOnLock
from locks.integrations.registry import driver_class, driver_for
from locks.models import (
    AccessCode,
    CodeState,
    CommandKind,
    Lock,
    LockCommand,
    LockEvent,
    ObservedCode,
)
from locks.sync.commands import command_enqueue, command_enqueue_sync, dispatch
from locks.sync.desired import is_due
from locks.sync.states import code_confirm, state_signal
from portal.services import alert_raise, alert_resolve


def reconcile_lock(*, command: LockCommand) -> dict[str, int]:
    lock = command.lock
    observed = driver_for(lock).list_codes()
    now = timezone.now()
    by_remote = {c.remote_id: c for c in observed}
    repaired = 0
    with transaction.atomic():
        ours = {
            ac.remote_id: ac for ac in AccessCode.objects.filter(lock=lock).exclude(remote_id="")
        }
        known = set(
            ObservedCode.objects.filter(lock=lock, access_code__isnull=True).values_list(
                "remote_id", flat=True
            )
        )
        ObservedCode.objects.filter(lock=lock).exclude(remote_id__in=list(by_remote)).delete()
        for remote_id, code in by_remote.items():
            ac = ours.get(remote_id)
            ObservedCode.objects.update_or_create(
                lock=lock,
                remote_id=remote_id,
                defaults={
                    "organization_id": lock.organization_id,
                    "kind": code.kind,
                    "code": code.code or "",
                    "name": code.name,
                    "valid_from": code.valid_from,
                    "valid_until": code.valid_until,
                    "weekdays": code.weekdays,
                    "from_minute": code.from_minute,
                    "until_minute": code.until_minute,
                    "access_code": ac,
                    "seen_at": now,
                },
            )
        by_name = {(c.kind, c.name, c.code or ""): c for c in observed}
        # Keypad codes only: app authorizations of other people (the owner's own phone) are
        # neither foreign codes to remove nor slots of the keypad's memory.
        keypad = [c for c in observed if c.kind == "keypad"]
        _foreign_codes(lock, keypad, ours, known)
        _capacity_check(lock, held=len(keypad))
        candidates = AccessCode.objects.filter(lock=lock).exclude(state=CodeState.FAILED)
        for ac in candidates.select_related("lock"):
            if ac.remote_id:
                on_lock = by_remote.get(ac.remote_id)
            else:  # a queued write has no id yet: recognise it by name and digits
                on_lock = by_name.get((ac.kind, ac.name, ac.code))
            spec = ac.spec()
            snapshot = ac.desired_snapshot()
            if is_due(ac, now):
                if on_lock is not None and on_lock.matches(spec):
                    if ac.state != CodeState.SET or ac.remote_id != on_lock.remote_id:
                        code_confirm(ac, on_lock.remote_id, snapshot, now)  # read-back confirms
                        # Recorded above before it had an id: link it, or it looks foreign.
                        ObservedCode.objects.filter(
                            lock=lock, remote_id=on_lock.remote_id, access_code__isnull=True
                        ).update(access_code=ac)
                    continue
                if ac.state == CodeState.SETTING and ac.applied == snapshot:
                    continue  # sent and queued by the cloud: wait for it, do not send twice
                if ac.state == CodeState.SET:
                    LockEvent.objects.create(
                        organization_id=lock.organization_id,
                        lock=lock,
                        kind="drift",
                        source="reconcile",
                        message=f"Code “{ac.name}” was missing or changed on the lock; restoring",
                    )
                    ac.state = CodeState.SETTING
                    ac.remote_id = ac.remote_id if on_lock is not None else ""
                    ac.applied = None
                    ac.save(update_fields=["state", "remote_id", "applied"])
                if ac.state in (CodeState.SETTING, CodeState.SET):
                    command_enqueue_sync(access_code=ac)
                    repaired += 1
            elif on_lock is not None:
                if ac.state == CodeState.REMOVING and ac.remote_id:
                    continue  # removal queued by the cloud: wait for it
                ac.state = CodeState.REMOVING
                ac.save(update_fields=["state"])
                command_enqueue_sync(access_code=ac)
                repaired += 1
            elif ac.state == CodeState.REMOVING:
                ac.state = CodeState.REMOVED if not ac.wanted else CodeState.PLANNED
                ac.remote_id, ac.applied = "", None
                ac.save(update_fields=["state", "remote_id", "applied"])
                state_signal(ac)
    return {"observed": len(observed), "repaired": repaired}


def _foreign_codes(lock: Lock, observed: list, ours: dict, known: set[str]) -> None:
    """Codes on the lock that we did not create: logged when first seen and shown to the
    manager (an alert lists them); removed only when the organization opted in."""
    ours_by_name = set(AccessCode.objects.filter(lock=lock).values_list("name", "code"))
    foreign = [
        c for c in observed if c.remote_id not in ours and (c.name, c.code) not in ours_by_name
    ]
    for code in foreign:
        if code.remote_id not in known:
            LockEvent.objects.create(
                organization_id=lock.organization_id,
                lock=lock,
                kind="foreign_code_found",
                source="reconcile",
                message=f"Code “{code.name}” found on the lock; Latchkey did not create it",
                detail={"remote_id": code.remote_id},
            )
    subject = f"lock:{lock.pk}"
    if not foreign:
        alert_resolve(organization=lock.organization, kind="foreign_codes", subject=subject)
        return
    if lock.organization.remove_foreign_codes:
        for code in foreign:
            pending = LockCommand.objects.filter(
                lock=lock,
                kind=CommandKind.REMOVE_FOREIGN,
                status__in=["pending", "running"],
                payload__remote_id=code.remote_id,
            ).exists()
            if not pending:
                command = LockCommand.objects.create(
                    organization_id=lock.organization_id,
                    lock=lock,
                    kind=CommandKind.REMOVE_FOREIGN,
                    payload={"remote_id": code.remote_id, "name": code.name},
                )
                dispatch(command.pk, driver=lock.driver)
        return
    names = ", ".join(sorted(f"“{c.name}”" for c in foreign))
    alert_raise(
        organization=lock.organization,
        kind="foreign_codes",
        subject=subject,
        severity="info",
        code="foreign_codes",
        params={"lock": lock.name, "count": len(foreign), "names": names},
    )


NEARLY_FULL = 0.9


def _capacity_check(lock: Lock, *, held: int) -> None:
    """Warn before the keypad memory runs out; clear the warnings once there is room."""
    subject = f"lock:{lock.pk}"
    if held >= lock.capacity * NEARLY_FULL:
        alert_raise(
            organization=lock.organization,
            kind="lock_nearly_full",
            subject=subject,
            code="lock_nearly_full",
            params={"lock": lock.name, "held": held, "capacity": lock.capacity},
        )
    else:
        alert_resolve(organization=lock.organization, kind="lock_nearly_full", subject=subject)
    if held < lock.capacity:
        alert_resolve(organization=lock.organization, kind="lock_full", subject=subject)


def foreign_code_remove(*, command: LockCommand) -> None:
    """Remove a code we did not create (the organization opted in)."""
    lock = command.lock
    remote_id = command.payload["remote_id"]
    if not lock.organization.remove_foreign_codes:
        return  # the setting was switched off meanwhile
    with contextlib.suppress(NotFoundOnLock):
        driver_for(lock).remove_code(remote_id)
    with transaction.atomic():
        ObservedCode.objects.filter(lock=lock, remote_id=remote_id).delete()
        LockEvent.objects.create(
            organization_id=lock.organization_id,
            lock=lock,
            kind="foreign_code_removed",
            source="portal",
            message=f"Code “{command.payload.get('name', '')}” not created by Latchkey removed "
            "(organization setting)",
            detail={"remote_id": remote_id},
        )


def reconcile_enqueue_all() -> int:
    """Queue a reconcile for every lock whose driver can list codes."""
    kinds = [k for k in Lock.objects.values_list("driver", flat=True).distinct()]
    kinds = [k for k in kinds if Capability.CODES in _caps(k)]
    count = 0
    with transaction.atomic():
        for lock in Lock.objects.filter(driver__in=kinds).only("id", "organization_id"):
            command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
            count += 1
    return count


def _caps(kind: str) -> frozenset[str]:
    try:
        return driver_class(kind).capabilities
    except Exception:
        return frozenset()
