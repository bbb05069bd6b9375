"""The minute's planning (`plan_due`) and the reconcile ticks do work in proportion to what is
due: their queries do not grow with rows that are not due, and, over random fleets and clock
steps (hypothesis), nothing due is ever skipped: every code that entered its horizon is
pushed, every ended code withdrawn, every lock read back within a period of its due time."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from locks.models import AccessCode, CodeState, Lock, LockCommand
from locks.sync.desired import plan_due
from locks.sync.schedule import reconcile_share, reconcile_tick

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2030, 3, 4, 9, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
STATES = [CodeState.PLANNED, CodeState.SETTING, CodeState.SET, CodeState.FAILED]


def code(lock, n: int, *, start: dt.timedelta, length: dt.timedelta, state: str, wanted=True):
    """A code on `lock` starting `start` after T0, pushed 2 h before it starts."""
    valid_from = T0 + start
    return AccessCode(
        organization_id=lock.organization_id,
        lock=lock,
        holder=f"test:{n}",
        name=f"T{n}",
        code=f"{100000 + n}",
        valid_from=valid_from,
        valid_until=valid_from + length,
        push_after=valid_from - 2 * HOUR,
        wanted=wanted,
        state=state,
        remote_id=str(n) if state == CodeState.SET else "",
    )


def not_due(lock, first: int, count: int) -> None:
    """Codes no run has anything to do with: set ones now, planned ones far ahead, history."""
    rows = []
    for n in range(first, first + count):
        kind = n % 3
        if kind == 0:
            rows.append(code(lock, n, start=-HOUR, length=5 * HOUR, state=CodeState.SET))
        elif kind == 1:
            rows.append(code(lock, n, start=30 * HOUR, length=HOUR, state=CodeState.PLANNED))
        else:
            rows.append(
                code(lock, n, start=-9 * HOUR, length=HOUR, state=CodeState.REMOVED, wanted=False)
            )
    AccessCode.objects.bulk_create(rows)


def overdue() -> list[AccessCode]:
    """Codes a run at T0 should have acted on and did not."""
    wanted = AccessCode.objects.filter(wanted=True)
    return list(
        wanted.filter(state=CodeState.PLANNED, push_after__lte=T0, valid_until__gt=T0)
    ) + list(wanted.filter(valid_until__lte=T0).exclude(state=CodeState.REMOVED))


def test_plan_due_costs_the_same_queries_with_10_or_200_codes_not_due(locks):
    lock = locks[0]

    def queries() -> int:
        AccessCode.objects.filter(holder__startswith="due:").delete()
        due = [code(lock, n, start=HOUR, length=HOUR, state=CodeState.PLANNED) for n in (1, 2)]
        due.append(code(lock, 3, start=-3 * HOUR, length=HOUR, state=CodeState.SET))
        for ac in due:
            ac.holder = f"due:{ac.holder}"
        AccessCode.objects.bulk_create(due)
        with CaptureQueriesContext(connection) as ctx:
            assert plan_due(now=T0, batch=2) == {"pushed": 2, "removed": 1}
        assert overdue() == []
        return len(ctx.captured_queries)

    not_due(lock, 100, 10)
    few = queries()
    not_due(lock, 1000, 190)
    assert queries() == few


def test_plan_due_works_through_more_than_one_batch(locks):
    AccessCode.objects.bulk_create(
        code(locks[n % 2], n, start=HOUR, length=HOUR, state=CodeState.PLANNED) for n in range(7)
    )
    assert plan_due(now=T0, batch=3) == {"pushed": 7, "removed": 0}
    assert set(AccessCode.objects.values_list("state", flat=True)) == {CodeState.SETTING}


fleet_codes = st.lists(
    st.tuples(
        st.integers(min_value=-30, max_value=30),  # start, hours after T0
        st.integers(min_value=1, max_value=24),  # length, hours
        st.sampled_from(STATES),
        st.integers(min_value=0, max_value=1),  # which lock
    ),
    min_size=1,
    max_size=25,
)
clock_steps = st.lists(st.integers(min_value=1, max_value=600), min_size=1, max_size=6)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=fleet_codes, steps=clock_steps, batch=st.integers(min_value=1, max_value=4))
def test_plan_due_never_skips_a_due_code(locks, rows, steps, batch):
    AccessCode.objects.all().delete()
    AccessCode.objects.bulk_create(
        code(locks[which], n, start=start * HOUR, length=length * HOUR, state=state)
        for n, (start, length, state, which) in enumerate(rows)
    )
    planned = set(AccessCode.objects.filter(state=CodeState.PLANNED).values_list("pk", flat=True))
    now = T0
    for minutes in steps:
        now += dt.timedelta(minutes=minutes)
        plan_due(now=now, batch=batch)
        wanted = AccessCode.objects.filter(wanted=True)
        assert not wanted.filter(state=CodeState.PLANNED, push_after__lte=now, valid_until__gt=now)
        assert not wanted.filter(valid_until__lte=now)  # ended: withdrawn
        # ... and nothing that is not due yet was pushed.
        early = AccessCode.objects.filter(pk__in=planned, push_after__gt=now)
        assert not early.exclude(state=CodeState.PLANNED)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    dues=st.lists(st.one_of(st.none(), st.integers(min_value=-3000, max_value=3000)), max_size=30),
    steps=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=40),
)
def test_reconcile_ticks_never_skip_a_due_lock(world, prop, settings, dues, steps):
    """Random fleets (due None, past or ahead) and uneven clock steps: each tick takes at most
    its share, takes the longest due first (None before any), and no lock stays due longer
    than a period plus a tick."""
    settings.LATCHKEY_RECONCILE_SECONDS, settings.LATCHKEY_RECONCILE_TICK_SECONDS = 600, 60
    LockCommand.objects.all().delete()
    Lock.objects.all().delete()
    made = Lock.objects.bulk_create(
        Lock(organization=world.org, property=prop, name=f"D{i}", driver="virtual")
        for i in range(len(dues))
    )
    for lock, seconds in zip(made, dues, strict=True):
        lock.reconcile_due_at = None if seconds is None else T0 + dt.timedelta(seconds=seconds)
    Lock.objects.bulk_update(made, ["reconcile_due_at"])
    share = reconcile_share(fleet=len(made), period=600, tick=60)
    ticks = 600 // 60
    waiting: dict[int, int] = {}  # lock -> ticks it has been due without being taken
    now = T0
    for seconds in steps:
        now += dt.timedelta(seconds=seconds)
        before = dict(Lock.objects.values_list("pk", "reconcile_due_at"))
        due = [pk for pk, at in before.items() if at is None or at <= now]
        with time_machine.travel(now, tick=False):
            reconcile_tick()
        after = dict(Lock.objects.values_list("pk", "reconcile_due_at"))
        taken = {pk for pk in after if after[pk] != before[pk]}
        assert len(taken) <= share
        assert taken <= set(due)  # nothing not due
        assert len(taken) == min(share, len(due))  # and no room left unused
        oldest = sorted(due, key=lambda pk: (before[pk] is not None, before[pk] or now, pk))
        assert taken == set(oldest[: len(taken)])  # None first, then the longest due
        assert all(after[pk] > now for pk in taken)
        # A due lock is taken within as many ticks as a period has: never skipped for good.
        waiting = {pk: waiting.get(pk, 0) + 1 for pk in due if pk not in taken}
        assert all(count < ticks for count in waiting.values()), waiting
    assert share == (math.ceil(len(made) / ticks) if made else 0)


def test_on_postgresql_plan_due_reads_codes_through_an_index(locks):
    """With thousands of codes that are not due (statistics fresh), neither of plan_due's
    SELECTs scans the codes table: each is answered from an index in its order."""
    if connection.vendor != "postgresql":
        pytest.skip("the query plans are PostgreSQL's")
    not_due(locks[0], 10_000, 6_000)
    AccessCode.objects.bulk_create(
        code(locks[1], n, start=HOUR, length=HOUR, state=CodeState.PLANNED) for n in range(3)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE locks_accesscode")
    with CaptureQueriesContext(connection) as ctx:
        assert plan_due(now=T0) == {"pushed": 3, "removed": 0}
    selects = [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].startswith("SELECT") and "FOR UPDATE" in q["sql"]
    ]
    assert len(selects) == 2  # one batch each way
    with connection.cursor() as cursor:
        for sql in selects:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Seq Scan" not in plan, plan
            assert "Index" in plan, plan
