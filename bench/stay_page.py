"""The guest's stay page: what a guest waits for when they open the link and press "Open".

Why: the page is opened on a phone at the door, often on a poor connection; the server's part
must be small and must not grow with the organization's data (no query per stay, per lock or
per event). 100 properties with 2 virtual locks each and 5,000 stays with their grants and
stay links are bulk-written to a fresh database; then, in-process with django.test.Client:
- GET /stay/<token>/ for 20 stays inside their window (query count once, then timed),
- POST /stay/<token>/open/ (queues the remote action in the outbox and publishes it to the
  Redis broker; no worker consumes it here: bench/bridge_actions.py measures the lock side),
- GET /stay/<unknown>/ (the 404 a guesser gets).

Run: .venv/bin/python bench/stay_page.py [--database NAME --broker-db N --cache-db N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import sys
import time

import _common as common

PROPERTIES = 100
STAYS = 5_000
MEASURED = 20
TARGET_MS = 100.0
BATCH = 5_000


def create_dataset(seed: int) -> tuple[list[str], dict[str, int]]:
    """Returns the tokens of stays that are on now, and the row counts."""
    from django.db import connection, transaction
    from django.utils import timezone

    from bookings.codes import draw_code
    from bookings.models import AccessGrant, Booking, StayLink
    from bookings.stay.links import _fresh, _token_for, token_hash
    from locks.models import Lock
    from portal.services import organization_create
    from properties.models import Property

    rng = random.Random(seed)
    now = timezone.now()
    with transaction.atomic():
        org, _, _ = organization_create(name="Bench Stay", owner_email="owner@stay.invalid")
        props = Property.objects.bulk_create(
            [
                Property(
                    organization=org,
                    name=f"Flat {i:03}",
                    timezone="Europe/Vienna",
                    address=f"Street {i}\n1010 Wien",
                    house_instructions="Second floor, left. " * 5,
                )
                for i in range(PROPERTIES)
            ]
        )
        Lock.objects.bulk_create(
            [
                Lock(organization=org, property=p, name=f"Door {n}", driver="virtual")
                for p in props
                for n in (1, 2)
            ]
        )
        bookings, windows = [], []
        for i in range(STAYS):
            start = now + dt.timedelta(days=rng.randint(-200, 200))
            end = start + dt.timedelta(days=rng.randint(1, 10))
            if i < MEASURED:  # on now
                start, end = now - dt.timedelta(days=1), now + dt.timedelta(days=2)
            windows.append((start, end))
            bookings.append(
                Booking(
                    organization=org,
                    property=props[i % PROPERTIES],
                    source="bench",
                    external_id=f"s{i}",
                    status="confirmed",
                    guest_name=f"Guest {i}",
                    guest_email=f"g{i}@stay.invalid",
                    guest_language="de" if i % 2 else "en",
                    check_in=start.date(),
                    check_out=end.date(),
                )
            )
        bookings = Booking.objects.bulk_create(bookings, batch_size=BATCH)
        grants = AccessGrant.objects.bulk_create(
            [
                AccessGrant(
                    organization=org,
                    booking=b,
                    code=draw_code(),
                    valid_from=w[0],
                    valid_until=w[1],
                )
                for b, w in zip(bookings, windows, strict=True)
            ],
            batch_size=BATCH,
        )
        links, tokens = [], []
        for grant in grants:
            nonce, hashed = _fresh()
            links.append(
                StayLink(organization=org, grant=grant, nonce=nonce, token_hash=hashed)
            )
            tokens.append(_token_for(nonce))
            assert token_hash(tokens[-1]) == hashed
        StayLink.objects.bulk_create(links, batch_size=BATCH)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    counts = {"properties": PROPERTIES, "locks": 2 * PROPERTIES, "stays": STAYS}
    return tokens[:MEASURED], counts


def timed(call, runs: int) -> list[float]:
    out = []
    for i in range(runs):
        started = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", default="latchkey_bench_stay")
    parser.add_argument("--broker-db", type=int, default=3)
    parser.add_argument("--cache-db", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    env = common.bench_env(
        database=args.database,
        broker_db=args.broker_db,
        cache_db=args.cache_db,
        LATCHKEY_STAY_OPEN_RATE="100000/h",
        LATCHKEY_STAY_IP_RATE="100000/h",
        LATCHKEY_STAY_MISS_RATE="100000/h",
    )
    common.exit_on_sigterm()
    common.recreate_database(args.database)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(args.broker_db, args.cache_db)
    try:
        import logging

        from django.db import connection
        from django.test import Client

        logging.getLogger("django.request").setLevel(logging.ERROR)  # the 404s are on purpose
        from django.test.utils import CaptureQueriesContext

        tokens, counts = create_dataset(args.seed)
        client = Client()
        pages = {t: client.get(f"/stay/{t}/").content.decode() for t in tokens}  # warm-up
        with CaptureQueriesContext(connection) as page_queries:
            assert client.get(f"/stay/{tokens[0]}/").status_code == 200
        page_query_count = len(page_queries.captured_queries)  # before the next request resets it
        background = common.wait_for_quiet()

        def get_page(i: int) -> None:
            assert client.get(f"/stay/{tokens[i % len(tokens)]}/").status_code == 200

        def open_door(i: int) -> None:
            token = tokens[i % len(tokens)]
            door = re.search(r'name="door" value="([0-9a-f]+)"', pages[token]).group(1)
            response = client.post(f"/stay/{token}/open/", {"door": door})
            assert response.status_code == 303, response.status_code

        def miss(i: int) -> None:
            assert client.get(f"/stay/{'x' * 40}{i:03}/").status_code == 404

        with CaptureQueriesContext(connection) as open_queries:
            open_door(0)
        open_query_count = len(open_queries.captured_queries)
        page_ms = timed(get_page, 60)
        open_ms = timed(open_door, 60)
        miss_ms = timed(miss, 60)
        page_bytes = len(pages[tokens[0]].encode())
    finally:
        common.close_django_connections()
        common.purge_redis(args.broker_db, args.cache_db)

    common.print_header("data")
    common.print_figure("rows", counts)
    common.print_figure("machine busy before timing", background, "% (100 = one core)")
    figures = {**counts, "background_busy_pct": background, "page_bytes": page_bytes}
    failures = []
    for label, key, values, queries in [
        ("GET /stay/<token>/", "page", page_ms, page_query_count),
        ("POST /stay/<token>/open/", "open", open_ms, open_query_count),
        ("GET /stay/<unknown>/ (404)", "miss", miss_ms, None),
    ]:
        median, p95 = statistics.median(values), common.percentile(values, 95)
        common.print_header(f"{label} (in-process, {len(values)} requests)")
        if queries is not None:
            common.print_figure("SQL queries per request", queries)
            figures[f"{key}_queries"] = queries
        common.print_figure("median", f"{median:.1f}", "ms", f"< {TARGET_MS:.0f} ms")
        common.print_figure("p95", f"{p95:.1f}", "ms")
        figures[f"{key}_median_ms"] = round(median, 1)
        figures[f"{key}_p95_ms"] = round(p95, 1)
        if median >= TARGET_MS:
            failures.append(f"{label}: median {median:.1f} ms >= {TARGET_MS:.0f} ms")
    common.print_figure("page size", page_bytes, "bytes")
    return common.finish("stay_page", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
