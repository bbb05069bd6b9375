"""PMS webhooks: 10,000 deliveries across all six adapters, 20 % duplicates, 10 % out of order,
processed by one real Celery worker with zero wrong final states.

Why: a PMS retries (duplicates) and its deliveries overtake each other (out of order); what
counts is that every booking ends in the state the PMS last gave it, and how many deliveries
one worker process gets through.

The path is the production one: deliveries signed or authenticated as each PMS does it
(Hostaway basic auth, Guesty Svix signature, Smoobu bare URL, Lodgify ms-signature, Hospitable
Signature, generic X-Latchkey-Signature), POSTed over HTTP to gunicorn, verified and stored raw
(PmsEvent) with a Celery message in Redis; then ONE `celery worker --concurrency 1` process
applies them: PmsReservation ordering, booking upsert, AccessGrant, desired codes on the lock.

Plan (seeded, deterministic): reservations spread over 100 properties (one virtual lock each,
stays 10-300 days ahead so the codes are planned but not yet pushed: the figure is PMS
processing, not lock traffic), each with 1-4 versions in the PMS's order (create, date
changes, payment, sometimes a cancellation). Deliveries:
- 8,000 unique bodies + 2,000 byte-identical repeats (20 %), the repeats at random later places
  of the same reservation's stream;
- 1,000 deliveries (10 %) arrive after a newer version of their reservation: adjacent
  versions swapped, so creates arrive after their updates and old updates after newer ones.
  Only adapters whose payload carries the PMS's modification time are swapped: Lodgify's
  booking object has none, so its deliveries are ordered by receipt (documented rule, tested
  in bookings/tests/test_pms_webhooks.py) and arrive in order here.
Each reservation's deliveries go through one client lane in plan order (8 lanes in parallel).

Phase 1: all deliveries are sent with no worker running (the events wait in Redis):
receipt rate through gunicorn. Phase 2: one worker starts; events processed per second
(first to last processed_at) and the wall time until nothing is pending. Then every booking
is checked against the state its PMS last gave it: status (unpaid -> tentative), dates,
property, and an active grant exactly for the confirmed ones.

Targets: 0 wrong final states, every delivery answered 2xx, every event processed.

Run: .venv/bin/python bench/pms_webhooks.py   (about 4 minutes)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import _common as common
import httpx2
from latency import wait_for_worker

DATABASE = "latchkey_bench_pms"
BROKER_DB = 3
CACHE_DB = 4
PROPERTIES = 100
KINDS = ["hostaway", "guesty", "smoobu", "lodgify", "hospitable", "generic"]
GUESTY_SECRET = "whsec_YmVuY2gtZ3Vlc3R5LXNpZ25pbmcta2V5LTAwMQ=="
T0 = dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)


@dataclass
class Reservation:
    kind: str
    external_id: str
    versions: list = field(default_factory=list)  # pms_samples.Stay, in the PMS's order
    sent: list[int] = field(default_factory=list)  # version index of each delivery, in order
    duplicate: list[bool] = field(default_factory=list)


# Plan ---------------------------------------------------------------------------------------


def plan(total: int, dup_share: float, ooo_share: float, seed: int) -> list[Reservation]:
    from bookings.tests.pms_samples import VERSIONED, Stay

    rng = random.Random(seed)
    unique_target = round(total * (1 - dup_share))
    reservations: list[Reservation] = []
    unique = 0
    today = dt.date.today()
    while unique < unique_target:
        kind = KINDS[len(reservations) % len(KINDS)]
        res = Reservation(kind=kind, external_id=str(500000 + len(reservations)))
        count = min(rng.randint(1, 4), unique_target - unique)
        check_in = today + dt.timedelta(days=rng.randint(10, 300))
        nights = rng.randint(1, 7)
        listing = str(7000 + rng.randrange(PROPERTIES))
        paid = rng.random() > 0.2
        modified = T0 + dt.timedelta(minutes=rng.randint(0, 10_000))
        status = "confirmed"
        for v in range(count):
            if v:
                modified += dt.timedelta(minutes=rng.randint(1, 600))
                change = rng.random()
                if change < 0.35:
                    nights = max(1, nights + rng.choice([-2, -1, 1, 2, 3]))
                elif change < 0.55:
                    check_in += dt.timedelta(days=rng.choice([-3, -1, 1, 2, 5]))
                elif change < 0.75:
                    paid = True
                elif change < 0.85:
                    listing = str(7000 + rng.randrange(PROPERTIES))  # moved to another flat
                if v == count - 1 and rng.random() < 0.2:
                    status = "cancelled"
            res.versions.append(
                Stay(
                    id=res.external_id,
                    listing=listing,
                    check_in=check_in,
                    check_out=check_in + dt.timedelta(days=nights),
                    status=status,
                    paid=paid,
                    modified=modified,
                    first_name=f"Guest{res.external_id}",
                    last_name=f"V{v}",
                    email=f"g{res.external_id}@bench.invalid",
                )
            )
        res.sent = list(range(count))
        res.duplicate = [False] * count
        reservations.append(res)
        unique += count

    # Out of order: swap adjacent versions of reservations whose PMS states its versions.
    ooo_target = round(total * ooo_share)
    candidates = [r for r in reservations if r.kind in VERSIONED and len(r.sent) >= 2]
    rng.shuffle(candidates)
    swapped = 0
    for res in candidates:
        if swapped >= ooo_target:
            break
        i = rng.randrange(len(res.sent) - 1)
        res.sent[i], res.sent[i + 1] = res.sent[i + 1], res.sent[i]
        swapped = sum(late_count(r) for r in reservations)
    # Duplicates: a repeat of an already sent body, later in the same reservation's stream.
    dup_target = total - unique
    for _ in range(dup_target):
        res = rng.choice(reservations)
        pos = rng.randrange(len(res.sent))
        insert_at = rng.randint(pos + 1, len(res.sent))
        res.sent.insert(insert_at, res.sent[pos])
        res.duplicate.insert(insert_at, True)
    return reservations


def late_count(res: Reservation) -> int:
    """Deliveries (first sendings, not repeats) of a version older than one already sent."""
    newest, late = -1, 0
    for version, dup in zip(res.sent, res.duplicate, strict=True):
        if dup:
            continue
        if version < newest:
            late += 1
        newest = max(newest, version)
    return late


def expected(kind: str, stay) -> tuple[str, bool]:
    """(booking status, has an active grant) the PMS's state should end in."""
    if stay.status == "cancelled":
        return "cancelled", False
    if kind != "hospitable" and not stay.paid:  # Hospitable's payload says nothing of payment
        return "tentative", False
    return "confirmed", True


