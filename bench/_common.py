"""Shared plumbing for the benchmarks: a throw-away database, Redis purges, subprocesses
(gunicorn, celery) that are always stopped, CPU accounting from /proc, and the report format.

Nothing here touches data outside the benchmark's own database and Redis databases.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LOG_DIR = Path(tempfile.gettempdir()) / "latchkey-bench"  # server logs, outside the repo
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# LATCHKEY_BENCH_REDIS points the benchmarks at another Redis server (say, one of their own
# while tests use the default one): they flush the databases they use.
REDIS = os.environ.get("LATCHKEY_BENCH_REDIS", "redis://127.0.0.1:6379").rstrip("/")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# 4 sync workers (one request per process) beat 2 workers x 4 threads on this 2-core box for
# bookings: threads of one process share the GIL, so a thread holding a lock row in PostgreSQL
# waits for the GIL while the others queue on that row. Ping throughput is about the same.
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 1


# Environment and Django --------------------------------------------------------------------


def bench_env(*, database: str, broker_db: int, cache_db: int, **extra: str) -> dict[str, str]:
    """The environment every process of one benchmark shares (the script, gunicorn, celery).

    Each benchmark gets its own database, broker database and queue name, so two benchmarks
    (or a developer's `make run`) never see each other's data or tasks. The .env file of the
    checkout is ignored so a developer's local settings cannot skew the figures.
    """
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "LATCHKEY_ENV_FILE": "/nonexistent/latchkey-bench.env",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{database}",
        "CELERY_BROKER_URL": f"{REDIS}/{broker_db}",
        "CACHE_URL": f"{REDIS}/{cache_db}",
        "LATCHKEY_QUEUE": f"bench-{database}",
        "LATCHKEY_API_RATE": "1000000/min",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "EMAIL_URL": "consolemail://",
    }
    env.update(extra)
    return env


def setup_django(env: dict[str, str]) -> None:
    """Export the benchmark environment, then start Django in this process (in that order:
    settings read the environment once, at import)."""
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def recreate_database(name: str) -> None:
    """Drop (if it exists) and create the benchmark database, so every run starts empty."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        ident = sql.Identifier(name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))


def analyze(name: str) -> None:
    """Refresh the planner's statistics of the benchmark database, as autovacuum would.

    Why: this machine's PostgreSQL runs with autovacuum off (docker-compose's, like any
    production one, has it on), so a database created empty would keep no statistics while
    a benchmark fills it, and the planner would pick its indexes blind (bench/ingest_floor.py:
    the free-code query then read every code of the lock instead of the drawn ones)."""
    import psycopg

    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def checkpoint() -> None:
    """Write out what setting up left dirty (CREATE DATABASE copies the template through the
    WAL, then migrations and test data), so that flush is not what a latency phase measures.
    PostgreSQL keeps checkpointing during the run on its own schedule, as in production."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def purge_redis(*dbs: int) -> None:
    """Empty the benchmark's own Redis databases (queued tasks, throttle counters)."""
    import redis

    for db in dbs:
        client = redis.Redis.from_url(f"{REDIS}/{db}")
        client.flushdb()
        client.close()


def close_django_connections() -> None:
    from django.db import connections

    connections.close_all()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop the servers we started. Once:
    a second SIGTERM (`pkill` reaches both `timeout` and the script, and `timeout` passes its
    own on) would otherwise abort that `finally` halfway and leave the servers running."""

    def _handler(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _handler)


# Subprocesses ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    """A subprocess in its own process group, with its output in a log file."""

    name: str
    proc: subprocess.Popen
    log_path: Path

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{tail}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the whole group (master and workers), SIGKILL what is left after `timeout`."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Workers that outlived their master (should not happen, but never leave them behind).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def pids(self) -> list[int]:
        """The master and its direct children (gunicorn or celery workers)."""
        return [self.proc.pid, *_children(self.proc.pid)]


def start_service(name: str, argv: Sequence[str], env: dict[str, str]) -> Service:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log_path = LOG_DIR / f"{env['LATCHKEY_QUEUE']}-{name}.log"
    log = log_path.open("w")
    proc = subprocess.Popen(
        list(argv),
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stop() reaches the workers too
    )
    log.close()
    return Service(name=name, proc=proc, log_path=log_path)


def start_gunicorn(env: dict[str, str], *, port: int, workers: int, threads: int) -> Service:
    argv = [
        str(BIN / "gunicorn"),
        "portal.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--graceful-timeout",
        "5",
    ]
    return start_service("gunicorn", argv, env)


def start_celery_worker(env: dict[str, str], *, concurrency: int = 2) -> Service:
    argv = [
        str(BIN / "celery"),
        "-A",
        "portal",
        "worker",
        "--concurrency",
        str(concurrency),
        "-l",
        "warning",
    ]
    return start_service("celery", argv, env)


def wait_http(service: Service, url: str, *, headers: dict[str, str], timeout: float = 30) -> None:
    """Wait until the server answers `url` with 200 (gunicorn boots its workers lazily)."""
    import httpx2

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        service.check_alive()
        try:
            response = httpx2.get(url, headers=headers, timeout=2)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx2.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise RuntimeError(f"{service.name} did not answer {url} within {timeout}s ({last})")


# CPU accounting ----------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def process_cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / CLOCK_TICKS


def postgres_pids(database: str) -> list[int]:
    """The PostgreSQL backends serving the benchmark database (ours alone: it is fresh)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [database],
        ).fetchall()
    return [row[0] for row in rows]


