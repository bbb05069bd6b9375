"""How close to the ping can a booking POST get at all? The floor under bench/ingest.py's ratio.

Why: ingest.py once held POST /api/v1/bookings/ to half the rate of a trivial authenticated GET.
This measures, on one server and in alternating rounds, three closed loops:
  ping     GET /api/v1/ping/        authentication, throttle, a tiny answer
  floor    POST /api/v1/floor/      the same, plus what every booking must do before it plans
                                    anything: parse and validate the body (with the property
                                    lookup), INSERT the booking in a transaction, publish one
                                    broker message after commit, answer the booking's JSON
                                    (bench/floor/urls.py; this endpoint exists only here)
  bookings POST /api/v1/bookings/   the real thing: grant, code draw, codes, outbox
and prints floor/ping, bookings/ping and bookings/floor, the ingest guard (>= 0.6). If the floor
itself sits near 0.5, no amount of work on the planning can lift the real ratio to 0.5 on this
machine and stack.

Run: .venv/bin/python bench/ingest_floor.py          (~2 min)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import _common as common
import ingest

DATABASE = "latchkey_bench_floor"
BROKER_DB = 5  # ingest.py's: the two run one after the other, never at once
CACHE_DB = 6
GUARD = 0.6  # bookings / floor: the ingest guard (bench/README.md)


async def rounds(setup: ingest.Setup, args: argparse.Namespace, pids: list[int]) -> dict:
    sends = {
        "ping": ingest.ping,
        "floor": ingest.post_booking("floor", 20_000, path="/api/v1/floor/"),
        "bookings": ingest.post_booking("real", 20_000),
    }
    parts: dict[str, list[ingest.PhaseResult]] = {name: [] for name in sends}
    for n in range(args.rounds):
        for name, send in sends.items():
            common.analyze(DATABASE)  # autovacuum's part (off on this machine), between phases
            parts[name].append(
                await ingest.closed_loop(
                    setup,
                    send,
                    clients=args.concurrency,
                    warmup=args.warmup if n == 0 else 1.0,
                    duration=args.duration / args.rounds,
                    server_pids=pids,
                    database=DATABASE,
                )
            )
    return {name: ingest.merged(results) for name, results in parts.items()}


def main() -> int:
    common.exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=common.GUNICORN_WORKERS)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=3.0)
    # 5 rounds of 6 s per phase: this VM's CPU is shared (top showed up to 50 % steal), and
    # 3 rounds of 4 s gave one figure 0.53-0.73 on the same code; more turns average it out.
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    env = common.bench_env(database=DATABASE, broker_db=BROKER_DB, cache_db=CACHE_DB)
    common.recreate_database(DATABASE)
    common.setup_django(env)
    common.migrate()
    common.purge_redis(BROKER_DB, CACHE_DB)
    api_key = ingest.create_data()
    common.close_django_connections()
    server_env = {
        **env,
        "DJANGO_SETTINGS_MODULE": "floor.settings",
        "PYTHONPATH": str(common.ROOT / "bench"),
    }
    port = common.free_port()
    server = common.start_gunicorn(server_env, port=port, workers=args.workers, threads=1)
    try:
        setup = ingest.Setup(base_url=f"http://127.0.0.1:{port}", api_key=api_key)
        common.wait_http(
            server, f"{setup.base_url}/api/v1/ping/", headers={"Authorization": f"Bearer {api_key}"}
        )
        background = common.wait_for_quiet()
        common.print_figure("machine busy before load", background, "% (100 = one core)")
        results = asyncio.run(rounds(setup, args, server.pids()))
        server.check_alive()
    finally:
        server.stop()
        common.purge_redis(BROKER_DB, CACHE_DB)
    ping_rate = results["ping"].rate
    figures: dict = {"background_busy_pct": background}
    for name, result in results.items():
        ingest.report_closed(f"{name}", result, args.concurrency)
        figures[f"{name}_rps"] = round(result.rate, 1)
        figures[f"{name}_cpu_ms"] = result.cpu
    common.print_header("ratios to ping")
    for name in ("floor", "bookings"):
        ratio = results[name].rate / ping_rate if ping_rate else 0.0
        figures[f"{name}_ratio"] = round(ratio, 3)
        common.print_figure(f"{name}/ping", f"{ratio:.3f}")
    # The ingest guard: the real booking keeps at least GUARD of the floor's rate, so the
    # planning (lock rows, free code, grant, codes, commands) stays cheap.
    guard = results["bookings"].rate / results["floor"].rate if results["floor"].rate else 0.0
    figures["bookings_floor_ratio"] = round(guard, 3)
    common.print_figure("bookings/floor", f"{guard:.3f} (guard >= {GUARD})")
    errors = sum(r.errors for r in results.values())
    figures["errors"] = errors
    failures = [f"{errors} errors"] if errors else []
    if guard < GUARD:
        failures.append(f"bookings/floor {guard:.3f} < {GUARD}")
    return common.finish("ingest_floor", figures, failures)


if __name__ == "__main__":
    sys.exit(main())