# Data and sending --------------------------------------------------------------------------


def create_data() -> dict[str, object]:
    from bookings.pms.services import connection_create
    from locks.services import lock_create
    from portal.services import organization_create
    from properties.services import property_create

    org, _user, _password = organization_create(
        name="Bench PMS", owner_email="owner@bench.invalid", owner_password="bench-pass-123"
    )
    for i in range(PROPERTIES):
        prop = property_create(
            organization=org, name=f"Flat {i:03}", timezone="Europe/Vienna",
            external_ref=str(7000 + i),
        )  # fmt: skip
        lock_create(
            organization=org, property=prop, name=f"Door {i:03}", driver="virtual",
            config={"delay_ms": 0},
        )  # fmt: skip
    return {
        kind: connection_create(
            organization=org,
            kind=kind,
            name=kind,
            secret=GUESTY_SECRET if kind == "guesty" else None,
        )
        for kind in KINDS
    }


async def send_all(base_url: str, connections: dict, reservations: list[Reservation], lanes: int):
    from bookings.tests.pms_samples import payload, signed_headers

    statuses: Counter = Counter()
    bodies = {
        (res.external_id, v): payload(res.kind, res.versions[v], update=v > 0)
        for res in reservations
        for v in set(res.sent)
    }

    async def lane(client: httpx2.AsyncClient, mine: list[Reservation]) -> None:
        for res in mine:
            conn = connections[res.kind]
            url = f"/hooks/pms/{conn.webhook_key}/"
            for version in res.sent:
                body = bodies[(res.external_id, version)]
                headers = signed_headers(res.kind, conn.secret, body)
                response = await client.post(url, content=body, headers=headers)
                statuses[response.status_code] += 1

    async with httpx2.AsyncClient(base_url=base_url, timeout=60) as client:
        await asyncio.gather(*(lane(client, reservations[i::lanes]) for i in range(lanes)))
    return statuses