def background_load(seconds: float = 1.0) -> float:
    """Percent of the machine (all cores, 100 % = one core) busy before we add load."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    return round(100 * (machine_busy_seconds() - before) / seconds, 1)


def wait_for_quiet(limit_pct: float = 30.0, max_wait: float = 300.0) -> float:
    """Wait (up to `max_wait` s) until the machine is nearly idle, and return its busy percent.

    The box is shared: someone's test suite running next to the benchmark takes both cores
    and makes every figure meaningless. The returned figure is printed with the results.
    """
    deadline = time.monotonic() + max_wait
    load = background_load()
    warned = False
    while load > limit_pct and time.monotonic() < deadline:
        if not warned:
            print(f"  machine busy at {load} % before the run: waiting for it to calm down...")
            warned = True
        load = background_load(2.0)
    if load > limit_pct:
        print(f"  WARNING: machine still {load} % busy; figures are skewed by other processes")
    return load


@dataclass
class CpuMeter:
    """CPU used during a phase by named groups of our processes (gunicorn, celery), by the
    PostgreSQL backends of the benchmark database, by this process (the load generator), and
    by the whole machine; "rest" is Redis, the kernel and anything else running on the box."""

    groups: dict[str, list[int]]
    database: str
    start: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _sample(self, pg_pids: Iterable[int]) -> dict[str, float]:
        sample = {name: process_cpu_seconds(pids) for name, pids in self.groups.items()}
        sample["postgres"] = process_cpu_seconds(pg_pids)
        sample["client"] = time.process_time()
        sample["machine"] = machine_busy_seconds()
        sample["wall"] = time.monotonic()
        return sample

    def __enter__(self) -> CpuMeter:
        self.pg_start = postgres_pids(self.database)
        self.start = self._sample(self.pg_start)
        return self

    def __exit__(self, *exc) -> None:
        pg_end = postgres_pids(self.database)
        end = self._sample(self.pg_start)
        # Backends that started during the phase count in full.
        end["postgres"] += process_cpu_seconds(set(pg_end) - set(self.pg_start))
        self.used = {key: end[key] - self.start[key] for key in end}

    def per_request_ms(self, requests: int) -> dict[str, float]:
        """CPU milliseconds per request (or per booking), split by who spent them."""
        n = max(1, requests)
        named = [*self.groups, "postgres", "client"]
        rest = self.used["machine"] - sum(self.used[name] for name in named)
        figures = {name: round(1000 * self.used[name] / n, 2) for name in named}
        figures["rest"] = round(1000 * max(0.0, rest) / n, 2)
        figures["machine_busy_pct"] = round(100 * self.used["machine"] / self.used["wall"], 1)
        return figures


def contention_note(cpu: dict[str, float]) -> str | None:
    """A warning when processes other than ours took a real share of the CPU in a phase."""
    total = sum(v for k, v in cpu.items() if k != "machine_busy_pct")
    if total and cpu.get("rest", 0.0) > 0.15 * total:
        share = round(100 * cpu["rest"] / total)
        return f"WARNING: {share} % of the CPU in this phase went to other processes"
    return None


# Figures -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def print_header(title: str) -> None:
    print(f"\n== {title} ==", flush=True)


def print_figure(label: str, value: object, unit: str = "", target: str = "") -> None:
    text = f"  {label:<38} {value}{(' ' + unit) if unit else ''}"
    if target:
        text += f"   (target {target})"
    print(text, flush=True)


def finish(name: str, figures: dict, failures: list[str]) -> int:
    """Print the verdict and the final JSON line; return the exit status."""
    print_header("result")
    if failures:
        for failure in failures:
            print(f"  MISSED: {failure}")
    else:
        print("  all targets met")
    print(json.dumps({"bench": name, "ok": not failures, **figures, "missed": failures}))
    return 1 if failures else 0
