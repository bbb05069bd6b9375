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
    return parser.parse_args()


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
    }


def main() -> int:
    args = parse_args()
    env = common.bench_env(database=DATABASE, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB, CACHE_DB)
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
        common.purge_redis(BROKER_DB, CACHE_DB)

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
