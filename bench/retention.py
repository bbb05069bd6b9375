"""Retention: how fast one run of `bookings.retention.retention_apply` (the hourly beat task)
deletes and anonymises, on PostgreSQL, in its batches of 500.

Why: an installation that turns retention on for the first time has months of lock events and
raw deliveries to delete and thousands of past stays to anonymise; the task must get through
them in a few runs without long transactions.

Data (one organization, two virtual locks): STAYS past stays (checked out 100-300 days ago)
each with a grant, a code on both locks, a kept email and 3 log entries naming the guest;
EVENTS lock events older than 13 months; PMS raw PMS events older than 30 days; plus the same
amounts that are recent (kept). Then one run with no time budget; every row is checked.

Targets: all old rows gone, every recent row kept; at least 20 stays anonymised and 1,000
rows deleted per second (on the shared 2-core box; a run's budget is 120 s).

Run: .venv/bin/python bench/retention.py   (about a minute)
     [--database NAME --broker-db N --cache-db N --stays 2000 --events 100000 --pms 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time

import _common as common

DATABASE = "latchkey_bench_retention"


def seed(*, stays: int, events: int, pms: int, now: dt.datetime) -> dict:
    from bookings.models import AccessGrant, Booking, GuestEmail
    from bookings.pms.models import PmsConnection, PmsEvent
    from locks.models import AccessCode, LockEvent
    from locks.services import lock_create
    from portal.services import organization_create
    from properties.services import property_create

    org, _, _ = organization_create(name="Retention Bench", owner_email="owner@bench.test")
    prop = property_create(organization=org, name="Flat", timezone="Europe/Vienna")
    locks = [
        lock_create(organization=org, property=prop, name=f"Door {i}", driver="virtual")
        for i in range(2)
    ]
    day = dt.timedelta(days=1)
    bookings = Booking.objects.bulk_create(
        Booking(
            organization=org,
            property=prop,
            external_id=f"R-{i}",
            status="confirmed",
            guest_name=f"Guest Number {i}",
            guest_email=f"g{i}@example.com",
            guest_phone="+43 660 1234567",
            check_in=(now - (100 + i % 200) * day - 3 * day).date(),
            check_out=(now - (100 + i % 200) * day).date(),
        )
        for i in range(stays * 2)
    )
    old, recent = bookings[:stays], bookings[stays:]
    for b in recent:  # checked out 10 days ago: kept
        b.check_in, b.check_out = (now - 13 * day).date(), (now - 10 * day).date()
    Booking.objects.bulk_update(recent, ["check_in", "check_out"], batch_size=1000)
    grants = AccessGrant.objects.bulk_create(
        AccessGrant(
            organization=org,
            booking=b,
            code=f"{100000 + b.pk % 900000}",
            valid_from=dt.datetime.combine(b.check_in, dt.time(13), dt.UTC),
            valid_until=dt.datetime.combine(b.check_out, dt.time(10), dt.UTC),
        )
        for b in bookings
    )
    codes, logs, emails = [], [], []
    for grant, b in zip(grants, bookings, strict=True):
        name = f"LK{grant.pk} {b.guest_name}"[:20]
        for lock in locks:
            codes.append(
                AccessCode(
                    organization=org,
                    lock=lock,
                    holder=grant.holder,
                    name=name,
                    code=grant.code,
                    valid_from=grant.valid_from,
                    valid_until=grant.valid_until,
                    push_after=grant.valid_from,
                    wanted=False,
                    state="removed",
                )
            )
        for k in range(3):
            logs.append(
                LockEvent(
                    organization=org,
                    lock=locks[k % 2],
                    kind="log:nuki_web",
                    message=name,
                    detail={"name": name},
                    occurred_at=grant.valid_from + k * dt.timedelta(hours=5),
                )
            )
        emails.append(
            GuestEmail(
                organization=org,
                booking=b,
                kind="access",
                to=b.guest_email,
                language="en",
                subject="Your door code",
                body_text=f"Hello {b.guest_name}",
                body_html=f"<p>Hello {b.guest_name}</p>",
                valid_from=grant.valid_from,
                valid_until=grant.valid_until,
            )
        )
    AccessCode.objects.bulk_create(codes, batch_size=2000)
    LockEvent.objects.bulk_create(logs, batch_size=2000)
    GuestEmail.objects.bulk_create(emails, batch_size=2000)
    for age_days in (400, 300):  # old (pruned) and recent (kept)
        LockEvent.objects.bulk_create(
            (
                LockEvent(
                    organization=org,
                    lock=locks[i % 2],
                    kind="state",
                    message="battery: 80",
                    occurred_at=now - age_days * day - i * dt.timedelta(seconds=1),
                )
                for i in range(events)
            ),
            batch_size=5000,
        )
    conn = PmsConnection.objects.create(organization=org, kind="generic", name="PMS")
    for age_days in (40, 10):
        PmsEvent.objects.bulk_create(
            (
                PmsEvent(
                    organization=org,
                    connection=conn,
                    digest=f"{age_days}-{i}",
                    body='{"guest": {"name": "Guest Number 1", "email": "g1@example.com"}}',
                    received_at=now - age_days * day,
                    outcome="applied",
                )
                for i in range(pms)
            ),
            batch_size=5000,
        )
    return {"org": org, "old": [b.pk for b in old], "recent": [b.pk for b in recent]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--broker-db", type=int, default=5)
    parser.add_argument("--cache-db", type=int, default=6)
    parser.add_argument("--stays", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--pms", type=int, default=20_000)
    args = parser.parse_args()
    env = common.bench_env(database=args.database, broker_db=args.broker_db, cache_db=args.cache_db)
    common.recreate_database(args.database)
    common.setup_django(env)
    common.migrate()
    from django.utils import timezone

    from bookings.models import AccessCodeHistory, Booking
    from bookings.pms.models import PmsEvent
    from bookings.retention import ANONYMISED_NAME, BATCH_SIZE, guests_anonymise, retention_apply
    from locks.models import AccessCode, LockEvent

    figures: dict = {}
    failures: list[str] = []
    try:
        now = timezone.now()
        world = seed(stays=args.stays, events=args.events, pms=args.pms, now=now)
        common.checkpoint()
        common.print_header("set-up")
        busy = common.background_load()
        common.print_figure("machine busy before timing", f"{busy:.0f}", "% (100 = one core)")
        # The two halves of one run, timed apart: anonymising (many small statements per
        # stay) and deleting (one statement per batch of 500).
        start = time.perf_counter()
        anonymised = 0
        while n := guests_anonymise(organization=world["org"], now=now, limit=BATCH_SIZE):
            anonymised += n
        guest_seconds = time.perf_counter() - start
        start = time.perf_counter()
        done = retention_apply(now=now, budget_seconds=3600)
        delete_seconds = time.perf_counter() - start
        done["guests"] = done.get("guests", 0) + anonymised
        deleted = sum(v for k, v in done.items() if k != "guests")
        common.print_header(f"one run ({args.stays} stays, {args.events} events, {args.pms} PMS)")
        for kind, count in sorted(done.items()):
            common.print_figure(kind, count)
        stays_rate = anonymised / guest_seconds if guest_seconds else 0
        delete_rate = deleted / delete_seconds if delete_seconds else 0
        common.print_figure("stays anonymised per second", f"{stays_rate:.0f}", target=">= 20")
        common.print_figure("rows deleted per second", f"{delete_rate:.0f}", target=">= 1000")
        figures.update(
            guest_seconds=round(guest_seconds, 2),
            delete_seconds=round(delete_seconds, 2),
            stays_per_s=round(stays_rate),
            deleted_per_s=round(delete_rate),
            **done,
        )
        if done.get("guests") != args.stays:
            failures.append(f"anonymised {done.get('guests')} stays, expected {args.stays}")
        if done.get("lock_events") != args.events:
            failures.append(f"pruned {done.get('lock_events')} lock events, not {args.events}")
        if done.get("pms_events") != args.pms:
            failures.append(f"pruned {done.get('pms_events')} PMS events, not {args.pms}")
        left = Booking.objects.filter(pk__in=world["old"]).exclude(guest_name=ANONYMISED_NAME)
        if left.exists():
            failures.append("an old stay kept its guest")
        if Booking.objects.filter(pk__in=world["recent"], guest_name=ANONYMISED_NAME).exists():
            failures.append("a recent stay was anonymised")
        # Old stays' codes (ended 100+ days ago) are folded into history, recent ones stay.
        if AccessCode.objects.count() != 2 * args.stays:
            failures.append("recent codes lost, or old ones not folded")
        if AccessCodeHistory.objects.count() != 2 * args.stays:
            failures.append("code history rows lost")
        if (
            LockEvent.objects.filter(message__contains="Guest Number")
            .exclude(occurred_at__gt=now - dt.timedelta(days=30))
            .exists()
        ):
            failures.append("a log entry still names an anonymised guest")
        if LockEvent.objects.filter(kind="state").count() != args.events:
            failures.append("recent lock events lost")
        if PmsEvent.objects.count() != args.pms:
            failures.append("recent PMS events lost")
        if anonymised and stays_rate < 20:
            failures.append(f"{stays_rate:.0f} stays anonymised per second (target 20)")
        if deleted and delete_rate < 1000:
            failures.append(f"{delete_rate:.0f} rows deleted per second (target 1000)")
    finally:
        common.close_django_connections()
    return common.finish("retention", figures, failures)


if __name__ == "__main__":
    common.exit_on_sigterm()
    sys.exit(main())
