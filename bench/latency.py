"""End-to-end latency: booking POSTed -> its keypad code `set` on the lock.

Why: the guest's email goes out once the code is on the door, so the time from a channel
manager's webhook to a `set` code is what a late-booking guest waits for. This runs the real
path: gunicorn, the outbox written in the booking's transaction, Redis, a Celery worker, the
virtual lock driver (zero delay), and the worker recording the result.

200 bookings (20 properties, one virtual lock each, check-in today or tomorrow so the codes are
inside the 72 h preload horizon) are POSTed at a steady 20/s. For each we keep the wall-clock
time the POST started and the booking id, then poll the database until every AccessCode of
those stays is `set`. Latency = latest AccessCode.set_at of the stay - POST start.
Targets: p50 < 1 s, p99 < 3 s.

Run: .venv/bin/python bench/latency.py
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import time
from collections import Counter
from dataclasses import dataclass

import _common as common
import httpx2

DATABASE = "latchkey_bench_latency"
BROKER_DB = 7
CACHE_DB = 8
PROPERTIES = 20
TARGET_P50_S = 1.0
TARGET_P99_S = 3.0


@dataclass
class Posted:
    """One booking as the client saw it."""

    index: int
    started: float  # time.time() when the POST was sent
    status: int = 0
    booking_id: int | None = None
    response_seconds: float = 0.0


# Data and processes ------------------------------------------------------------------------


def create_data() -> str:
    """An organization with 20 properties, one zero-delay virtual lock each; returns a key."""
    from locks.services import lock_create
    from portal.services import api_key_create, organization_create
    from properties.services import property_create

    org, _user, _password = organization_create(
        name="Bench Latency", owner_email="owner@bench.invalid", owner_password="bench-pass-123"
    )
    for i in range(PROPERTIES):
        prop = property_create(
            organization=org, name=f"Flat {i:02}", timezone="Europe/Vienna", external_ref=f"p{i}"
        )
        lock_create(
            organization=org, property=prop, name=f"Door {i:02}", driver="virtual",
            config={"delay_ms": 0},
        )  # fmt: skip
    _key, raw = api_key_create(organization=org, scope="write", name="bench")
    return raw


def wait_for_worker(worker: common.Service, timeout: float = 60) -> None:
    """Block until the Celery worker answers a broadcast ping (it is consuming by then)."""
    from portal.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.check_alive()
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError(f"the Celery worker did not answer within {timeout}s")


# Load --------------------------------------------------------------------------------------


def booking_payload(i: int) -> dict:
    check_in = dt.date.today() + dt.timedelta(days=i % 2)
    return {
        "external_id": f"latency-{i}",
        "property": f"p{i % PROPERTIES}",
        "status": "confirmed",
        "check_in": check_in.isoformat(),
        "check_out": (check_in + dt.timedelta(days=2)).isoformat(),
        "guest": {"name": f"Guest {i}", "email": f"guest{i}@bench.invalid", "language": "en"},
    }


async def post_bookings(base_url: str, api_key: str, *, count: int, rate: float) -> list[Posted]:
    """POST at fixed times (open loop): a slow answer does not delay the next booking."""
    posted = [Posted(index=i, started=0.0) for i in range(count)]
    loop = asyncio.get_running_loop()

    async def one(client: httpx2.AsyncClient, item: Posted) -> None:
        item.started = time.time()
        began = loop.time()
        try:
            response = await client.post("/api/v1/bookings/", json=booking_payload(item.index))
        except httpx2.HTTPError:
            return
        item.response_seconds = loop.time() - began
        item.status = response.status_code
        if response.status_code in (200, 201):
            item.booking_id = response.json()["id"]

    async with httpx2.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {api_key}"}, timeout=30
    ) as client:
        start = loop.time() + 0.05
        tasks = []
        for item in posted:
            await asyncio.sleep(max(0.0, start + item.index / rate - loop.time()))
            tasks.append(asyncio.create_task(one(client, item)))
        await asyncio.gather(*tasks)
    return posted


# Waiting for the locks ---------------------------------------------------------------------


def code_rows(booking_ids: list[int]) -> list[tuple[int, str, dt.datetime | None]]:
    """(booking id, state, set_at) of every AccessCode of these stays (holder "grant:<id>")."""
    from bookings.models import AccessGrant
    from locks.models import AccessCode

    holders = {
        g.holder: g.booking_id
        for g in AccessGrant.objects.filter(booking_id__in=booking_ids).only("id", "booking_id")
    }
    rows = AccessCode.objects.filter(holder__in=list(holders)).values_list(
        "holder", "state", "set_at"
    )
    return [(holders[holder], state, set_at) for holder, state, set_at in rows]


def wait_until_set(
    booking_ids: list[int], *, worker: common.Service, timeout: float
) -> tuple[dict[int, float], Counter]:
    """Poll until every code of every stay is `set`; returns {booking: latest set_at} and the
    final state counts (so a timeout says what is stuck)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = code_rows(booking_ids)
        states = Counter(state for _, state, _ in rows)
        with_codes = {booking for booking, _, _ in rows}
        done = states and set(states) == {"set"} and with_codes == set(booking_ids)
        if done or time.monotonic() > deadline:
            break
        worker.check_alive()
        time.sleep(0.2)
    latest: dict[int, float] = {}
    for booking, state, set_at in rows:
        if state == "set" and set_at is not None:
            latest[booking] = max(latest.get(booking, 0.0), set_at.timestamp())
    return latest, states


