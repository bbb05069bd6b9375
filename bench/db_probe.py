"""The floor under bench/noisy_neighbour.py: what the shared machine itself does to a short
path while organization A's noise runs, with no Latchkey code and no shared rows involved.

`FloorProbe` runs in a thread of the benchmark script next to B's load, on its own PostgreSQL
connection to the benchmark's database and its own table (nothing of the portal's touches it):

- chain: CHAIN_COMMITS tiny transactions in a row (an INSERT and a COMMIT each), the number
  of commits on B's shortest path from a booking to `set` (the booking, the claim, the lock's
  write, the code's record, the command's end). A chain's time is a floor for B's booking ->
  `set`: any design that commits that often pays at least this, before queues and Python;
- select: one `SELECT 1` round trip, the least a ping can cost in the database;
- scheduler: how late a 5 ms sleep wakes at nice 0 (the web's priority): CPU contention.

Each sample is stamped, so the figures are taken over exactly B's two phases. The ratio of the
chain's p99 (noisy over quiet) is the floor of the benchmark's ratio: when the machine alone
makes it exceed the target, no change of the portal's design can meet it here.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import psycopg

CHAIN_COMMITS = 5
CHAINS_PER_SECOND = 4.0
SELECTS_PER_SECOND = 10.0


@dataclass
class Samples:
    chain: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds)
    select: list[tuple[float, float]] = field(default_factory=list)
    scheduler: list[tuple[float, float]] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


class FloorProbe:
    def __init__(self, dsn: str):
        self.dsn = dsn
        self.samples = Samples()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._chains, daemon=True),
            threading.Thread(target=self._selects, daemon=True),
            threading.Thread(target=self._scheduler, daemon=True),
        ]

    def start(self) -> FloorProbe:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_floor_probe "
                "(id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), note text)"
            )
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _every(self, per_second: float):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            yield
            next_at += 1 / per_second
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def _chains(self) -> None:
        with psycopg.connect(self.dsn) as conn:
            for _ in self._every(CHAINS_PER_SECOND):
                started = time.monotonic()
                for step in range(CHAIN_COMMITS):
                    conn.execute("INSERT INTO bench_floor_probe (note) VALUES (%s)", [str(step)])
                    conn.commit()
                self.samples.chain.append((time.time(), time.monotonic() - started))

    def _selects(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            for _ in self._every(SELECTS_PER_SECOND):
                started = time.monotonic()
                conn.execute("SELECT 1").fetchone()
                self.samples.select.append((time.time(), time.monotonic() - started))

    def _scheduler(self) -> None:
        for _ in self._every(SELECTS_PER_SECOND):
            started = time.monotonic()
            time.sleep(0.005)
            self.samples.scheduler.append((time.time(), time.monotonic() - started - 0.005))

    def window(self, start: float, end: float) -> dict:
        """p50/p99 in ms of each probe between two wall-clock times (a phase of B's)."""
        figures = {}
        for name in ("chain", "select", "scheduler"):
            inside = [s for when, s in getattr(self.samples, name) if start <= when <= end]
            p50, p99 = _percentile(inside, 50), _percentile(inside, 99)
            figures[name] = {
                "n": len(inside),
                "p50_ms": None if p50 is None else round(p50 * 1000, 1),
                "p99_ms": None if p99 is None else round(p99 * 1000, 1),
            }
        return figures
