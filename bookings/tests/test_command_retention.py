"""The outbox does not grow without bound: finished reconcile rounds and code syncs that a
newer command replaced go after LATCHKEY_COMMAND_RETENTION_DAYS, in batches, within the hourly
retention task; what the pages and the audit read stays (locks.retention.RoutineCommandPrune).
Virtual locks and eager tasks run the real commands; the clock is frozen and stepped."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from bookings.models import AccessGrant, BookingStatus
from bookings.retention import retention_apply
from bookings.services import BookingData, booking_upsert
from locks.models import AccessCode, Agent, AgentJob, CommandKind, CommandStatus, LockCommand
from locks.retention import RoutineCommandPrune
from locks.sync.reconcile import reconcile_enqueue_all
from locks.sync.schedule import reconcile_now

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2027, 2, 1, 9, tzinfo=dt.UTC)


def command(lock, *, days: float, kind=CommandKind.RECONCILE, status="succeeded", code=None):
    return LockCommand.objects.create(
        organization=lock.organization,
        lock=lock,
        access_code=code,
        kind=kind,
        status=status,
        created_at=T0 - dt.timedelta(days=days),
        finished_at=T0 - dt.timedelta(days=days),
    )


def access_code(world, lock, holder: str) -> AccessCode:
    return AccessCode.objects.create(
        organization=world.org,
        lock=lock,
        holder=holder,
        name="LK test",
        code="135792",
        valid_from=T0 - dt.timedelta(days=45),
        valid_until=T0 - dt.timedelta(days=40),
        push_after=T0 - dt.timedelta(days=46),
        wanted=False,
        state="removed",
    )


def exists(row) -> bool:
    return LockCommand.objects.filter(pk=row.pk).exists()


def test_replaced_routine_commands_go_in_batches_and_what_is_needed_stays(
    world, prop, locks, settings
):
    settings.LATCHKEY_COMMAND_RETENTION_DAYS = 30
    first, second = locks
    code = access_code(world, first, "grant:1")
    agent = Agent.objects.create(organization=world.org, name="A")
    gone = [
        *(command(first, days=d) for d in (60, 50, 40)),  # checks replaced by newer ones
        command(first, days=45, kind=CommandKind.SYNC_CODE, status="failed", code=code),
        command(first, days=44, kind=CommandKind.SYNC_CODE, code=code),
        command(second, days=33),
    ]
    kept = [
        command(first, days=5),  # within the retention
        command(second, days=31),  # the second lock's last check, however old
        command(first, days=43, kind=CommandKind.SYNC_CODE, code=code),  # the code's last sync
        command(first, days=70, kind=CommandKind.LOCK_ACTION),  # a person's action: the audit
        command(first, days=70, kind=CommandKind.REMOVE_FOREIGN),
        command(first, days=70, status=CommandStatus.PENDING),  # not finished
    ]
    with_job = command(first, days=65)  # replaced, but an agent job still belongs to it
    AgentJob.objects.create(
        organization=world.org, agent=agent, lock=first, command=with_job, kind="list_codes"
    )
    kept.append(with_job)
    other_lock = __import__("locks.services", fromlist=["x"]).lock_create(
        organization=world.other_org, property=None, name="O", driver="virtual"
    )
    theirs = [command(other_lock, days=d) for d in (90, 80)]
    with time_machine.travel(T0, tick=False):
        done = retention_apply(batch_size=2)
    assert done["routine_commands"] == len(gone) + 1  # and the other organization's older one
    assert [exists(c) for c in gone] == [False] * len(gone)
    assert [exists(c) for c in kept] == [True] * len(kept)
    assert [exists(c) for c in theirs] == [False, True]
    with time_machine.travel(T0, tick=False):
        assert retention_apply(batch_size=2).get("routine_commands", 0) == 0  # idempotent


def test_the_commands_table_does_not_grow_across_simulated_days(
    world, prop, locks, commit, settings
):
    """Four reconcile rounds a day on two locks for ten days, the retention task after each
    day: the table levels off at (retention + 1) days of rounds, where without the prune it
    would hold every round."""
    settings.LATCHKEY_COMMAND_RETENTION_DAYS = 2
    sizes = []
    for day in range(10):
        for hour in (0, 6, 12, 18):
            at = T0 + dt.timedelta(days=day, hours=hour)
            with time_machine.travel(at, tick=False), commit():
                assert reconcile_enqueue_all() == 2
        with time_machine.travel(T0 + dt.timedelta(days=day, hours=23), tick=False):
            retention_apply()
        sizes.append(LockCommand.objects.count())
    rounds = LockCommand.objects.filter(kind=CommandKind.RECONCILE)
    assert not rounds.exclude(status=CommandStatus.SUCCEEDED).exists()  # they all really ran
    # Day 0..2 fill up; from day 3 on the size stays put.
    assert sizes[3:] == [sizes[3]] * 7, sizes
    assert sizes[3] <= 2 * 4 * 3  # locks x rounds a day x (retention + 1 days)
    assert 3 * sizes[3] < 10 * 2 * 4  # what would be there without the prune


def test_the_stay_and_lock_pages_render_after_their_old_commands_went(
    world, prop, locks, commit, settings
):
    """A stay whose code was synced three times: the older syncs go, the last stays, and the
    stay page still shows each lock's code and its last command; the lock page renders."""
    settings.LATCHKEY_COMMAND_RETENTION_DAYS = 30

    def upsert(check_out: dt.date):
        with commit():
            booking_upsert(
                organization=world.org,
                source="api",
                data=BookingData(
                    external_id="S-1",
                    property=prop,
                    status=BookingStatus.CONFIRMED,
                    check_in=dt.date(2027, 2, 2),
                    check_out=check_out,
                    guest_name="Anna Gruber",
                    guest_email="anna@example.com",
                    guest_language="en",
                ),
            )

    with time_machine.travel(T0, tick=False):
        upsert(dt.date(2027, 2, 5))
        upsert(dt.date(2027, 2, 6))  # longer: the codes are synced again
    grant = AccessGrant.objects.get()
    syncs = LockCommand.objects.filter(kind=CommandKind.SYNC_CODE)
    assert syncs.count() >= 4 and not syncs.exclude(status=CommandStatus.SUCCEEDED).exists()
    latest = {
        ac.pk: ac.commands.order_by("-pk").first().pk
        for ac in AccessCode.objects.filter(holder=grant.holder)
    }
    later = T0 + dt.timedelta(days=45)
    with time_machine.travel(later, tick=False):
        done = retention_apply()
        assert done["routine_commands"] >= 2
        assert set(syncs.values_list("pk", flat=True)) == set(latest.values())
        client = Client()
        client.force_login(world.owner)
        page = client.get(
            reverse("stay-page", kwargs={"slug": world.org.slug, "pk": grant.booking_id})
        )
        assert page.status_code == 200
        for lock in locks:
            assert lock.name in page.content.decode()
            lock_page = client.get(
                reverse("lock-page", kwargs={"slug": world.org.slug, "pk": lock.pk})
            )
            assert lock_page.status_code == 200


