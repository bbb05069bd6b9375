"""End-to-end latency over Bluetooth: booking POSTed -> its code `set` on a simulated Smart Lock
through the on-site agent.

Why: a BLE lock is only as quick as the round trip portal -> worker -> agent (long-poll) ->
lock -> agent -> portal -> worker. This runs every part as its own process: gunicorn, a Celery
worker on Redis, PostgreSQL, and the agent program (`python -m locks.agent run --simulate 5`,
zero simulated radio delay) enrolled with a real token. 5 properties with one simulated lock
each; 50 bookings (check-in today or tomorrow, inside the preload horizon) POSTed open-loop at
2/s. Latency per stay = AccessCode.set_at - POST start, as in latency.py (whose helpers this
reuses). At the end the simulated locks' own memory is read to check every code is on its
lock. Target: p50 < 1.5 s; p99 reported.

Run: .venv/bin/python bench/ble_latency.py [--bookings 50] [--rate 2] [--locks 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import _common as common
import latency as base

DATABASE = "latchkey_bench_ble"
BROKER_DB = 15
CACHE_DB = 15  # Redis has 16 databases and the other benchmarks hold 5-14; keys do not clash
TARGET_P50_S = 1.5


def create_data(state: Path, locks: int) -> tuple[str, str]:
    """Organization, one property per simulated lock, the agent with an enrollment token, and
    the `ble_agent` locks at the addresses the agent will simulate. Returns (API key, token)."""
    from locks.agent.state import StateStore
    from locks.integrations.ble_agent.enrollment import agent_create
    from locks.services import lock_create
    from locks.simulators.fleet import SimulatedFleet
    from portal.services import api_key_create, organization_create
    from properties.services import property_create

    org, _user, _password = organization_create(
        name="Bench BLE", owner_email="owner@bench.invalid", owner_password="bench-pass-123"
    )
    agent, token = agent_create(organization=org, name="Bench agent")
    _, identities = SimulatedFleet(StateStore(state), locks).plan()
    for i, identity in enumerate(identities):
        prop = property_create(
            organization=org, name=f"Flat {i:02}", timezone="Europe/Vienna", external_ref=f"p{i}"
        )
        lock_create(
            organization=org,
            property=prop,
            name=f"Door {i:02}",
            driver="ble_agent",
            ble_address=identity.address,
            nuki_id=identity.nuki_id,
            agent=agent,
        )
    _key, raw = api_key_create(organization=org, scope="write", name="bench")
    return raw, token


def start_agent(env: dict[str, str], *, state: Path, portal: str, token: str, locks: int):
    argv = [
        str(common.BIN / "python"),
        "-m",
        "locks.agent",
        "run",
        "--state-dir",
        str(state),
        "--portal",
        portal,
        "--token",
        token,
        "--simulate",
        str(locks),
        "--wait",
        "25",
    ]
    return common.start_service("agent", argv, env)


def wait_for_agent(agent: common.Service, locks: int, timeout: float = 60) -> None:
    """Until the agent has enrolled, paired and reported every simulated lock."""
    from locks.models import Lock

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        agent.check_alive()
        paired = Lock.objects.filter(driver="ble_agent", config__paired=True).count()
        if paired == locks:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the agent did not report {locks} paired locks within {timeout}s")


def codes_on_locks(state: Path) -> int:
    from locks.simulators.ble_lock.persist import codes_in

    total = 0
    for path in (state / "simulated").glob("*:*.json"):
        total += len(codes_in(json.loads(path.read_text())))
    return total


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=50)
    parser.add_argument("--rate", type=float, default=2.0, help="POSTs per second")
    parser.add_argument("--locks", type=int, default=5, help="simulated locks (one per flat)")
    parser.add_argument("--workers", type=int, default=common.GUNICORN_WORKERS)
    parser.add_argument("--threads", type=int, default=common.GUNICORN_THREADS)
    parser.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="Celery worker processes (a BLE command waits on the agent, not the CPU)",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="max wait for `set`")
    return parser.parse_args()


def measure(args: argparse.Namespace, env: dict[str, str], api_key: str, token: str, state):
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
        base.wait_for_worker(worker)
        agent = start_agent(env, state=state, portal=base_url, token=token, locks=args.locks)
        services.append(agent)
        wait_for_agent(agent, args.locks)
        print(
            f"gunicorn :{port} ({web.log_path}); worker {worker.log_path}; agent {agent.log_path}"
        )
        background = common.wait_for_quiet()
        common.print_figure("machine busy before load", background, "% (100 = one core)")
        meter = common.CpuMeter(
            {"gunicorn": web.pids(), "celery": worker.pids(), "agent": agent.pids()}, DATABASE
        )
        with meter:
            posted = asyncio.run(
                base.post_bookings(base_url, api_key, count=args.bookings, rate=args.rate)
            )
            ids = [p.booking_id for p in posted if p.booking_id is not None]
            latest, states = base.wait_until_set(ids, worker=worker, timeout=args.timeout)
        common.close_django_connections()
        for service in services:
            service.check_alive()
        on_locks = codes_on_locks(state)
    finally:
        for service in reversed(services):
            service.stop()
    return {
        "posted": posted,
        "latest": latest,
        "states": states,
        "background": background,
        "cpu": meter.per_request_ms(len(posted)),
        "on_locks": on_locks,
    }


def evaluate(args: argparse.Namespace, run: dict) -> tuple[dict, list[str]]:
    posted = run["posted"]
    latest = run["latest"]
    ok_posts = [p for p in posted if p.booking_id is not None]
    latencies = [latest[p.booking_id] - p.started for p in ok_posts if p.booking_id in latest]

    def pct(values: list[float], q: float) -> float | None:
        return round(common.percentile(values, q), 3) if values else None

    common.print_header(f"{args.bookings} bookings at {args.rate:g}/s -> code `set` over BLE")
    common.print_figure("bookings accepted (2xx)", f"{len(ok_posts)} / {len(posted)}")
    common.print_figure("stays with their code set", f"{len(latencies)} / {len(ok_posts)}")
    common.print_figure("codes on the simulated locks", run["on_locks"])
    common.print_figure("code states at the end", dict(run["states"]))
    common.print_figure("lock commands", base.command_stats())
    common.print_figure("CPU per booking (ms)", run["cpu"])
    if note := common.contention_note(run["cpu"]):
        print(f"  {note}")
    parts = base.latency_breakdown(posted)
    for name, part in parts.items():
        common.print_figure(f"  {name} (s)", part)
    common.print_figure("latency p50", pct(latencies, 50), "s", f"< {TARGET_P50_S} s")
    common.print_figure("latency p99", pct(latencies, 99), "s")
    common.print_figure("latency max", pct(latencies, 100), "s")
    figures = {
        "bookings": len(posted),
        "rate": args.rate,
        "locks": args.locks,
        "background_busy_pct": run["background"],
        "all_set": len(latencies),
        "codes_on_locks": run["on_locks"],
        "p50_s": pct(latencies, 50),
        "p99_s": pct(latencies, 99),
        "max_s": pct(latencies, 100),
        "breakdown_s": parts,
        "cpu_ms_per_booking": run["cpu"],
    }
    failures = []
    if len(latencies) < len(ok_posts) or len(ok_posts) < len(posted):
        failures.append(f"{len(posted) - len(latencies)} stays never got their code set")
    if run["on_locks"] != len(latencies):
        failures.append(f"{run['on_locks']} codes on the locks for {len(latencies)} set stays")
    if latencies and figures["p50_s"] >= TARGET_P50_S:
        failures.append(f"p50 {figures['p50_s']} s >= {TARGET_P50_S} s")
    if not latencies:
        failures.append("no latency measured")
    return figures, failures


def main() -> int:
    common.exit_on_sigterm()
    args = parse_args()
    base.PROPERTIES = args.locks  # latency.booking_payload spreads bookings over p0..pN-1
    env = common.bench_env(database=DATABASE, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB)
    figures: dict = {}
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="latchkey-bench-agent-") as tmp:
        state = Path(tmp) / "agent"
        try:
            api_key, token = create_data(state, args.locks)
            common.close_django_connections()
            run = measure(args, env, api_key, token, state)
            figures, failures = evaluate(args, run)
        finally:
            common.close_django_connections()
            common.purge_redis(BROKER_DB)
    return common.finish("ble_latency", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
