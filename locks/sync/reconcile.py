"""Compare what a lock reports with what it should hold, record what it reports, and queue
repairs for drift. Codes we did not create are recorded and shown, never deleted."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from locks.drivers import Capability, CodeSpec, driver_class, driver_for
from locks.models import (
    AccessCode,
    CodeState,
    CommandKind,
    Lock,
    LockCommand,
    LockEvent,
    ObservedCode,
)
from locks.sync.desired import is_due
from locks.sync.outbox import command_enqueue, command_enqueue_sync


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
        ObservedCode.objects.filter(lock=lock).exclude(remote_id__in=list(by_remote)).delete()
        for remote_id, code in by_remote.items():
            ac = ours.get(remote_id)
            ObservedCode.objects.update_or_create(
                lock=lock,
                remote_id=remote_id,
                defaults={
                    "organization_id": lock.organization_id,
                    "code": code.code or "",
                    "name": code.name,
                    "valid_from": code.valid_from,
                    "valid_until": code.valid_until,
                    "access_code": ac,
                    "seen_at": now,
                },
            )
        candidates = AccessCode.objects.filter(lock=lock).exclude(state=CodeState.FAILED)
        for ac in candidates.select_related("lock"):
            on_lock = by_remote.get(ac.remote_id) if ac.remote_id else None
            spec = CodeSpec(ac.code, ac.name, ac.valid_from, ac.valid_until)
            if is_due(ac, now):
                if on_lock is not None and on_lock.matches(spec):
                    continue
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
                ac.state = CodeState.REMOVING
                ac.save(update_fields=["state"])
                command_enqueue_sync(access_code=ac)
                repaired += 1
    return {"observed": len(observed), "repaired": repaired}


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
