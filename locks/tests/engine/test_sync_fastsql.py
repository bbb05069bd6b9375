"""The two hand-built statements of the booking path (locks/sync/fastsql.py) answer exactly what
the ORM would: the lock rows (with the ORM's value conversion) and the codes taken on them,
including the codes another app reserves through locks/sync/reserved.py."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import StandingAccess
from locks.models import AccessCode, Lock, ObservedCode
from locks.sync import fastsql
from locks.sync.desired import codes_taken, property_locks_locked

pytestmark = pytest.mark.django_db


def _columns(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_lock_rows_are_what_the_orm_reads(world, prop, locks):
    Lock.objects.filter(pk=locks[0].pk).update(config={"delay_ms": 5, "x": [1, None]})
    found = property_locks_locked(property_id=prop.pk)
    orm = list(Lock.objects.filter(property_id=prop.pk).order_by("id"))
    assert [_columns(a) for a in found] == [_columns(b) for b in orm]
    assert found[0].config == {"delay_ms": 5, "x": [1, None]} and not found[0]._state.adding
    assert fastsql.lock_rows_locked(property_id=prop.pk + 1000) == []


def test_codes_taken_counts_ours_foreign_and_reserved_codes_like_the_orm(world, prop, locks):
    now = timezone.now()
    window = dict(valid_from=now, valid_until=now + dt.timedelta(days=2))
    common = dict(organization=world.org, push_after=now, name="n")
    AccessCode.objects.create(lock=locks[0], holder="grant:1", code="111111", **common, **window)
    AccessCode.objects.create(  # another window: free
        lock=locks[0], holder="grant:2", code="222222", **common,
        valid_from=now + dt.timedelta(days=5), valid_until=now + dt.timedelta(days=6),
    )  # fmt: skip
    AccessCode.objects.create(lock=locks[1], holder="grant:3", code="333333", **common, **window)
    ObservedCode.objects.create(organization=world.org, lock=locks[1], remote_id="9", code="444444")
    hours = dict(from_time=dt.time(10), until_time=dt.time(14))
    StandingAccess.objects.create(
        organization=world.org, property=prop, name="Cleaner", code="555555", **hours
    )
    StandingAccess.objects.create(
        organization=world.org, property=prop, name="Old", code="666666", active=False, **hours
    )
    candidates = ["111111", "222222", "333333", "444444", "555555", "666666", "777777"]
    lock_ids = [lock.pk for lock in locks]
    taken = codes_taken(lock_ids=lock_ids, candidates=candidates, **window)
    assert taken == {"111111", "333333", "444444", "555555"}
    # The holder's own code does not count against it.
    assert "333333" not in codes_taken(
        lock_ids=lock_ids, candidates=candidates, exclude_holder="grant:3", **window
    )
    # Locks of another property see none of this property's codes.
    assert codes_taken(lock_ids=[locks[0].pk + 1000], candidates=candidates, **window) == set()
