"""Booking webhook ingest against a real gunicorn + PostgreSQL.

Why: a channel manager delivers bookings in bursts; a steady 50 bookings/s must be answered
quickly and without errors. The rate against a trivial authenticated request is reported; its
old target (half of ping) is retired: the least a booking POST can do already reaches only
about 0.58 of ping, so the guard is bookings / floor in bench/ingest_floor.py.

Phases, all against the same server in one run:
  (a) closed loop, N clients: GET /api/v1/ping/          -> requests/s
  (b) closed loop, N clients: POST /api/v1/bookings/     -> requests/s; ratio b/a reported
      (a) and (b) take turns, 3 rounds of 4 s each: the machine's drift hits both alike
  (c) open loop, fixed 50 POST/s for 12 s                -> p50/p95/p99 (p99 < 50 ms), 0 errors

Celery tasks are queued (after commit) into a Redis database of our own; no worker runs.
Run: .venv/bin/python bench/ingest.py [--workers 2 --threads 4 --concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import _common as common
import httpx2

DATABASE = "latchkey_bench_ingest"
BROKER_DB = 5
CACHE_DB = 6
TARGET_P99_MS = 50.0
OPEN_LOOP_RATE = 50.0


@dataclass
class Setup:
    base_url: str
    api_key: str


@dataclass
class PhaseResult:
    """What one load phase produced (latencies in seconds)."""

    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def note(self, status: int, latency: float) -> None:
        self.requests += 1
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if not 200 <= status < 300:
            self.errors += 1

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def ms(self, q: float) -> float:
        return round(1000 * common.percentile(self.latencies, q), 2) if self.latencies else 0.0


# Data --------------------------------------------------------------------------------------


def create_data() -> str:
    """An organization with one property (two virtual locks) and a write key; returns the key."""
    from locks.services import lock_create
    from portal.services import api_key_create, organization_create
    from properties.services import property_create

    org, _user, _password = organization_create(
        name="Bench Ingest", owner_email="owner@bench.invalid", owner_password="bench-pass-123"
    )
    prop = property_create(
        organization=org, name="Bench flat", timezone="Europe/Vienna", external_ref="p1"
    )
    for n in (1, 2):
        lock_create(
            organization=org,
            property=prop,
            name=f"Door {n}",
            driver="virtual",
            config={"delay_ms": 0},
        )
    _key, raw = api_key_create(organization=org, scope="write", name="bench")
    return raw


_serial = itertools.count(1)


def booking_payload(prefix: str) -> dict:
    """A distinct confirmed stay starting today or tomorrow: inside the 72 h preload horizon,
    so every POST plans codes on both locks and queues their commands."""
    n = next(_serial)
    check_in = dt.date.today() + dt.timedelta(days=n % 2)
    return {
        "external_id": f"{prefix}-{n}",
        "property": "p1",
        "status": "confirmed",
        "check_in": check_in.isoformat(),
        "check_out": (check_in + dt.timedelta(days=2)).isoformat(),
        "guest": {
            "name": f"Guest {n}",
            "email": f"guest{n}@bench.invalid",
            "language": "de" if n % 2 else "en",
        },
    }


# Load generation ---------------------------------------------------------------------------

Send = Callable[[httpx2.AsyncClient], Awaitable[httpx2.Response]]


def ping(client: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
    return client.get("/api/v1/ping/")


def post_booking(prefix: str, count: int, path: str = "/api/v1/bookings/") -> Send:
    """POST distinct bookings. The bodies are encoded before the phase starts, so the load
    generator spends its CPU on HTTP, not on building JSON, while it is being measured (the
    client shares this machine's two cores with the server)."""
    bodies = iter([json.dumps(booking_payload(prefix)).encode() for _ in range(count)])
    headers = {"Content-Type": "application/json"}

    def send(client: httpx2.AsyncClient) -> Awaitable[httpx2.Response]:
        return client.post(path, content=next(bodies), headers=headers)

    return send


async def status_of(request: Awaitable[httpx2.Response]) -> int:
    """The answer's status code; 0 when there was no answer (connection error, timeout)."""
    try:
        response = await request
    except httpx2.HTTPError:
        return 0
    return response.status_code


def make_client(setup: Setup, connections: int) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        base_url=setup.base_url,
        headers={"Authorization": f"Bearer {setup.api_key}"},
        limits=httpx2.Limits(max_connections=connections, max_keepalive_connections=connections),
        timeout=30,
    )


