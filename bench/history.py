"""History that does not grow, and iCal polls that keep their interval (issue 16), on
PostgreSQL, in-process.

Why: a reconcile round writes one command per lock (96 a lock a day: 960,000 a day for 10,000
locks) and every stay leaves a code per lock; the hourly retention task must delete at least
what a day adds, within its 24 runs of at most 120 s. The iCal poll must take a tick's share
of any number of feeds in about the same time per feed.

Data: LOCKS virtual locks, DAYS days of reconcile rounds (ROUNDS a day, all succeeded), CODES
ended codes (removed 100+ days ago, 2 syncs each); then FEEDS iCal feeds at two sizes.

Measured: the routine prune and the code fold as the retention task runs them, each timed
apart (rows per second, every kept row checked), then a whole retention run (nothing left:
how long the walk takes); for each feed count, one interval of poll ticks: ms per tick and
feeds per tick.

Targets: routine commands deleted >= 334 per second (960,000 a day in 24 x 120 s); codes
folded >= 200 per second; the commands left = the last 30 days' rounds; a tick's time per
queued feed at L within 2x of S; no tick over its cap and every feed queued once an interval.

Run: LATCHKEY_BENCH_REDIS=redis://127.0.0.1:6379 .venv/bin/python bench/history.py
     [--database NAME --broker-db N --cache-db N --locks 1000 --days 40 --rounds 24
      --codes 20000 --feeds 1000,10000]   (about two minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time

import _common as common

DATABASE = "latchkey_bench_history"


def seed(*, locks: int, days: int, rounds: int, codes: int, now: dt.datetime) -> dict:
    from locks.models import AccessCode, Lock, LockCommand
    from portal.services import organization_create
    from properties.services import property_create

    org, _, _ = organization_create(name="History Bench", owner_email="owner@bench.test")
    prop = property_create(organization=org, name="Block", timezone="Europe/Vienna")
    lock_rows = Lock.objects.bulk_create(
        Lock(organization=org, property=prop, name=f"Door {i}", driver="virtual")
        for i in range(locks)
    )
    step = dt.timedelta(hours=24 / rounds)
    for day in range(days):
        LockCommand.objects.bulk_create(
            (
                LockCommand(
                    organization=org,
                    lock=lock,
                    kind="reconcile",
                    status="succeeded",
                    created_at=now - dt.timedelta(days=days - day) + r * step,
                    finished_at=now - dt.timedelta(days=days - day) + r * step,
                )
                for r in range(rounds)
                for lock in lock_rows
            ),
            batch_size=5000,
        )
    day = dt.timedelta(days=1)
    ended = AccessCode.objects.bulk_create(
        (
            AccessCode(
                organization=org,
                lock=lock_rows[i % locks],
                holder=f"grant:{i}",
                name=f"LK{i}",
                code=f"{100000 + i % 900000}",
                valid_from=now - (103 + i % 200) * day,
                valid_until=now - (100 + i % 200) * day,
                push_after=now - (104 + i % 200) * day,
                wanted=False,
                state="removed",
                set_at=now - (103 + i % 200) * day,
            )
            for i in range(codes)
        ),
        batch_size=5000,
    )
    LockCommand.objects.bulk_create(
        (
            LockCommand(
                organization=org,
                lock_id=code.lock_id,
                access_code=code,
                kind="sync_code",
                status="succeeded",
                created_at=code.valid_from - k * day,
                finished_at=code.valid_from - k * day,
            )
            for code in ended
            for k in (0, 1)
        ),
        batch_size=5000,
    )
    return {"org": org, "prop": prop}


def poll_round(*, org, prop, feeds: int, now: dt.datetime) -> dict:
    """`feeds` feeds on their slots; one interval of ticks, timed."""
    from bookings.ical.models import IcalFeed
    from bookings.ical.schedule import feed_next_slot, poll_cap, poll_interval, poll_tick
    from bookings.ical.services import feeds_poll_due

    IcalFeed.objects.all().delete()
    interval, tick = poll_interval(), poll_tick()
    rows = IcalFeed.objects.bulk_create(
        (
            IcalFeed(
                organization=org,
                property=prop,
                url=f"https://calendar.example/{i}.ics",
                url_hash=f"{i:064d}",
                url_masked="https://calendar.example/…",
            )
            for i in range(feeds)
        ),
        batch_size=2000,
    )
    for feed in rows:  # as after a round: each on its own slot
        feed.next_fetch_at = feed_next_slot(feed_id=feed.pk, after=now)
    IcalFeed.objects.bulk_update(rows, ["next_fetch_at"], batch_size=2000)
    ms, counts, seen = [], [], set()
    at = now + dt.timedelta(seconds=tick)
    for _ in range(int(interval // tick)):
        start = time.perf_counter()
        ids = feeds_poll_due(now=at)
        ms.append(1000 * (time.perf_counter() - start))
        counts.append(len(ids))
        seen.update(ids)
        at += dt.timedelta(seconds=tick)
    return {
        "feeds": feeds,
        "cap": poll_cap(feeds=feeds),
        "tick_ms_mean": round(statistics.mean(ms), 1),
        "tick_ms_max": round(max(ms), 1),
        "per_tick_max": max(counts),
        "per_tick_min": min(counts),
        "ms_per_feed": round(sum(ms) / max(sum(counts), 1), 3),
        "queued_once": len(seen) == feeds == sum(counts),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--broker-db", type=int, default=3)
    parser.add_argument("--cache-db", type=int, default=4)
    parser.add_argument("--locks", type=int, default=1000)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=24)
    parser.add_argument("--codes", type=int, default=20_000)
    parser.add_argument("--feeds", default="1000,10000")
    args = parser.parse_args()
    env = common.bench_env(database=args.database, broker_db=args.broker_db, cache_db=args.cache_db)
    common.recreate_database(args.database)
    common.setup_django(env)
    common.migrate()
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from bookings.code_history import access_codes_fold
    from bookings.models import AccessCodeHistory
    from bookings.retention import BATCH_SIZE, retention_apply
    from locks.models import AccessCode, LockCommand
    from locks.retention import RoutineCommandPrune

    figures: dict = {}
    failures: list[str] = []
    try:
        now = timezone.now()
        world = seed(
            locks=args.locks, days=args.days, rounds=args.rounds, codes=args.codes, now=now
        )
        common.checkpoint()
        common.print_header("set-up")
        before = LockCommand.objects.count()
        common.print_figure("commands before", before)
        common.print_figure("machine busy before timing", f"{common.background_load():.0f}", "%")
        # The two kinds apart, as the hourly task runs them (batches of 500, one
        # transaction each), then the task itself, which should find nothing left.
        org = world["org"]
        start = time.perf_counter()
        prune = RoutineCommandPrune(
            organization_id=org.pk,
            before=now - dt.timedelta(days=settings.LATCHKEY_COMMAND_RETENTION_DAYS),
            limit=BATCH_SIZE,
        )
        while True:
            with transaction.atomic():
                if prune() < BATCH_SIZE:
                    break
        prune_seconds = time.perf_counter() - start
        start = time.perf_counter()
        cutoff = now - dt.timedelta(days=org.retention_guest_days + 7)
        folded = 0
        while n := access_codes_fold(organization=org, before=cutoff, limit=BATCH_SIZE):
            folded += n
        fold_seconds = time.perf_counter() - start
        done = {"routine_commands": prune.deleted, "codes_folded": folded}
        seconds = prune_seconds + fold_seconds
        start = time.perf_counter()
        again = retention_apply(now=now, budget_seconds=3600)
        again_seconds = time.perf_counter() - start
        keep_days = settings.LATCHKEY_COMMAND_RETENTION_DAYS
        expected_left = args.locks * args.rounds * min(args.days, int(keep_days))
        left = LockCommand.objects.count()
        deleted = done.get("routine_commands", 0)
        folded = done.get("codes_folded", 0)
        common.print_header(f"one retention run ({args.locks} locks, {args.days} days)")
        for kind, count in sorted(done.items()):
            common.print_figure(kind, count)
        common.print_figure("routine prune time", f"{prune_seconds:.1f}", "s")
        common.print_figure("code fold time", f"{fold_seconds:.1f}", "s")
        common.print_figure("commands left", left, target=f"{expected_left}")
        rate = deleted / prune_seconds if prune_seconds else 0
        fold_rate = folded / fold_seconds if fold_seconds else 0
        common.print_figure("routine commands deleted per second", f"{rate:.0f}", target=">= 334")
        common.print_figure("codes folded per second", f"{fold_rate:.0f}", target=">= 200")
        common.print_figure("second run (nothing left)", f"{again_seconds:.2f}", "s")
        figures.update(
            run_s=round(seconds, 2),
            again_s=round(again_seconds, 2),
            deleted_per_s=round(rate),
            folded_per_s=round(fold_rate),
            commands_before=before,
            commands_left=left,
            **done,
        )
        if left != expected_left:
            failures.append(f"{left} commands left, expected {expected_left}")
        if folded != args.codes or AccessCode.objects.exists():
            failures.append(f"folded {folded} codes of {args.codes}")
        if AccessCodeHistory.objects.count() != args.codes:
            failures.append("history rows missing")
        if rate < 334:
            failures.append(f"{rate:.0f} routine commands deleted per second (target 334)")
        if fold_rate < 200:
            failures.append(f"{fold_rate:.0f} codes folded per second (target 200)")
        if again.get("routine_commands", 0) or again.get("codes_folded", 0):
            failures.append("the second run still found work")

        common.print_header("iCal poll ticks over one interval")
        polls = []
        for feeds in (int(n) for n in args.feeds.split(",")):
            result = poll_round(org=world["org"], prop=world["prop"], feeds=feeds, now=now)
            polls.append(result)
            common.purge_redis(args.broker_db)
            common.print_figure(
                f"{feeds} feeds",
                f"{result['tick_ms_mean']} ms a tick (max {result['tick_ms_max']}), "
                f"{result['per_tick_min']}-{result['per_tick_max']} feeds a tick "
                f"(cap {result['cap']}), {result['ms_per_feed']} ms a feed",
            )
            if not result["queued_once"]:
                failures.append(f"{feeds} feeds: not every feed queued once in the interval")
            if result["per_tick_max"] > result["cap"]:
                failures.append(f"{feeds} feeds: a tick over its cap")
        figures["ical"] = polls
        if len(polls) >= 2:
            ratio = polls[-1]["ms_per_feed"] / max(polls[0]["ms_per_feed"], 1e-9)
            common.print_figure("ms a feed, L / S", f"{ratio:.2f}", target="<= 2")
            figures["ical_ratio"] = round(ratio, 2)
            if ratio > 2:
                failures.append(f"a tick's time per feed grew {ratio:.2f}x from S to L")
    finally:
        common.close_django_connections()
    return common.finish("history", figures, failures)


if __name__ == "__main__":
    common.exit_on_sigterm()
    sys.exit(main())