# Verification ------------------------------------------------------------------------------


def verify(reservations: list[Reservation], connections: dict) -> tuple[int, list[str]]:
    from bookings.models import AccessGrant, Booking
    from properties.models import Property

    props = dict(Property.objects.values_list("external_ref", "pk"))
    bookings = {
        (b.source, b.external_id): b
        for b in Booking.objects.only(
            "id", "source", "external_id", "status", "check_in", "check_out", "property_id"
        )
    }
    active = set(AccessGrant.objects.filter(active=True).values_list("booking_id", flat=True))
    wrong: list[str] = []
    from bookings.tests.pms_samples import VERSIONED

    for res in reservations:
        if res.kind in VERSIONED:  # the PMS's newest version wins
            last = res.versions[-1]
        else:  # receipt order: the last body received for the first time
            firsts = [v for v, dup in zip(res.sent, res.duplicate, strict=True) if not dup]
            last = res.versions[firsts[-1]]
        status, granted = expected(res.kind, last)
        booking = bookings.get((res.kind, res.external_id))
        got = (
            None
            if booking is None
            else (
                booking.status,
                booking.check_in,
                booking.check_out,
                booking.property_id,
                booking.pk in active,
            )
        )
        want = (status, last.check_in, last.check_out, props[last.listing], granted)
        if got != want:
            wrong.append(f"{res.kind} {res.external_id}: got {got}, want {want}")
    return len(reservations), wrong


def wait_processed(worker: common.Service, expected_events: int, timeout: float) -> Counter:
    from django.db.models import Count

    from bookings.pms.models import PmsEvent

    deadline = time.monotonic() + timeout
    while True:
        rows = PmsEvent.objects.values("outcome").annotate(n=Count("pk")).order_by()
        outcomes = Counter({row["outcome"]: row["n"] for row in rows})
        if (
            sum(outcomes.values()) >= expected_events and not outcomes.get("pending")
        ) or time.monotonic() > deadline:
            return outcomes
        worker.check_alive()
        time.sleep(1.0)


# Main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--duplicates", type=float, default=0.2)
    parser.add_argument("--out-of-order", type=float, default=0.1)
    parser.add_argument("--lanes", type=int, default=8, help="parallel client lanes")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--workers", type=int, default=common.GUNICORN_WORKERS)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="Celery pool processes (1: one worker)"
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="max processing wait")
    parser.add_argument("--broker-db", type=int, default=BROKER_DB)
    parser.add_argument("--cache-db", type=int, default=CACHE_DB)
    return parser.parse_args()