def prune(org, *, at: dt.datetime, limit: int = 500) -> RoutineCommandPrune:
    """One whole routine prune of `org` at `at`, as the retention loop runs it."""
    step = RoutineCommandPrune(
        organization_id=org.pk, before=at - dt.timedelta(days=30), limit=limit
    )
    while step() == limit:
        pass
    return step


def test_a_second_run_reads_nothing_it_kept(world, prop, locks, settings):
    """Issue 16: the prune marks the old commands it keeps (each series' latest), so the next
    run looks only at what crossed the retention since: not at every ended code's last sync
    again, which made the hourly task cost in proportion to the fleet's history."""
    first, second = locks
    codes = [access_code(world, first, f"grant:{n}") for n in range(20)]
    gone = command(second, days=50)  # the series is by id: the older row, replaced
    kept = [
        *(command(first, days=40, kind=CommandKind.SYNC_CODE, code=c) for c in codes),
        command(first, days=35),
        command(second, days=36),
        command(first, days=40, kind=CommandKind.SYNC_CODE),  # no code: no series
    ]
    step = prune(world.org, at=T0, limit=7)
    assert (step.deleted, exists(gone)) == (1, False)
    assert [exists(c) for c in kept] == [True] * len(kept)
    assert LockCommand.objects.filter(prune_kept=True).count() == len(kept)
    again = RoutineCommandPrune(
        organization_id=world.org.pk, before=T0 - dt.timedelta(days=30), limit=7
    )
    with CaptureQueriesContext(connection) as queries:
        assert again() == 0  # looked at none of them
    assert len(queries) == 1
    # A day later a newer check of the first lock crossed: that one is read, the kept ones
    # are not, except the first lock's old check, which it replaced.
    crossing = command(first, days=29.5)
    later = RoutineCommandPrune(
        organization_id=world.org.pk,
        before=T0 + dt.timedelta(days=1) - dt.timedelta(days=30),
        limit=7,
    )
    assert later() == 1
    assert (later.deleted, exists(kept[20]), exists(crossing)) == (1, False, True)
    assert [exists(c) for c in kept[:20] + kept[21:]] == [True] * (len(kept) - 1)