def command_stats() -> dict:
    """How the outbox behaved: command outcomes and how many attempts they took."""
    from locks.models import LockCommand

    statuses = Counter(LockCommand.objects.values_list("status", flat=True))
    attempts = Counter(LockCommand.objects.values_list("attempts", flat=True))
    return {"statuses": dict(statuses), "attempts": dict(sorted(attempts.items()))}


def latency_breakdown(posted: list[Posted]) -> dict[str, dict[str, float]]:
    """Where each stay's time went: POST start -> lock command written (the booking's
    transaction in gunicorn), -> claimed by a worker (waiting in the queue, including any
    re-dispatch while its lock was busy), -> code `set` (the run against the driver)."""
    from bookings.models import AccessGrant
    from locks.models import AccessCode, CommandKind, LockCommand

    started = {p.booking_id: p.started for p in posted if p.booking_id is not None}
    holders = {
        g.holder: g.booking_id
        for g in AccessGrant.objects.filter(booking_id__in=list(started)).only("id", "booking_id")
    }
    codes = {
        pk: (holders[holder], set_at)
        for pk, holder, set_at in AccessCode.objects.filter(
            holder__in=list(holders), set_at__isnull=False
        ).values_list("pk", "holder", "set_at")
    }
    commands = LockCommand.objects.filter(
        access_code_id__in=list(codes), kind=CommandKind.SYNC_CODE, claimed_at__isnull=False
    ).order_by("created_at")
    last: dict[int, tuple[float, float, float]] = {}  # booking -> (written, claimed, set)
    for code_id, created, claimed in commands.values_list(
        "access_code_id", "created_at", "claimed_at"
    ):
        booking, set_at = codes[code_id]
        times = (created.timestamp(), claimed.timestamp(), set_at.timestamp())
        if booking not in last or times[2] >= last[booking][2]:
            last[booking] = times
    segments: dict[str, list[float]] = {"post->written": [], "written->claimed": [], "run": []}
    for booking, (written, claimed, set_at) in last.items():
        segments["post->written"].append(written - started[booking])
        segments["written->claimed"].append(claimed - written)
        segments["run"].append(set_at - claimed)
    return {
        name: {
            "p50": round(common.percentile(values, 50), 3),
            "p99": round(common.percentile(values, 99), 3),
        }
        for name, values in segments.items()
        if values
    }


# Main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="POSTs per second")
    parser.add_argument(
        "--workers", type=int, default=common.GUNICORN_WORKERS, help="gunicorn worker processes"
    )
    parser.add_argument(
        "--threads", type=int, default=common.GUNICORN_THREADS, help="threads per gunicorn worker"
    )
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--timeout", type=float, default=120.0, help="max wait for `set`")
    return parser.parse_args()


def measure(args: argparse.Namespace, env: dict[str, str], api_key: str) -> dict:
    """Start the web server and the worker, post the bookings, wait for the codes."""
    port = common.free_port()
    base_url = f"http://127.0.0.1:{port}"
    services: list[common.Service] = []
    try:
        web = common.start_gunicorn(env, port=port, workers=args.workers, threads=args.threads)
        services.append(web)
        worker = common.start_celery_worker(env, concurrency=args.concurrency)
        services.append(worker)
        common.wait_http(
            web, f"{base_url}/api/v1/ping/", headers={"Authorization": f"Bearer {api_key}"}
        )
        wait_for_worker(worker)
        print(f"gunicorn on port {port} ({web.log_path}); worker log {worker.log_path}")
        background = common.wait_for_quiet()
        common.print_figure("machine busy before load", background, "% (100 = one core)")
        meter = common.CpuMeter({"gunicorn": web.pids(), "celery": worker.pids()}, DATABASE)
        with meter:
            posted = asyncio.run(
                post_bookings(base_url, api_key, count=args.bookings, rate=args.rate)
            )
            ids = [p.booking_id for p in posted if p.booking_id is not None]
            latest, states = wait_until_set(ids, worker=worker, timeout=args.timeout)
        common.close_django_connections()
        for service in services:
            service.check_alive()
    finally:
        for service in reversed(services):
            service.stop()
    return {
        "posted": posted,
        "latest": latest,
        "states": states,
        "background": background,
        "cpu": meter.per_request_ms(len(posted)),
        "seconds": meter.used["wall"],
    }


