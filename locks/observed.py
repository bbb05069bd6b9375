"""Observed state: what a lock (or its bridge or cloud) reports, recorded on the Lock and in the
activity log when it changes."""

from __future__ import annotations

from django.utils import timezone

from locks.integrations.base import LockStatus
from locks.models import Lock, LockEvent


def lock_status_record(*, lock: Lock, status: LockStatus, source: str) -> bool:
    """Store a reported status. Returns True (and logs a `state` event) when something changed."""
    fields = {"state": status.state}
    if status.battery_percent is not None:
        fields["battery_percent"] = status.battery_percent
    if status.battery_critical is not None:
        fields["battery_critical"] = status.battery_critical
    if status.door_state is not None:
        fields["door_state"] = status.door_state
    changed = {k: v for k, v in fields.items() if getattr(lock, k) != v}
    now = timezone.now()
    Lock.objects.filter(pk=lock.pk).update(**fields, online=True, last_seen_at=now)
    for name, value in fields.items():
        setattr(lock, name, value)
    lock.online, lock.last_seen_at = True, now
    if changed:
        LockEvent.objects.create(
            organization_id=lock.organization_id,
            lock=lock,
            kind="state",
            source=source,
            message=", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in changed.items()),
            detail={k: v for k, v in changed.items()},
            occurred_at=now,
        )
    return bool(changed)