def test_what_was_kept_goes_once_replaced_and_nothing_is_skipped(world, prop, locks, settings):
    """A command kept as the latest of its series goes when a newer one of its series comes to
    the prune; one still running when it crossed the retention, or held by an agent job, is
    looked at again once finished or released. Nothing the pages read is ever deleted."""
    settings.LATCHKEY_COMMAND_RETENTION_DAYS = 30
    first, second = locks
    code = access_code(world, first, "grant:1")
    agent = Agent.objects.create(organization=world.org, name="A")
    old_check = command(first, days=40)
    old_sync = command(first, days=40, kind=CommandKind.SYNC_CODE, code=code)
    running = command(second, days=45, status=CommandStatus.RUNNING)
    held = command(second, days=44)
    job = AgentJob.objects.create(
        organization=world.org, agent=agent, lock=second, command=held, kind="list_codes"
    )
    last_check = command(second, days=43)
    with time_machine.travel(T0, tick=False):
        retention_apply()
    assert all(exists(c) for c in (old_check, old_sync, running, held, last_check))

    # Newer commands of both series, then: the kept ones stay while those are recent ...
    new_check = command(first, days=2)
    new_sync = command(first, days=2, kind=CommandKind.SYNC_CODE, code=code)
    LockCommand.objects.filter(pk=running.pk).update(status=CommandStatus.SUCCEEDED)
    AgentJob.objects.filter(pk=job.pk).update(status=AgentJob.Status.DONE)
    with time_machine.travel(T0, tick=False):
        done = retention_apply()
    # ... the finished one and the released one were read again: replaced, they went.
    assert done["routine_commands"] == 2
    assert (exists(running), exists(held), exists(last_check)) == (False, False, True)
    assert exists(old_check) and exists(old_sync)

    # A month on, the newer ones crossed the retention: the ones they replaced go with them
    # read; the newer ones, now the latest, stay.
    with time_machine.travel(T0 + dt.timedelta(days=30), tick=False):
        done = retention_apply()
    assert done["routine_commands"] == 2
    assert (exists(old_check), exists(old_sync)) == (False, False)
    assert all(exists(c) for c in (new_check, new_sync, last_check))
    with time_machine.travel(T0 + dt.timedelta(days=30), tick=False):
        assert retention_apply().get("routine_commands", 0) == 0


def test_a_kept_check_re_armed_for_a_new_round_is_looked_at_afresh(world, prop, locks):
    """The reconcile rounds reuse a lock's last row (re-armed with a new created_at): the mark
    goes with the old round, so the prune reads the row again once the new one is old."""
    first, _second = locks
    check = command(first, days=40)
    prune(world.org, at=T0)
    assert LockCommand.objects.get(pk=check.pk).prune_kept
    with time_machine.travel(T0, tick=False):
        assert reconcile_now(locks=[first]) == 1
    row = LockCommand.objects.get(pk=check.pk)
    assert (row.status, row.prune_kept) == (CommandStatus.PENDING, False)


def test_on_postgresql_the_walk_reads_only_what_it_has_not_kept(world, prop, locks):
    """The walk's SELECT is answered from the partial index of routine commands not kept yet
    (lockcommand_routine_to_prune): thousands of kept ones (statistics fresh) are not in it."""
    if connection.vendor != "postgresql":
        pytest.skip("the query plans are PostgreSQL's")
    first, _second = locks
    codes = AccessCode.objects.bulk_create(
        AccessCode(
            organization=world.org,
            lock=first,
            holder=f"grant:{n}",
            name="LK test",
            code="135792",
            valid_from=T0 - dt.timedelta(days=45),
            valid_until=T0 - dt.timedelta(days=40),
            push_after=T0 - dt.timedelta(days=46),
            wanted=False,
            state="removed",
        )
        for n in range(5_000)
    )
    LockCommand.objects.bulk_create(
        LockCommand(
            organization=world.org,
            lock=first,
            access_code=c,
            kind=CommandKind.SYNC_CODE,
            status=CommandStatus.SUCCEEDED,
            created_at=T0 - dt.timedelta(days=40),
            prune_kept=True,
        )
        for c in codes
    )
    crossed = command(first, days=31)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE locks_lockcommand")
    step = RoutineCommandPrune(
        organization_id=world.org.pk, before=T0 - dt.timedelta(days=30), limit=500
    )
    with CaptureQueriesContext(connection) as ctx:
        assert step() == 1
    walk = ctx.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + walk)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lockcommand_routine_to_prune" in plan, plan
    assert "Seq Scan on locks_lockcommand" not in plan, plan
    assert exists(crossed) and LockCommand.objects.get(pk=crossed.pk).prune_kept
