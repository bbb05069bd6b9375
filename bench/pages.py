"""Every main manager page at scale, with the dashboard benchmark's data set (500 properties,
1,000 locks, 20,000 bookings with grants and codes, failed commands, open alerts).

Why: a manager clicks through these pages all day, on a phone at the door too; each must
answer in under 300 ms of server time with a large operator's data, with a query count that
does not grow with it (web/tests/test_queries.py asserts the latter).

Each page is requested in-process with django.test.Client as the signed-in owner: one request
counts the SQL, then `--runs` requests are timed. The detail pages use the busiest objects
(the property with the most stays, its first lock, a stay with a failed code).

Run: .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import argparse
import statistics
import sys

import _common as common
from dashboard import TARGET_MS, count_queries, create_dataset, time_requests

DATABASE = "latchkey_bench_pages"
BROKER_DB = 14
CACHE_DB = 15


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="timed requests per page")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default=DATABASE, help="throw-away database (recreated)")
    parser.add_argument("--broker-db", type=int, default=BROKER_DB, help="Redis db (flushed)")
    parser.add_argument("--cache-db", type=int, default=CACHE_DB, help="Redis db (flushed)")
    return parser.parse_args()


def add_feature_rows(org) -> None:
    """The newer sections' rows at the same scale: an iCal feed and a standing access per
    property, a backup pool of 3 per lock (one given out), a step-up policy on every property,
    and a PMS connection with 20,000 deliveries, a quarter of them for 300 unmapped listings."""
    import datetime as dt

    from django.utils import timezone

    from bookings.ical.models import IcalFeed
    from bookings.models import AccessGrant, StandingAccess
    from bookings.pms.models import PmsConnection, PmsEvent
    from locks.models import BackupCode, Lock
    from properties.models import Property

    props = list(Property.objects.filter(organization=org))
    locks = list(Lock.objects.filter(organization=org))
    Lock.objects.filter(organization=org).update(backup_pool_size=3)
    Property.objects.filter(organization=org).update(step_up_verifier="email_code")
    IcalFeed.objects.bulk_create(
        [
            IcalFeed(organization=org, property=p, name="Airbnb",
                     url=f"https://www.airbnb.com/calendar/ical/{p.pk}.ics?s=x",
                     url_hash=str(p.pk), url_masked="https://www.airbnb.com/…s=x", status="ok")
            for p in props
        ]
    )  # fmt: skip
    standing = StandingAccess.objects.bulk_create(
        [
            StandingAccess(organization=org, property=p, name="Cleaning", code="357913",
                           from_time=dt.time(10), until_time=dt.time(14), weekdays=64 + 8)
            for p in props
        ]
    )  # fmt: skip
    by_prop: dict[int, list] = {}
    for lock in locks:
        by_prop.setdefault(lock.property_id, []).append(lock)
    StandingAccess.locks.through.objects.bulk_create(
        [
            StandingAccess.locks.through(standingaccess_id=a.pk, lock_id=lock.pk)
            for a in standing
            for lock in by_prop.get(a.property_id, [])
        ]
    )
    grant = AccessGrant.objects.filter(organization=org).first()
    BackupCode.objects.bulk_create(
        [
            BackupCode(organization=org, lock=lock, code=f"{i + 4}86357",
                       status="taken" if i == 0 else "available",
                       taken_by=grant.holder if i == 0 else "")
            for lock in locks
            for i in range(3)
        ]
    )  # fmt: skip
    conn = PmsConnection.objects.create(organization=org, kind="hostaway", name="Hostaway")
    now = timezone.now()
    PmsEvent.objects.bulk_create(
        [
            PmsEvent(organization=org, connection=conn, digest=str(i), body="{}",
                     received_at=now - dt.timedelta(seconds=i),
                     outcome="unmapped" if i % 4 == 0 else "applied",
                     listing_id=f"L{i % 1200}", external_id=f"R{i}")
            for i in range(20_000)
        ],
        batch_size=5000,
    )  # fmt: skip


def page_urls(org) -> dict[str, str]:
    from django.db.models import Count
    from django.urls import reverse

    from bookings.models import Booking
    from locks.models import AccessCode, LockEvent
    from properties.models import Property

    busiest = (
        Property.objects.filter(organization=org)
        .annotate(n=Count("bookings"))
        .order_by("-n", "pk")
        .first()
    )
    lock = busiest.locks.order_by("pk").first()
    # Give that lock a long activity log, as a real one has after months.
    from django.utils import timezone

    now = timezone.now()
    LockEvent.objects.bulk_create(
        [
            LockEvent(organization=org, lock=lock, kind=("unlock", "lock", "battery")[i % 3],
                      message="bench", occurred_at=now)
            for i in range(5000)
        ]
    )  # fmt: skip
    add_feature_rows(org)
    failed = AccessCode.objects.filter(organization=org, state="failed").first()
    booking = (
        Booking.objects.filter(grant__id=int(failed.holder.split(":")[1])).first()
        if failed
        else Booking.objects.filter(organization=org).first()
    )
    slug = org.slug
    return {
        "today": reverse("dashboard", kwargs={"slug": slug}),
        "properties": reverse("properties", kwargs={"slug": slug}),
        "property": reverse("property-page", kwargs={"slug": slug, "pk": busiest.pk}),
        "timeline": reverse("property-timeline", kwargs={"slug": slug, "pk": busiest.pk}),
        "locks": reverse("locks", kwargs={"slug": slug}),
        "lock": reverse("lock-page", kwargs={"slug": slug, "pk": lock.pk}),
        "lock csv": reverse("lock-events-csv", kwargs={"slug": slug, "pk": lock.pk}),
        "stays": reverse("stays", kwargs={"slug": slug}),
        "stays search": reverse("stays", kwargs={"slug": slug}) + "?q=guest&when=all",
        "stay": reverse("stay-page", kwargs={"slug": slug, "pk": booking.pk}),
        "emails": reverse("emails", kwargs={"slug": slug}),
        "integrations": reverse("integrations", kwargs={"slug": slug}),
        "settings": reverse("settings", kwargs={"slug": slug}),
        "standing new": reverse("standing-new", kwargs={"slug": slug, "pk": busiest.pk}),
    }


def main() -> int:
    args = parse_args()
    env = common.bench_env(database=args.database, broker_db=args.broker_db, cache_db=args.cache_db)
    common.recreate_database(args.database)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(args.broker_db, args.cache_db)
    results = {}
    try:
        from django.test import Client

        data = create_dataset(args.seed)
        common.print_header("data")
        common.print_figure("rows", data.counts)
        client = Client()
        client.force_login(data.owner)
        urls = page_urls(data.organization)
        for url in urls.values():
            client.get(url)  # templates and URL resolvers load once
        background = common.wait_for_quiet()
        for name, url in urls.items():
            queries, sql_ms, _slowest = count_queries(client, url)
            times = time_requests(client, url, warmup=args.warmup, runs=args.runs)
            results[name] = (url, queries, sql_ms, times)
    finally:
        common.close_django_connections()
        common.purge_redis(args.broker_db, args.cache_db)

    common.print_header("GET each page (in-process, signed-in owner)")
    common.print_figure("machine busy before timing", background, "% (100 = one core)")
    figures, failures = {**data.counts, "background_busy_pct": background}, []
    for name, (_url, queries, _sql_ms, times) in results.items():
        median, worst = statistics.median(times), max(times)
        common.print_figure(
            f"{name} ({queries} queries)",
            f"median {median:.1f} / max {worst:.1f}",
            "ms",
            f"< {TARGET_MS:.0f} ms",
        )
        figures[f"{name}_median_ms"] = round(median, 1)
        figures[f"{name}_max_ms"] = round(worst, 1)
        figures[f"{name}_queries"] = queries
        if median >= TARGET_MS:
            failures.append(f"{name}: median {median:.1f} ms >= {TARGET_MS:.0f} ms")
    return common.finish("pages", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
