"""iCal feed polling: what one worker spends per feed, new, unchanged, 304 and changed.

Why: every feed is polled every LATCHKEY_ICAL_POLL_SECONDS (15 min by default) whatever
happens, and many channels (Airbnb among them) answer without ETag or Last-Modified, so the
steady-state cost is "download, parse and compare a feed that did not change". This sets how
many feeds one worker can keep up with.

Set-up: a fresh database; 50 properties (Europe/Vienna) with two zero-delay virtual locks each,
one feed each, served by a real HTTP server on loopback (private URLs allowed, as a self-hoster
would). Each feed holds 40 Airbnb-shaped reservations (phone last-4, reservation URL) and 10
"Airbnb (Not available)" blocks over the next ten months. Fetches run in this process through
the same service the Celery task calls (`feed_fetch`); lock commands are queued to Redis and not
consumed (the lock side is measured by latency.py).

Phases, each over all 50 feeds, one after another (one worker):
- first fetch: 2,000 new stays, each with a grant and a code planned on two locks;
- unchanged, no validators: the same bodies again, full download + parse + no-op upserts;
- unchanged, 304: the server now sends an ETag; the next fetch revalidates, then one more
  fetch is answered 304 (the figure is that last one);
- changed: in every feed one stay vanishes and one moves by a day.

Target: an unchanged 50-event feed without validators costs < 250 ms (one worker then keeps up
with 3,600 such feeds per 15-minute interval).

Run: .venv/bin/python bench/ical_feeds.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time

import _common as common

DATABASE = "latchkey_bench_ical"
BROKER_DB = 15
CACHE_DB = 15
TARGET_UNCHANGED_MS = 250.0


def feed_body(index: int, stays: int, blocks: int, *, shift: bool = False) -> bytes:
    today = dt.date.today()
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Airbnb Inc//Hosting Calendar 1.0//EN", "VERSION:2.0"]
    day = today + dt.timedelta(days=1)
    for n in range(stays):
        start, end = day, day + dt.timedelta(days=3)
        day = end + dt.timedelta(days=1)
        if shift and n == 1:
            end += dt.timedelta(days=1)  # a late check-out: same-day turnover with the next
        if not (shift and n == 0):  # when shifted, the first stay has vanished
            lines += [
                "BEGIN:VEVENT",
                f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
                f"DTEND;VALUE=DATE:{end:%Y%m%d}",
                f"UID:bench-{index}-{n}@airbnb.com",
                "SUMMARY:Reserved",
                "DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/"
                f"details/HM{index:04}{n:04}\\nPhone Number (Last 4 Digits): {1000 + n}",
                "END:VEVENT",
            ]
        if n < blocks:
            lines += [
                "BEGIN:VEVENT",
                f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
                f"UID:block-{index}-{n}@airbnb.com",
                "SUMMARY:Airbnb (Not available)",
                "END:VEVENT",
            ]
            day += dt.timedelta(days=2)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def setup_data(server, feeds: int, stays: int, blocks: int) -> list[int]:
    from bookings.ical.models import IcalFeed
    from bookings.ical.services import mask_url, url_hash
    from locks.models import Lock
    from portal.services import organization_create
    from portal.tests.local_http import Answer
    from properties.models import Property

    org, _, _ = organization_create(name="Bench Feeds", owner_email="feeds@bench.test")
    ids = []
    for i in range(feeds):
        prop = Property.objects.create(organization=org, name=f"Flat {i}", timezone="Europe/Vienna")
        for n in range(2):
            Lock.objects.create(
                organization=org,
                property=prop,
                name=f"Door {n}",
                driver="virtual",
                config={"delay_ms": 0},
            )
        path = f"/feed/{i}.ics"
        server.answers[path] = Answer(body=feed_body(i, stays, blocks))
        url = server.url(path) + "?s=benchsecret"
        # Created directly (not feed_create) so that no first fetch is queued to Celery.
        feed = IcalFeed.objects.create(
            organization=org,
            property=prop,
            url=url,
            url_hash=url_hash(url),
            url_masked=mask_url(url),
        )
        ids.append(feed.pk)
    return ids


def run_phase(ids: list[int], check) -> tuple[list[float], float]:
    from bookings.ical.services import feed_fetch

    times = []
    cpu0 = time.process_time()
    for feed_id in ids:
        t0 = time.perf_counter()
        report = feed_fetch(feed_id=feed_id)
        times.append(1000 * (time.perf_counter() - t0))
        check(report)
    return times, time.process_time() - cpu0


def report_phase(title: str, times: list[float], cpu: float, per: str = "feed") -> dict:
    common.print_header(title)
    median, p95 = statistics.median(times), common.percentile(times, 95)
    common.print_figure(f"time per {per}, median", f"{median:.1f}", "ms")
    common.print_figure(f"time per {per}, p95", f"{p95:.1f}", "ms")
    common.print_figure("script CPU per feed", f"{1000 * cpu / len(times):.1f}", "ms")
    return {"median_ms": round(median, 1), "p95_ms": round(p95, 1)}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=50)
    parser.add_argument("--stays", type=int, default=40, help="reservations per feed")
    parser.add_argument("--blocks", type=int, default=10, help="blocked events per feed")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    env = common.bench_env(
        database=DATABASE,
        broker_db=BROKER_DB,
        cache_db=CACHE_DB,
        LATCHKEY_ALLOW_PRIVATE_URLS="true",
        LATCHKEY_ICAL_MAX_BYTES="20000000",
    )
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB)
    from portal.tests.local_http import Answer, LocalServer

    figures: dict = {"feeds": args.feeds, "stays_per_feed": args.stays}
    failures: list[str] = []
    try:
        with LocalServer() as server:
            ids = setup_data(server, args.feeds, args.stays, args.blocks)
            background = common.wait_for_quiet()
            common.print_header("set-up")
            common.print_figure("machine busy before timing", background, "% (100 = one core)")
            common.print_figure("feed size", len(feed_body(0, args.stays, args.blocks)), "bytes")

            def created_all(report):
                assert report.status == "ok" and report.created == args.stays, report

            times, cpu = run_phase(ids, created_all)
            first = report_phase(f"first fetch ({args.stays} new stays per feed)", times, cpu)
            total_s = sum(times) / 1000
            stays_per_s = args.feeds * args.stays / total_s
            common.print_figure("new stays per second", f"{stays_per_s:.0f}")
            figures["first"] = {**first, "stays_per_s": round(stays_per_s)}

            def unchanged(report):
                assert report.status == "ok" and report.created == report.updated == 0, report

            times, cpu = run_phase(ids, unchanged)
            same = report_phase("unchanged, no ETag/Last-Modified", times, cpu)
            per_interval = 900_000 / same["median_ms"]
            common.print_figure(
                "median", f"{same['median_ms']:.1f}", "ms", f"< {TARGET_UNCHANGED_MS:.0f} ms"
            )
            common.print_figure("feeds one worker polls per 15 min", f"{per_interval:.0f}")
            figures["unchanged"] = {**same, "feeds_per_15min": round(per_interval)}
            if same["median_ms"] >= TARGET_UNCHANGED_MS:
                failures.append(f"unchanged feed {same['median_ms']} ms >= {TARGET_UNCHANGED_MS}")

            for i in range(args.feeds):
                path = f"/feed/{i}.ics"
                server.answers[path] = Answer(body=server.answers[path].body, etag=f'"bench-{i}"')
            run_phase(ids, unchanged)  # picks up the ETags

            def not_modified(report):
                assert report.status == "not_modified", report

            times, cpu = run_phase(ids, not_modified)
            figures["not_modified"] = report_phase("unchanged, answered 304", times, cpu)

            for i in range(args.feeds):
                path = f"/feed/{i}.ics"
                server.answers[path] = Answer(
                    body=feed_body(i, args.stays, args.blocks, shift=True)
                )

            def changed(report):
                assert report.status == "ok" and report.updated == 1 and report.missing == 1, report

            times, cpu = run_phase(ids, changed)
            figures["changed"] = report_phase("one stay moved, one missing", times, cpu)
    finally:
        common.close_django_connections()
        common.purge_redis(BROKER_DB)
    return common.finish("ical_feeds", figures, failures)


if __name__ == "__main__":
    common.exit_on_sigterm()
    sys.exit(main())
