"""The floor under bench/noisy_neighbour.py: what the shared machine itself does to a short
path while organization A's noise runs, with no Latchkey code and no shared rows involved.

`FloorProbe` runs in a process of its own (`ProbeProcess`: this file run as a script), next to
B's load, on its own PostgreSQL connection to the benchmark's database and its own table
(nothing of the portal's touches it). Its own process, because the benchmark script is the
load generator too: its event loops (A's and B's posts, 48 long-polls) hold the GIL often
enough that a probe thread inside it measured the script as much as the machine.

- chain: CHAIN_COMMITS tiny transactions in a row (an INSERT and a COMMIT each), the number
  of commits on B's shortest path from a booking to `set` (the booking, the claim, the lock's
  write, the code's record, the command's end). A chain's time is a floor for B's booking ->
  `set`: any design that commits that often pays at least this, before queues and Python;
- select: one `SELECT 1` round trip, the least a ping can cost in the database;
- scheduler: how late a 5 ms sleep wakes at nice 0 (the web's priority): CPU contention;
- host_cpu: the CPU time (the thread's own, not the wall clock) a fixed piece of pure Python
  work takes. Waiting for a CPU does not count in it, so it moves only when the CPU itself
  does less per second: the virtual machine's host sharing the core (its other guests, the
  SMT sibling) or lowering its clock. When the p99s of every series jump together in a phase
  without A's noise, this says whether the host, not the portal, moved them;
- steal: the share of the machine's CPU time the hypervisor gave to other guests while this
  one had work (/proc/stat's steal, over every 100 ms): time no process of the portal could
  run, whatever it did. The host_cpu loop cannot see it (a thread's CPU clock stops too);
- ping (when given a URL): B's `GET /api/v1/ping/` from this quiet process, on one kept-alive
  connection as a PMS client would, every 50 ms: what B sees of the portal, without the load
  generator's own delays;
- ping_alone (when given a second URL): the same ping against a web process of its own (the
  same gunicorn command, one worker) that no other request reaches: what the portal's own code
  costs B on this machine when no other tenant's requests share its process;
- http_empty, http_db (when given the URL of bench/floor_http.py): the same, against the web's
  server stack with no portal code: an answer with no work, and one after a `SELECT 1`. The
  floor under the ping: no design of the portal's answers faster than these.

Each sample is stamped, so the figures are taken over exactly B's two phases. The chain's p99
ratio (noisy over quiet) shows how much the machine alone moves a short commit path; it is not
a bound on B's ratio (a 15 ms chain's p99 swells more easily than B's 0.3 s one, and B's ratio
has come in under it, 2026-12-04). The HTTP floor (floor_http.py) is a bound on B's ping: no
design answers faster than an empty answer from the same server stack.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

CHAIN_COMMITS = 5
CHAINS_PER_SECOND = 4.0
SELECTS_PER_SECOND = 10.0
PINGS_PER_SECOND = 20.0
PROBE_HEADER = "X-Probe-Sent"  # the ping's send time, for the server's access log
HOST_WORK = 40_000  # loop turns of the host_cpu probe: about 1 ms of one core, at rest
SERIES = ("chain", "select", "scheduler", "host_cpu", "ping", "ping_alone", "http_empty", "http_db")


@dataclass
class Samples:
    chain: list[tuple[float, float]] = field(default_factory=list)  # (when, seconds)
    select: list[tuple[float, float]] = field(default_factory=list)
    scheduler: list[tuple[float, float]] = field(default_factory=list)
    host_cpu: list[tuple[float, float]] = field(default_factory=list)
    ping: list[tuple[float, float]] = field(default_factory=list)  # inf: an error answer
    ping_alone: list[tuple[float, float]] = field(default_factory=list)
    http_empty: list[tuple[float, float]] = field(default_factory=list)
    http_db: list[tuple[float, float]] = field(default_factory=list)
    steal: list[tuple[float, float]] = field(default_factory=list)  # (when, share of 100 ms)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))]


class FloorProbe:
    def __init__(
        self, dsn: str, *, ping_url: str = "", ping_key: str = "", floor_url: str = "",
        alone_url: str = "",
    ):  # fmt: skip
        self.dsn, self.ping_url = dsn, ping_url
        self.auth = {"Authorization": f"Bearer {ping_key}"}  # B's key, for both pings
        self.samples = Samples()
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._chains, daemon=True),
            threading.Thread(target=self._selects, daemon=True),
            threading.Thread(target=self._scheduler, daemon=True),
            threading.Thread(target=self._host_cpu, daemon=True),
            threading.Thread(target=self._steal, daemon=True),
        ]
        if ping_url:
            self.threads.append(threading.Thread(target=self._pings, daemon=True))
        if alone_url:
            self.threads.append(threading.Thread(
                target=self._gets, args=(alone_url, self.samples.ping_alone, self.auth), daemon=True
            ))  # fmt: skip
        if floor_url:  # bench/floor_http.py: the web's server stack, no portal code
            for path, series in (
                ("/empty", self.samples.http_empty),
                ("/db", self.samples.http_db),
            ):
                target = (floor_url + path, series)
                self.threads.append(threading.Thread(target=self._gets, args=target, daemon=True))

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

    def _host_cpu(self) -> None:
        for _ in self._every(SELECTS_PER_SECOND):
            started = time.thread_time()
            total = 0
            for turn in range(HOST_WORK):
                total += turn & 7
            self.samples.host_cpu.append((time.time(), time.thread_time() - started))

    def _steal(self) -> None:
        before = _cpu_ticks()
        for _ in self._every(SELECTS_PER_SECOND):
            now = _cpu_ticks()
            total = now[0] - before[0]
            if total > 0:
                self.samples.steal.append((time.time(), (now[1] - before[1]) / total))
            before = now

    def _pings(self) -> None:
        self._gets(self.ping_url, self.samples.ping, headers=self.auth, stamp=True)

    def _gets(self, target: str, series: list, headers: dict | None = None, stamp=False) -> None:
        """GET `target` every 50 ms on one kept-alive connection; `stamp`: with the send time
        in a header, for the web's access log."""
        url = urlsplit(target)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        for _ in self._every(PINGS_PER_SECOND):
            started = time.monotonic()
            sent = {**(headers or {})}
            if stamp:
                sent[PROBE_HEADER] = f"{time.time():.3f}"
            try:
                conn.request("GET", url.path, headers=sent)
                answer = conn.getresponse()
                answer.read()
                ok = answer.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()  # reconnects on the next request
                ok = False
            took = time.monotonic() - started
            series.append((time.time(), took if ok else float("inf")))

    def window(self, start: float, end: float) -> dict:
        """p50/p99 in ms of each probe between two wall-clock times (a phase of B's)."""
        return window(self.samples, start, end)