def set_rate(latest: dict[int, float]) -> float:
    """Stays completed per second between the first and the last `set` (worker throughput)."""
    if len(latest) < 2:
        return 0.0
    span = max(latest.values()) - min(latest.values())
    return (len(latest) - 1) / span if span else 0.0


def evaluate(args: argparse.Namespace, run: dict) -> tuple[dict, list[str]]:
    posted: list[Posted] = run["posted"]
    latest: dict[int, float] = run["latest"]
    ok_posts = [p for p in posted if p.booking_id is not None]
    latencies = [latest[p.booking_id] - p.started for p in ok_posts if p.booking_id in latest]
    responses = [p.response_seconds for p in ok_posts]
    stats = command_stats()
    parts = latency_breakdown(posted)

    def pct(values: list[float], q: float) -> float | None:
        return round(common.percentile(values, q), 3) if values else None

    common.print_header(f"{args.bookings} bookings at {args.rate:.0f}/s -> code `set`")
    common.print_figure("bookings accepted (2xx)", f"{len(ok_posts)} / {len(posted)}")
    common.print_figure(
        "POST response p50 / p99", f"{pct(responses, 50)} / {pct(responses, 99)}", "s"
    )
    common.print_figure("stays with every code set", f"{len(latencies)} / {len(ok_posts)}")
    common.print_figure("code states at the end", dict(run["states"]))
    common.print_figure("lock commands", stats)
    common.print_figure("codes set per second", round(set_rate(latest), 1))
    common.print_figure("CPU per booking (ms)", run["cpu"])
    if note := common.contention_note(run["cpu"]):
        print(f"  {note}")
    for name, part in parts.items():
        common.print_figure(f"  {name} (s)", part)
    common.print_figure("latency p50", pct(latencies, 50), "s", f"< {TARGET_P50_S} s")
    common.print_figure("latency p90", pct(latencies, 90), "s")
    common.print_figure("latency p99", pct(latencies, 99), "s", f"< {TARGET_P99_S} s")
    common.print_figure("latency max", pct(latencies, 100), "s")
    figures = {
        "bookings": len(posted),
        "rate": args.rate,
        "background_busy_pct": run["background"],
        "accepted": len(ok_posts),
        "all_set": len(latencies),
        "post_p50_s": pct(responses, 50),
        "post_p99_s": pct(responses, 99),
        "p50_s": pct(latencies, 50),
        "p90_s": pct(latencies, 90),
        "p99_s": pct(latencies, 99),
        "max_s": pct(latencies, 100),
        "commands": stats,
        "breakdown_s": parts,
        "codes_set_per_s": round(set_rate(latest), 1),
        "cpu_ms_per_booking": run["cpu"],
    }
    failures = []
    if len(ok_posts) < len(posted):
        failures.append(f"{len(posted) - len(ok_posts)} POSTs were not accepted")
    if len(latencies) < len(ok_posts):
        failures.append(f"{len(ok_posts) - len(latencies)} stays never got every code set")
    if latencies and figures["p50_s"] >= TARGET_P50_S:
        failures.append(f"p50 {figures['p50_s']} s >= {TARGET_P50_S} s")
    if latencies and figures["p99_s"] >= TARGET_P99_S:
        failures.append(f"p99 {figures['p99_s']} s >= {TARGET_P99_S} s")
    if not latencies:
        failures.append("no latency measured")
    return figures, failures


def main() -> int:
    common.exit_on_sigterm()
    args = parse_args()
    env = common.bench_env(database=DATABASE, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB, CACHE_DB)
    try:
        api_key = create_data()
        common.close_django_connections()
        run = measure(args, env, api_key)
        figures, failures = evaluate(args, run)
    finally:
        common.close_django_connections()
        common.purge_redis(BROKER_DB, CACHE_DB)
    return common.finish("latency", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
