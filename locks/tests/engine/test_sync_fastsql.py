"""The hand-built statements of the booking path (locks/sync/fastsql.py) do exactly what the ORM
would: the lock rows (with the ORM's value conversion), the codes taken on them (including the
codes another app reserves through locks/sync/reserved.py), and a new holder's codes written
with their commands in one statement."""

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


def _rows(model, **where) -> list[dict]:
    """The rows' columns, without ids and clock stamps (they differ between two writes)."""
    skip = {"id", "access_code_id", "created_at", "next_attempt_at", "updated_at", "holder"}
    return [
        {k: v for k, v in row.items() if k not in skip}
        for row in model.objects.filter(**where).order_by("lock_id").values()
    ]


@pytest.mark.parametrize("preload_hours", [72, 0])
def test_new_codes_and_their_commands_in_one_statement_match_bulk_create(
    world, prop, locks, preload_hours
):
    """`access_put` for a new holder writes codes and commands in one statement on PostgreSQL:
    the same rows as bulk_create writes, the codes' keys set, and a command exactly for each
    code that must go to its lock now (none when the stay is beyond the preload horizon)."""
    from django.db import connection

    from locks.models import LockCommand
    from locks.sync.desired import access_put

    if connection.vendor != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's")
    world.org.preload_hours = preload_hours
    world.org.save(update_fields=["preload_hours"])
    start = timezone.now() + dt.timedelta(days=1)
    put = dict(
        organization=world.org, locks=locks, code="345678", name="LK1 Ada",
        valid_from=start, valid_until=start + dt.timedelta(days=2),
    )  # fmt: skip
    merged = access_put(holder="grant:1", new_holder=True, **put)
    assert all(ac.pk and not ac._state.adding for ac in merged)
    assert [ac.pk for ac in merged] == list(
        AccessCode.objects.filter(holder="grant:1").order_by("lock_id").values_list("pk", flat=True)
    )
    commands = list(LockCommand.objects.filter(access_code__holder="grant:1").order_by("lock_id"))
    assert [c.access_code_id for c in commands] == (
        [ac.pk for ac in merged] if preload_hours else []
    )
    # The ORM's own path, for another holder: the same rows.
    AccessCode.objects.filter(holder="grant:1").update(holder="grant:0", code="345679")
    orm = access_put(holder="grant:2", new_holder=False, **{**put, "code": "345678"})
    assert len(orm) == len(merged)
    assert _rows(AccessCode, holder="grant:2") == [
        {**row, "code": "345678"} for row in _rows(AccessCode, holder="grant:0")
    ]
    assert _rows(LockCommand, access_code__holder="grant:2") == _rows(
        LockCommand, access_code__holder="grant:0"
    )
