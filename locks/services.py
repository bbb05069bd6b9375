"""Writes for locks (create, update). Assigning a lock to a property re-plans that
property's stays so the lock gets their codes."""

from __future__ import annotations

from django.db import transaction

from locks.drivers import driver_class
from locks.models import Lock
from locks.signals import lock_property_changed
from portal.models import Organization

VIRTUAL_CONFIG_KEYS = {"delay_ms", "failure_rate", "offline"}


@transaction.atomic
def lock_create(*, organization: Organization, **fields) -> Lock:
    driver_class(fields["driver"])  # refuses unknown drivers
    lock = Lock.objects.create(organization=organization, **fields)
    if lock.property_id:
        lock_property_changed.send(sender=Lock, lock=lock, old_property_id=None)
    return lock


@transaction.atomic
def lock_update(*, lock: Lock, **fields) -> Lock:
    old_property_id = lock.property_id
    for name, value in fields.items():
        setattr(lock, name, value)
    lock.save()
    if lock.property_id != old_property_id:
        lock_property_changed.send(sender=Lock, lock=lock, old_property_id=old_property_id)
    return lock
