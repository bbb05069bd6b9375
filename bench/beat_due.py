"""The beat tasks of issue 16's first part at two fleet sizes, in-process: plan-due-codes,
alert-codes-not-set, assign-backup-codes and one reconcile tick.

Why: each must cost what is due, not what the database holds. The dashboard benchmark's data
set (bench/dashboard.py: 500 properties, 1,000 locks, 20,000 bookings, ~40,000 codes) is size
S; nine more organizations like it make L (10x), with nothing due for the stays' tasks
(their codes in the horizon confirmed, their locks online), so L holds S's amount due in ten
times the rows. Each task runs twice at each size at the same frozen moment: the first run
does what is due, the second finds it done (alerts open, nothing new). A reconcile tick's
share grows with the fleet by design (1/N of it): its target is under 2 s at L. Prints wall time and
queries per run and the L / S ratios of the second runs. bench/fleet.py (the issue's full
benchmark) covers the rest of the issue; this one is the quick check of these four tasks.

Run: .venv/bin/python bench/beat_due.py [--database NAME]   (~6 min, most of it seeding)
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time

import _common as common
import dashboard

BROKER_DB = 13
CACHE_DB = 14


def seed_organization(n: int, rng: random.Random) -> dict[str, int]:
    from django.db import connection, transaction

    from portal.services import organization_create

    with transaction.atomic():
        org, _user, _pw = organization_create(
            name=f"Fleet {n}", owner_email=f"owner{n}@bench.invalid", owner_password="bench-123"
        )
        props, locks_by_property = dashboard.create_properties_and_locks(org, rng)
        bookings = dashboard.create_bookings(org, props, rng)
        _grants, codes = dashboard.create_grants_and_codes(org, bookings, locks_by_property, rng)
        dashboard.create_attention_items(org, codes, rng)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return {"locks": sum(len(v) for v in locks_by_property.values()), "codes": len(codes)}


def quiet_organization(n: int) -> None:
    """Leave an added organization nothing due for the stays' tasks: every code in its
    horizon confirmed, every lock online. L then has S's amount due in 10x the rows (the
    issue's target: L / S time at most 2 when the amount due is the same)."""
    from django.db import connection

    from locks.models import AccessCode, CodeState, Lock

    org_codes = AccessCode.objects.filter(organization__name=f"Fleet {n}", wanted=True)
    org_codes.exclude(state=CodeState.PLANNED).update(state=CodeState.SET, last_error="")
    Lock.objects.filter(organization__name=f"Fleet {n}").update(online=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(now) -> dict[str, tuple[float, int, object]]:
    """{task: (ms, queries, result)} for each task, run twice (first, then steady)."""
    import time_machine
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings.alerts import alert_unset_codes
    from bookings.backup import backup_codes_assign
    from locks.sync.desired import plan_due
    from locks.sync.schedule import reconcile_tick

    tasks = {
        "plan-due-codes": lambda: plan_due(now=now),
        "alert-codes-not-set": lambda: alert_unset_codes(now=now),
        "assign-backup-codes": lambda: backup_codes_assign(now=now),
        "reconcile-locks (one tick)": reconcile_tick,
    }
    out = {}
    # The seed's objects stay in this process: without this a full collection over them
    # lands in one timed run (as in bench/dashboard.py; a web process does the same).
    gc.collect()
    gc.freeze()
    with time_machine.travel(now, tick=False):
        for name, task in tasks.items():
            for run in ("first", "steady"):
                with CaptureQueriesContext(connection) as ctx:
                    started = time.perf_counter()
                    result = task()
                    ms = (time.perf_counter() - started) * 1000
                out[f"{name} [{run}]"] = (ms, len(ctx.captured_queries), result)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="latchkey_bench_beat_due")
    parser.add_argument("--orgs", type=int, default=10, help="organizations at size L")
    args = parser.parse_args()
    env = common.bench_env(database=args.database, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(args.database)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB, CACHE_DB)
    rng = random.Random(7)
    failures: list[str] = []
    try:
        from django.utils import timezone

        now = timezone.now()
        started = time.perf_counter()
        rows = seed_organization(0, rng)
        common.print_header(f"S: {rows} in {time.perf_counter() - started:.0f} s")
        small = measure(now)
        for n in range(1, args.orgs):
            seed_organization(n, rng)
            quiet_organization(n)
        common.print_header(f"L: {args.orgs} organizations like S, the 9 added with nothing due")
        large = measure(now)
    finally:
        common.close_django_connections()
        common.purge_redis(BROKER_DB, CACHE_DB)
    common.print_header("task [run]: S ms / queries -> L ms / queries, L/S time")
    figures = {}
    for name, (s_ms, s_q, s_res) in small.items():
        l_ms, l_q, l_res = large[name]
        ratio = l_ms / s_ms if s_ms else float("inf")
        common.print_figure(
            name, f"{s_ms:8.1f} ms {s_q:5} q -> {l_ms:8.1f} ms {l_q:5} q   x{ratio:.2f}"
        )
        common.print_figure("   results", f"{s_res} -> {l_res}")
        figures[name] = {"S_ms": round(s_ms, 1), "L_ms": round(l_ms, 1), "S_q": s_q, "L_q": l_q}
        if name.endswith("[steady]") and not name.startswith("reconcile") and ratio > 2:
            failures.append(f"{name}: L/S {ratio:.2f} > 2")
        if name.startswith("reconcile") and l_ms > 2000:
            failures.append(f"{name}: {l_ms:.0f} ms > 2 s at L")
    return common.finish("beat_due", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