def main() -> int:
    common.exit_on_sigterm()
    args = parse_args()
    env = common.bench_env(
        database=DATABASE,
        broker_db=args.broker_db,
        cache_db=args.cache_db,
        LATCHKEY_PMS_HOOK_RATE="100000000/min",
        LATCHKEY_ANON_RATE="100000000/min",
    )
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(args.broker_db, args.cache_db)
    services: list[common.Service] = []
    failures: list[str] = []
    try:
        connections = create_data()
        reservations = plan(args.deliveries, args.duplicates, args.out_of_order, args.seed)
        sent = sum(len(r.sent) for r in reservations)
        dups = sum(sum(r.duplicate) for r in reservations)
        late = sum(late_count(r) for r in reservations)
        unique = sent - dups
        kinds = Counter(r.kind for r in reservations for _ in r.sent)
        common.close_django_connections()

        port = common.free_port()
        base_url = f"http://127.0.0.1:{port}"
        web = common.start_gunicorn(env, port=port, workers=args.workers, threads=1)
        services.append(web)
        common.wait_http(web, f"{base_url}/healthz", headers={})
        background = common.wait_for_quiet()
        common.print_header(f"plan: {sent} deliveries to {len(reservations)} reservations")
        common.print_figure("duplicates (byte-identical repeats)", f"{dups} ({dups / sent:.1%})")
        common.print_figure("out of order (older after newer)", f"{late} ({late / sent:.1%})")
        common.print_figure("deliveries per adapter", dict(kinds))
        common.print_figure("machine busy before load", background, "% (100 = one core)")

        common.print_header("phase 1: deliveries received (gunicorn, no worker)")
        meter = common.CpuMeter({"gunicorn": web.pids()}, DATABASE)
        with meter:
            statuses = asyncio.run(send_all(base_url, connections, reservations, args.lanes))
        receive_seconds = meter.used["wall"]
        common.print_figure("answers", dict(statuses))
        common.print_figure("received per second", round(sent / receive_seconds, 1))
        common.print_figure("CPU per delivery (ms)", meter.per_request_ms(sent))
        web.stop()
        services.remove(web)

        common.print_header(f"phase 2: one Celery worker (--concurrency {args.concurrency})")
        started = time.monotonic()
        worker = common.start_celery_worker(env, concurrency=args.concurrency)
        services.append(worker)
        wait_for_worker(worker)  # its pool process exists from here on: CPU is counted
        wmeter = common.CpuMeter({"celery": worker.pids()}, DATABASE)
        with wmeter:
            outcomes = wait_processed(worker, unique, args.timeout)
        wall = time.monotonic() - started
        from django.db.models import Max, Min, Sum

        from bookings.pms.models import PmsConnection, PmsEvent

        span = PmsEvent.objects.aggregate(first=Min("processed_at"), last=Max("processed_at"))
        processed = sum(n for o, n in outcomes.items() if o != "pending")
        seconds = (span["last"] - span["first"]).total_seconds() if processed > 1 else 0.0
        events_per_s = round((processed - 1) / seconds, 1) if seconds else 0.0
        deliveries_per_s = round(sent * events_per_s / processed, 1) if processed else 0.0
        counted_dups = PmsConnection.objects.aggregate(n=Sum("duplicate_count"))["n"] or 0
        common.print_figure(
            "events stored (unique bodies)", f"{PmsEvent.objects.count()} / {unique}"
        )
        common.print_figure("repeats recognised at receipt", f"{counted_dups} / {dups}")
        common.print_figure("event outcomes", dict(outcomes))
        common.print_figure(
            "events processed per second", events_per_s, "(first->last processed_at)"
        )
        common.print_figure("deliveries per second (incl. repeats)", deliveries_per_s)
        common.print_figure("wall time incl. worker start", round(wall, 1), "s")
        common.print_figure("CPU per event (ms)", wmeter.per_request_ms(processed))
        if note := common.contention_note(wmeter.per_request_ms(processed)):
            print(f"  {note}")
        worker.stop()
        services.remove(worker)

        common.print_header("final states")
        checked, wrong = verify(reservations, connections)
        common.print_figure("bookings checked", checked)
        common.print_figure("wrong final states", len(wrong), "", "0")
        for line in wrong[:10]:
            print(f"    {line}")

        non_2xx = sum(n for code, n in statuses.items() if not 200 <= code < 300)
        if non_2xx:
            failures.append(f"{non_2xx} deliveries were not answered 2xx")
        if outcomes.get("pending") or processed < unique:
            failures.append(f"{unique - processed} events were not processed")
        if PmsEvent.objects.count() != unique or counted_dups != dups:
            failures.append("duplicates were stored or not recognised")
        if set(outcomes) - {"applied", "stale", "unchanged"}:
            failures.append(f"unexpected outcomes {dict(outcomes)}")
        if wrong:
            failures.append(f"{len(wrong)} wrong final states")
        figures = {
            "deliveries": sent,
            "reservations": checked,
            "duplicates": dups,
            "out_of_order": late,
            "received_per_s": round(sent / receive_seconds, 1),
            "worker_events_per_s": events_per_s,
            "worker_deliveries_per_s": deliveries_per_s,
            "wall_s": round(wall, 1),
            "outcomes": dict(outcomes),
            "wrong_final_states": len(wrong),
            "background_busy_pct": background,
        }
    finally:
        for service in reversed(services):
            service.stop()
        common.close_django_connections()
        common.purge_redis(args.broker_db, args.cache_db)
    return common.finish("pms_webhooks", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
