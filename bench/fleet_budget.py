"""One Nuki Web account with 1,000 locks and a rate limit of 100 requests a minute: every lock
is read back (reconciled) within its period, and the account never sees a request over its
limit.

Why: reconcile reads every lock's authorizations back once per period (900 s), and Nuki Web
limits each account. 1,000 reads in 900 s need 67 requests a minute; sent at once (every
lock due together, as the beat's round queues them) they would be 1,000 requests in the first
seconds. The portal's budget per account (locks/budgets.py: a token bucket in Redis shared by
every worker, 90 a minute with bursts of 10 by default, so any 60 s stays <= 100) spreads them;
commands refused by the budget wait (not failed, attempt handed back) until it allows.

The clock is compressed by a time factor F so the run takes a minute or two: the stand-in
allows 100 requests per 60/F seconds (the same limit, F times faster), the budget's rate is
F times the default (its burst unchanged, so any window of 60/F s holds at most 10 + 90
requests), the in-place wait for a token is 2/F s, and the reconcile period 900/F s.
Everything else (HTTP over loopback to the stand-in, the runner, PostgreSQL, Redis) runs at
its real speed, so F is chosen from what the machine manages: 60 reconciles are first run with
no budget, and F is set so the workers could go twice as fast as the compressed budget
(at most 20; `--time-factor` fixes it instead). Thus the budget, not the machine, is what
limits the run, as it is in production where a reconcile costs milliseconds of a worker and the
account's minute is a real minute. On an idle 2-core machine F comes out near its cap; on a
loaded one it is lower and the run longer.

What runs: the stand-in (real HTTP, `rate_limit=100`, `rate_window=60/F`), 1,000 nuki_web
locks in one organization, one RECONCILE command per lock all due at once, and --workers
worker processes (forked) that claim and run due commands with the real runner (`command_run`),
as Celery worker processes would, all drawing on the account's one bucket in Redis (the broker
is in memory: nothing consumes it; the processes do).

Targets: requests over the limit (429s counted by the stand-in) = 0; every lock read (its
reconcile succeeded) within the period. Reported: requests, postponements by the budget,
requests per (account) minute, the last read's time in account minutes.

Run: .venv/bin/python bench/fleet_budget.py [--time-factor F] [--locks 1000] [--workers 3]
`main()` returns the figures as a dict (bench/fleet.py calls it); when the caller already set
up Django (another database), it runs this script in a process of its own.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import queue
import subprocess
import sys
import time

import _common as common

DATABASE = "latchkey_bench_budget"
CACHE_DB = 0  # the budget's buckets (its own keys only: never flushed); the broker is in memory
LIMIT = 100  # the account's requests per minute (the stand-in's rate limit)
PERIOD = 900.0  # the reconcile period, seconds of account time
CALIBRATION = 60  # reconciles run without a budget to measure what the machine manages
HEADROOM = 2.0  # the workers can go this much faster than the (compressed) budget
MAX_FACTOR = 20.0


def _options(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--time-factor", type=float, default=0.0, help="0: chosen from a calibration run"
    )
    parser.add_argument("--locks", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--cache-db", type=int, default=CACHE_DB)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument(
        "--no-budget", action="store_true", help="the control: no budget, only the 429s"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """The figures as a dict (see the module's docstring)."""
    from django.conf import settings

    if settings.configured:  # called from another benchmark: run in a process of our own
        out = subprocess.run(  # our own interpreter and script, fixed arguments
            [sys.executable, __file__, *(argv or [])],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if not lines:
            return {"bench": "fleet_budget", "ok": False, "missed": [out.stderr[-500:]]}
        return json.loads(lines[-1])
    return _run(_options(argv))


def _run(opts) -> dict:
    common.exit_on_sigterm()
    sys.path.insert(0, str(common.ROOT))
    from locks.simulators.nukiweb import NukiWebSimulator

    sim = NukiWebSimulator(
        port=0, api_tokens=["bench-budget-token"], smartlocks=opts.locks, apply_delay=0.05
    ).start()
    env = common.bench_env(
        database=opts.database,
        broker_db=opts.cache_db,
        cache_db=opts.cache_db,
        CELERY_BROKER_URL="memory://",
        LATCHKEY_BUDGET_REDIS_URL=f"{common.REDIS}/{opts.cache_db}",
        LATCHKEY_ORG_RUNNING_COMMANDS="0",
    )
    common.recreate_database(opts.database)
    common.setup_django(env)
    common.migrate()
    try:
        return _measure(sim, opts)
    finally:
        sim.stop()
        from locks import budgets

        budgets.forget_all()  # only the budget's own keys: the database is not flushed
        common.close_django_connections()


def _seed(sim, locks: int) -> list:
    import datetime as dt
    import secrets

    from django.utils import timezone

    from locks.models import Lock, NukiWebConnection
    from portal.services import organization_create

    org, _, _ = organization_create(name="Bench Fleet Budget", owner_email="o@bench.invalid")
    NukiWebConnection.objects.create(
        organization=org,
        kind="api_token",
        api_url=sim.url,
        access_token="bench-budget-token",
        expires_at=timezone.now() + dt.timedelta(days=3650),
        webhook_key=secrets.token_urlsafe(24),
    )
    return Lock.objects.bulk_create(
        Lock(organization=org, name=f"Door {n}", driver="nuki_web", nuki_id=smartlock_id)
        for n, smartlock_id in enumerate(sim.smartlock_ids[:locks])
    )


def _round(locks: list):
    """The beat's round: a RECONCILE for each lock, every one due at once. Returns its start."""
    from django.utils import timezone

    from locks.models import CommandKind, LockCommand

    now = timezone.now()
    LockCommand.objects.bulk_create(
        LockCommand(
            organization_id=lock.organization_id,
            lock=lock,
            kind=CommandKind.RECONCILE,
            next_attempt_at=now,
        )
        for lock in locks
    )
    return now


def _worker(index: int, workers: int, stop, results) -> None:
    """A Celery worker process's part: claim and run due commands with the real runner. One
    process each (forked after seeding), as the worker processes of production, drawing on the
    account's one bucket in Redis."""
    from django.db import connections
    from django.utils import timezone

    from locks.models import CommandStatus, LockCommand
    from locks.sync.runner import command_run

    connections.close_all()  # the parent's connection is not ours to use
    outcomes: dict[str, int] = {}
    try:
        while not stop.is_set():
            due = list(
                LockCommand.objects.filter(
                    status=CommandStatus.PENDING, next_attempt_at__lte=timezone.now()
                )
                .order_by("next_attempt_at", "pk")
                .values_list("pk", flat=True)[: 20 * workers]
            )
            mine = [pk for pk in due if pk % workers == index]
            if not mine:
                time.sleep(0.01)
                continue
            for pk in mine:
                outcome = command_run(command_id=pk)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        connections.close_all()
        results.put(outcomes)


def _work(workers: int, *, timeout: float) -> tuple[float, dict[str, int]]:
    """Run forked worker processes until no command is left to run (or `timeout`); returns the
    wall time and what the commands' runs came to."""
    from locks.models import CommandStatus, LockCommand

    common.close_django_connections()
    context = multiprocessing.get_context("fork")
    stop, results = context.Event(), context.Queue()
    processes = [
        context.Process(target=_worker, args=(i, workers, stop, results), daemon=True)
        for i in range(workers)
    ]
    began = time.monotonic()
    for process in processes:
        process.start()
    outcomes: dict[str, int] = {}
    try:
        while time.monotonic() < began + timeout:
            if not LockCommand.objects.exclude(status=CommandStatus.SUCCEEDED).exists():
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for _ in processes:
            try:
                for outcome, n in results.get(timeout=30).items():
                    outcomes[outcome] = outcomes.get(outcome, 0) + n
            except queue.Empty:
                break
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        common.close_django_connections()
    return time.monotonic() - began, outcomes


def _calibrate(locks: list, workers: int) -> float:
    """Reconciles per real second this machine's workers manage with no budget at all."""
    from django.conf import settings

    from locks.models import LockCommand

    settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = 0
    sample = locks[:CALIBRATION]
    _round(sample)
    wall, _ = _work(workers, timeout=120)
    LockCommand.objects.all().delete()
    return len(sample) / wall


def _measure(sim, opts) -> dict:
    from django.conf import settings
    from django.db.models import Max

    from locks import budgets
    from locks.models import CommandStatus, LockCommand
    from locks.simulators.ratelimit import WindowLimit

    locks = _seed(sim, opts.locks)
    capacity = _calibrate(locks, opts.workers)
    # The budget (1.5 x F requests a real second) must be what binds, not the machine.
    factor = opts.time_factor or max(1.0, min(MAX_FACTOR, capacity / (HEADROOM * 90 / 60)))
    period = PERIOD / factor
    sim.rate_limit = WindowLimit(LIMIT, 60.0 / factor)
    settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = 0 if opts.no_budget else 90 * factor
    settings.LATCHKEY_NUKI_WEB_BURST = 10
    settings.LATCHKEY_BUDGET_MAX_WAIT_SECONDS = 2.0 / factor
    budgets.forget_all()
    sim.reset_counters()
    started_at = _round(locks)
    wall, outcomes = _work(opts.workers, timeout=3 * period)
    done = LockCommand.objects.filter(status=CommandStatus.SUCCEEDED)
    read = done.count()
    last = done.aggregate(last=Max("finished_at"))["last"]
    last_s = (last - started_at).total_seconds() if last else float("inf")
    requests = sum(
        v for k, v in sim.counters.items() if k.split(" ")[0] in {"GET", "PUT", "POST", "DELETE"}
    )
    over = sim.counters["rate_limited"]
    figures = {
        "bench": "fleet_budget",
        "locks": opts.locks,
        "workers": opts.workers,
        "machine_reconciles_per_s": round(capacity, 1),
        "time_factor": round(factor, 2),
        "limit_per_minute": LIMIT,
        "budget_per_minute": 0 if opts.no_budget else 90,
        "requests": requests,
        "over_limit": over,
        "locks_read": read,
        "postponed": outcomes.get("postponed", 0),
        "account_minutes_to_read_all": round(last_s * factor / 60, 2),
        "period_minutes": PERIOD / 60,
        "requests_per_account_minute": round(requests / max(1e-9, wall * factor / 60), 1),
        "wall_seconds": round(wall, 1),
        "all_read_within_period": read == opts.locks and last_s <= period,
    }
    failures = []
    if over:
        failures.append(f"{over} requests over the account's limit (target 0)")
    # Below the budget's rate the machine, not the budget, set the pace (it slowed down after
    # the calibration: other load): said so, as the period then measures the machine.
    figures["machine_bound"] = figures["requests_per_account_minute"] < 0.9 * 90
    if not figures["all_read_within_period"]:
        failures.append(
            f"{read} of {opts.locks} locks read, the last after "
            f"{figures['account_minutes_to_read_all']} account minutes (period {PERIOD / 60:g})"
            + (" - the machine set the pace, not the budget" if figures["machine_bound"] else "")
        )
    figures["ok"] = not failures
    figures["missed"] = failures
    return figures


def _report(figures: dict) -> int:
    common.print_header("Nuki Web account budget: reconcile read-backs under a rate limit")
    for label, key in [
        ("locks", "locks"),
        ("worker processes", "workers"),
        ("reconciles/s the machine manages", "machine_reconciles_per_s"),
        ("time factor (account s per real s)", "time_factor"),
        ("account limit, requests/min", "limit_per_minute"),
        ("budget, requests/min", "budget_per_minute"),
        ("requests served", "requests"),
        ("requests over the limit (429)", "over_limit"),
        ("commands postponed (budget or 429)", "postponed"),
        ("requests per account minute", "requests_per_account_minute"),
        ("locks read", "locks_read"),
        ("last read after (account minutes)", "account_minutes_to_read_all"),
        ("reconcile period (minutes)", "period_minutes"),
        ("every lock read within its period", "all_read_within_period"),
        ("machine slower than the budget", "machine_bound"),
        ("wall time (s)", "wall_seconds"),
    ]:
        common.print_figure(label, figures.get(key))
    figures = dict(figures)
    failures = figures.pop("missed", [])
    figures.pop("ok", None)
    figures.pop("bench", None)
    return common.finish("fleet_budget", figures, failures)


if __name__ == "__main__":
    sys.exit(_report(_run(_options(sys.argv[1:]))))
