"""The stays' beat tasks read what is due, not the history: `alert_unset_codes` (every 10 min)
and `backup_codes_assign` (every minute) cost the same queries with 10 or 200 stays that are
not due, never UPDATE an alert that is not open, and lock only stays that could need a backup
code. Stays are written in bulk, as the dashboard benchmark seeds them; the clock is fixed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bookings.alerts import alert_unset_codes
from bookings.backup import backup_codes_assign
from bookings.models import AccessGrant, Booking, BookingStatus
from locks.models import AccessCode, CodeState
from locks.selectors import unset_codes_starting
from portal.models import Alert

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def stays(world, prop, locks, *, first: int, count: int, start: dt.timedelta, state: str):
    """`count` confirmed stays starting `start` after T0 (two days long), their code in `state`
    on every lock (removed and not wanted once they ended)."""
    bookings = Booking.objects.bulk_create(
        Booking(
            organization=world.org,
            property=prop,
            source="test",
            external_id=f"s{n}",
            status=BookingStatus.CONFIRMED,
            guest_name=f"Guest {n}",
            check_in=(T0 + start).date(),
            check_out=(T0 + start).date() + dt.timedelta(days=2),
        )
        for n in range(first, first + count)
    )
    grants = AccessGrant.objects.bulk_create(
        AccessGrant(
            organization=world.org,
            booking=b,
            code=f"{200000 + i}",
            valid_from=T0 + start,
            valid_until=T0 + start + 48 * HOUR,
        )
        for i, b in enumerate(bookings, start=first)
    )
    ended = T0 + start + 48 * HOUR <= T0
    AccessCode.objects.bulk_create(
        AccessCode(
            organization=world.org,
            lock=lock,
            holder=grant.holder,
            name=f"LK{grant.pk}",
            code=grant.code,
            valid_from=grant.valid_from,
            valid_until=grant.valid_until,
            push_after=grant.valid_from - 72 * HOUR,
            wanted=not ended,
            state=CodeState.REMOVED if ended else state,
            remote_id=str(grant.pk) if state == CodeState.SET else "",
        )
        for grant in grants
        for lock in locks
    )
    return grants


def history(world, prop, locks, *, first: int, count: int) -> None:
    """Stays no run has anything to do with: ended ones, current ones set, future ones."""
    third = count // 3
    stays(world, prop, locks, first=first, count=third, start=-30 * 24 * HOUR, state="set")
    stays(world, prop, locks, first=first + third, count=third, start=-HOUR, state="set")
    rest = count - 2 * third
    stays(
        world,
        prop,
        locks,
        first=first + 2 * third,
        count=rest,
        start=60 * 24 * HOUR,
        state="planned",
    )


def run_counted(task) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        result = task()
    return result, [q["sql"] for q in ctx.captured_queries]


def test_alerts_cost_the_same_queries_with_10_or_200_stays_not_due(world, prop, locks):
    stays(world, prop, locks, first=0, count=2, start=3 * HOUR, state=CodeState.SETTING)
    history(world, prop, locks, first=100, count=10)
    assert alert_unset_codes(now=T0) == 2  # raised; the runs below refresh them
    raised, few = run_counted(lambda: alert_unset_codes(now=T0))
    assert raised == 2
    history(world, prop, locks, first=1000, count=190)
    raised, many = run_counted(lambda: alert_unset_codes(now=T0))
    assert raised == 2
    assert len(many) == len(few)
    assert Alert.objects.filter(kind="code_not_set", resolved_at=None).count() == 2


def test_alerts_that_are_not_open_are_never_updated(world, prop, locks):
    (done,) = stays(world, prop, locks, first=0, count=1, start=3 * HOUR, state=CodeState.SET)
    (fixed,) = stays(world, prop, locks, first=1, count=1, start=5 * HOUR, state=CodeState.SET)
    subject = f"booking:{done.booking_id}"
    old = T0 - 24 * HOUR
    for n in range(3):  # resolved long ago, the same stay
        Alert.objects.create(
            organization=world.org, kind="code_not_set", subject=subject, resolved_at=old
        )
    open_one = Alert.objects.create(
        organization=world.org, kind="code_not_set", subject=f"booking:{fixed.booking_id}"
    )
    raised, sql = run_counted(lambda: alert_unset_codes(now=T0))
    assert raised == 0
    updates = [q for q in sql if q.startswith("UPDATE") and "portal_alert" in q]
    assert len(updates) == 1  # the open one, settled: one statement
    open_one.refresh_from_db()
    assert open_one.resolved_at is not None
    assert set(Alert.objects.filter(subject=subject).values_list("resolved_at", flat=True)) == {old}
    raised, sql = run_counted(lambda: alert_unset_codes(now=T0))
    assert not [q for q in sql if q.startswith("UPDATE")]  # nothing open: nothing written


def test_backup_assign_costs_the_same_queries_with_10_or_200_stays_not_due(
    world, prop, locks, settings
):
    world.org.backup_lead_minutes = 120
    world.org.save(update_fields=["backup_lead_minutes"])
    # Due soon, code on its way to online locks (the cloud has not accepted it yet): nothing
    # could have given up on these stays, so none is locked or looked at further.
    stays(world, prop, locks, first=0, count=3, start=HOUR, state=CodeState.SETTING)
    history(world, prop, locks, first=100, count=10)
    given, few = run_counted(lambda: backup_codes_assign(now=T0))
    assert given == 0
    assert not [q for q in few if "FOR UPDATE" in q or q.startswith("UPDATE")]
    history(world, prop, locks, first=1000, count=190)
    given, many = run_counted(lambda: backup_codes_assign(now=T0))
    assert given == 0 and len(many) == len(few)


def test_backup_assign_looks_only_at_stays_an_offline_lock_may_have_failed(
    world, prop, locks, settings
):
    world.org.backup_lead_minutes = 120
    world.org.save(update_fields=["backup_lead_minutes"])
    stays(world, prop, locks, first=0, count=3, start=HOUR, state=CodeState.SETTING)
    _, without = run_counted(lambda: backup_codes_assign(now=T0))
    locks[1].online = False
    locks[1].save(update_fields=["online"])
    # Now each of the three stays could need one: each is looked at (and locked) on its own.
    _, with_offline = run_counted(lambda: backup_codes_assign(now=T0))
    assert len(with_offline) > len(without)
    if connection.vendor == "postgresql":
        locked = [q for q in with_offline if "FOR UPDATE" in q and "bookings_accessgrant" in q]
        assert len(locked) == 3 and all("SKIP LOCKED" in q for q in locked)


def test_a_lock_found_unreachable_reads_only_its_own_codes(world, prop, locks):
    """A command that cannot reach a lock asks for backup codes on that lock alone. It used to
    read every unset code of the fleet and filter them in Python: 0.4 s per failed attempt
    behind a silent agent, which made one tenant's backlog drain at 2 commands a second
    (bench/noisy_neighbour.py)."""
    stays(world, prop, locks, first=0, count=3, start=HOUR, state=CodeState.SETTING)
    before = T0 + dt.timedelta(days=1)
    everyone = list(unset_codes_starting(before=before, now=T0))
    mine = list(unset_codes_starting(before=before, now=T0, lock_ids=[locks[1].pk]))
    assert len(everyone) == 6
    assert {ac.lock_id for ac in mine} == {locks[1].pk} and len(mine) == 3
    assert list(unset_codes_starting(before=before, now=T0, lock_ids=[])) == []