def _cpu_ticks() -> tuple[int, int]:
    """(all CPU ticks, stolen ticks) since boot, over every CPU (/proc/stat's first line)."""
    with open("/proc/stat") as stat:
        ticks = [int(n) for n in stat.readline().split()[1:]]
    return sum(ticks[:8]), ticks[7]  # user .. steal; guest time is inside user already


def window(samples: Samples, start: float, end: float) -> dict:
    """p50/p99 in ms of each series between two wall-clock times (a phase of B's), and the
    CPU share stolen by the host over it (mean and worst 100 ms, in %)."""
    stolen = [s for when, s in samples.steal if start <= when <= end]
    figures = {"steal": {
        "n": len(stolen),
        "mean_pct": round(100 * sum(stolen) / len(stolen), 1) if stolen else None,
        "max_pct": round(100 * max(stolen), 1) if stolen else None,
    }}  # fmt: skip
    for name in SERIES:
        inside = [s for when, s in getattr(samples, name) if start <= when <= end]
        p50, p99 = _percentile(inside, 50), _percentile(inside, 99)
        figures[name] = {
            "n": len(inside),
            "p50_ms": None if p50 is None else round(p50 * 1000, 1),
            "p99_ms": None if p99 is None else round(p99 * 1000, 1),
        }
    return figures


class ProbeProcess:
    """`FloorProbe` in a child process (this file as a script), so the load generator's GIL
    is not in its figures. Samples come back as JSON when it stops."""

    def __init__(
        self, dsn: str, *, ping_url: str = "", ping_key: str = "", floor_url: str = "",
        alone_url: str = "",
    ):  # fmt: skip
        self.out = Path(tempfile.mkstemp(prefix="latchkey-probe-", suffix=".json")[1])
        argv = [sys.executable, __file__, "--dsn", dsn, "--out", str(self.out)]
        if ping_url:
            argv += ["--ping-url", ping_url, "--ping-key", ping_key]
        if floor_url:
            argv += ["--floor-url", floor_url]
        if alone_url:
            argv += ["--alone-url", alone_url]
        self.argv, self.proc, self.samples = argv, None, Samples()

    def start(self) -> ProbeProcess:
        # A session of its own: Linux shares the CPU between sessions (autogroup), and in the
        # script's session the probe's timings took turns with the load generator's.
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, start_new_session=True)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.proc = None
        text = self.out.read_text() if self.out.exists() else ""
        self.out.unlink(missing_ok=True)
        if text:
            loaded = json.loads(text)
            self.samples = Samples(**{k: [tuple(x) for x in v] for k, v in loaded.items()})

    def window(self, start: float, end: float) -> dict:
        """Call after `stop`: the samples come back when the process ends."""
        return window(self.samples, start, end)


def _serve() -> None:
    parser = argparse.ArgumentParser(description="the floor probe, until SIGTERM")
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--ping-url", default="")
    parser.add_argument("--ping-key", default="")
    parser.add_argument("--floor-url", default="")
    parser.add_argument("--alone-url", default="")
    args = parser.parse_args()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    probe = FloorProbe(
        args.dsn,
        ping_url=args.ping_url,
        ping_key=args.ping_key,
        floor_url=args.floor_url,
        alone_url=args.alone_url,
    ).start()
    while not stopping.wait(0.5):
        pass
    probe.stop()
    finite = {  # JSON has no infinity: a failed ping is stored as a day
        name: [(when, min(took, 86400.0)) for when, took in series]
        for name, series in asdict(probe.samples).items()
    }
    Path(args.out).write_text(json.dumps(finite))


if __name__ == "__main__":
    _serve()
