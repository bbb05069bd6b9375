"""Writes for locks (create, update). Assigning a lock to a property re-plans that
property's stays so the lock gets their codes."""

from __future__ import annotations

from django.db import transaction

from locks.backup import pool_fill
from locks.integrations.registry import driver_class
from locks.models import Lock
from locks.signals import lock_property_changed
from portal.aftercommit import after_commit
from portal.models import Organization

VIRTUAL_CONFIG_KEYS = {"delay_ms", "failure_rate", "offline", "schedules"}


@transaction.atomic
def lock_create(*, organization: Organization, **fields) -> Lock:
    driver_class(fields["driver"])  # refuses unknown drivers
    lock = Lock.objects.create(organization=organization, **fields)
    if lock.property_id:
        lock_property_changed.send(sender=Lock, lock=lock, old_property_id=None)
    if lock.backup_pool_size:
        _refill_after_commit(lock)
    return lock


def _refill_after_commit(lock: Lock) -> None:
    after_commit(lambda: pool_fill(lock=lock), what=f"pool_fill(lock {lock.pk})")


@transaction.atomic
def lock_update(*, lock: Lock, **fields) -> Lock:
    old_property_id, old_pool = lock.property_id, lock.backup_pool_size
    for name, value in fields.items():
        setattr(lock, name, value)
    lock.save()
    if lock.property_id != old_property_id:
        lock_property_changed.send(sender=Lock, lock=lock, old_property_id=old_property_id)
    if lock.backup_pool_size != old_pool:
        _refill_after_commit(lock)
    return lock