async def closed_loop(
    setup: Setup,
    send: Send,
    *,
    clients: int,
    warmup: float,
    duration: float,
    server_pids,
    database: str = DATABASE,
) -> PhaseResult:
    """N clients each send, wait for the answer, send again. Only answers completed inside
    the measuring window count, so the warm-up and the tail do not dilute the rate."""
    result = PhaseResult()
    loop = asyncio.get_running_loop()
    window: dict[str, float] = {}
    stop = asyncio.Event()

    async def client_loop(client: httpx2.AsyncClient) -> None:
        while not stop.is_set():
            started = loop.time()
            status = await status_of(send(client))
            ended = loop.time()
            if window.get("start", float("inf")) <= started and ended <= window.get("end", 0):
                result.note(status, ended - started)

    async with make_client(setup, clients) as client:
        tasks = [asyncio.create_task(client_loop(client)) for _ in range(clients)]
        await asyncio.sleep(warmup)
        meter = common.CpuMeter({"gunicorn": server_pids}, database)
        with meter:
            window["start"] = loop.time()
            window["end"] = window["start"] + duration
            await asyncio.sleep(duration)
        stop.set()
        await asyncio.gather(*tasks)
    result.seconds = duration
    result.cpu = meter.per_request_ms(result.requests)
    return result


async def open_loop(setup: Setup, send: Send, *, rate: float, duration: float, server_pids):
    """Send at fixed times whatever the server does (no waiting for answers), so a slow answer
    cannot hide the queueing it causes. Latency is measured from the scheduled send time."""
    result = PhaseResult()
    loop = asyncio.get_running_loop()
    count = round(rate * duration)

    async def one(client: httpx2.AsyncClient, scheduled: float) -> None:
        status = await status_of(send(client))
        result.note(status, loop.time() - scheduled)

    async with make_client(setup, 200) as client:
        await asyncio.gather(*(ping(client) for _ in range(8)))  # open a few connections first
        meter = common.CpuMeter({"gunicorn": server_pids}, DATABASE)
        with meter:
            start = loop.time() + 0.05
            tasks = []
            for i in range(count):
                scheduled = start + i / rate
                await asyncio.sleep(max(0.0, scheduled - loop.time()))
                tasks.append(asyncio.create_task(one(client, scheduled)))
            await asyncio.gather(*tasks)
    result.seconds = duration
    result.cpu = meter.per_request_ms(result.requests)
    return result


# Report ------------------------------------------------------------------------------------


def report_closed(title: str, result: PhaseResult, clients: int) -> None:
    common.print_header(title)
    common.print_figure("clients (closed loop)", clients)
    common.print_figure("requests in window", result.requests)
    common.print_figure("throughput", f"{result.rate:.1f}", "req/s")
    common.print_figure("latency p50 / p99", f"{result.ms(50)} / {result.ms(99)}", "ms")
    common.print_figure("non-2xx responses", result.errors)
    common.print_figure("status codes", result.statuses)
    common.print_figure("CPU per request (ms)", result.cpu)
    if note := common.contention_note(result.cpu):
        print(f"  {note}")


def report_open(result: PhaseResult, rate: float) -> None:
    common.print_header(f"(c) open loop, {rate:g} POST /api/v1/bookings/ per second")
    common.print_figure("requests sent", result.requests)
    common.print_figure("latency p50", result.ms(50), "ms")
    common.print_figure("latency p95", result.ms(95), "ms")
    common.print_figure("latency p99", result.ms(99), "ms", f"< {TARGET_P99_MS:.0f} ms")
    common.print_figure("latency max", result.ms(100), "ms")
    common.print_figure("non-2xx responses", result.errors, "", "0")
    common.print_figure("status codes", result.statuses)
    common.print_figure("CPU per request (ms)", result.cpu)
    if note := common.contention_note(result.cpu):
        print(f"  {note}")


# Main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workers", type=int, default=common.GUNICORN_WORKERS, help="gunicorn worker processes"
    )
    parser.add_argument(
        "--threads", type=int, default=common.GUNICORN_THREADS, help="threads per gunicorn worker"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop clients")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds before measuring")
    parser.add_argument("--duration", type=float, default=12.0, help="seconds measured")
    parser.add_argument(
        "--rounds", type=int, default=3, help="closed-loop rounds (ping and bookings take turns)"
    )
    parser.add_argument(
        "--open-rate", type=float, default=OPEN_LOOP_RATE, help="open-loop bookings per second"
    )
    return parser.parse_args()


def merged(parts: list[PhaseResult]) -> PhaseResult:
    """One result from several rounds of the same phase (CPU figures weighted by requests)."""
    total = PhaseResult()
    for part in parts:
        total.requests += part.requests
        total.errors += part.errors
        total.seconds += part.seconds
        total.latencies += part.latencies
        for code, n in part.statuses.items():
            total.statuses[code] = total.statuses.get(code, 0) + n
    for key in parts[0].cpu:
        weighted = sum(p.cpu.get(key, 0.0) * p.requests for p in parts)
        total.cpu[key] = round(weighted / max(1, total.requests), 2)
    return total


async def run_phases(setup: Setup, args: argparse.Namespace, server_pids: list[int]) -> dict:
    # The two closed loops take turns (ping, bookings, ping, ...): this machine's speed drifts
    # by a third within minutes, and alternating short rounds keeps the drift out of the ratio.
    rounds = max(1, args.rounds)
    slice_s = args.duration / rounds
    bookings = post_booking("closed", count=int(1000 * (args.warmup + args.duration + 5)))
    ping_parts, booking_parts = [], []
    for n in range(rounds):
        warmup = args.warmup if n == 0 else 1.0
        for send, parts in ((ping, ping_parts), (bookings, booking_parts)):
            parts.append(
                await closed_loop(
                    setup,
                    send,
                    clients=args.concurrency,
                    warmup=warmup,
                    duration=slice_s,
                    server_pids=server_pids,
                )
            )
    ping_result, booking_result = merged(ping_parts), merged(booking_parts)
    report_closed("(a) closed loop, GET /api/v1/ping/", ping_result, args.concurrency)
    report_closed("(b) closed loop, POST /api/v1/bookings/", booking_result, args.concurrency)
    await asyncio.sleep(1.0)  # let the server settle between the phases
    open_result = await open_loop(
        setup,
        post_booking("open", count=round(args.open_rate * args.duration) + 10),
        rate=args.open_rate,
        duration=args.duration,
        server_pids=server_pids,
    )
    report_open(open_result, args.open_rate)
    return {
        "ping": ping_result,
        "bookings": booking_result,
        "open": open_result,
    }


def evaluate(results: dict, args: argparse.Namespace, background: float) -> tuple[dict, list[str]]:
    ping_r, book_r, open_r = results["ping"], results["bookings"], results["open"]
    ratio = book_r.rate / ping_r.rate if ping_r.rate else 0.0
    common.print_header("summary")
    common.print_figure("gunicorn", f"--workers {args.workers} --threads {args.threads}")
    common.print_figure("ping req/s", f"{ping_r.rate:.1f}")
    common.print_figure("bookings req/s", f"{book_r.rate:.1f}")
    common.print_figure("ratio bookings/ping", f"{ratio:.3f}", "", "reported")
    common.print_figure("open-loop p99", open_r.ms(99), "ms", f"< {TARGET_P99_MS:.0f} ms")
    common.print_figure("open-loop non-2xx", open_r.errors, "", "0")
    figures = {
        "gunicorn_workers": args.workers,
        "gunicorn_threads": args.threads,
        "clients": args.concurrency,
        "background_busy_pct": background,
        "ping_rps": round(ping_r.rate, 1),
        "bookings_rps": round(book_r.rate, 1),
        "ratio": round(ratio, 3),
        "closed_loop_errors": ping_r.errors + book_r.errors,
        "open_loop_rate": args.open_rate,
        "open_loop_requests": open_r.requests,
        "open_p50_ms": open_r.ms(50),
        "open_p95_ms": open_r.ms(95),
        "open_p99_ms": open_r.ms(99),
        "open_max_ms": open_r.ms(100),
        "open_non_2xx": open_r.errors,
        "cpu_ms_per_request": {
            "ping": ping_r.cpu,
            "bookings": book_r.cpu,
            "open": open_r.cpu,
        },
    }
    failures = []
    if open_r.ms(99) >= TARGET_P99_MS:
        failures.append(f"open-loop p99 {open_r.ms(99)} ms >= {TARGET_P99_MS:.0f} ms")
    if open_r.errors:
        failures.append(f"{open_r.errors} non-2xx responses in the open-loop run")
    if ping_r.errors or book_r.errors:
        failures.append(f"{ping_r.errors + book_r.errors} non-2xx responses in closed loops")
    return figures, failures


def main() -> int:
    common.exit_on_sigterm()
    args = parse_args()
    env = common.bench_env(database=DATABASE, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB, CACHE_DB)
    api_key = create_data()
    common.close_django_connections()
    common.checkpoint()

    port = common.free_port()
    server = common.start_gunicorn(env, port=port, workers=args.workers, threads=args.threads)
    try:
        setup = Setup(base_url=f"http://127.0.0.1:{port}", api_key=api_key)
        common.wait_http(
            server, f"{setup.base_url}/api/v1/ping/", headers={"Authorization": f"Bearer {api_key}"}
        )
        print(f"gunicorn on port {port}, log {server.log_path}", flush=True)
        background = common.wait_for_quiet()
        common.print_figure("machine busy before load", background, "% (100 = one core)")
        started = time.monotonic()
        results = asyncio.run(run_phases(setup, args, server.pids()))
        server.check_alive()
        print(f"\n(load phases took {time.monotonic() - started:.1f} s)")
    finally:
        server.stop()
        common.purge_redis(BROKER_DB, CACHE_DB)
    figures, failures = evaluate(results, args, background)
    return common.finish("ingest", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
