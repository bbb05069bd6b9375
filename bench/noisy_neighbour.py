"""Noisy neighbour: one organization's hostile load must not slow another's doors.

Why: the portal is multi-tenant. Before the agent path became asynchronous and the queues were
split per channel, eight idle agent long-polls of one tenant held every web thread, and one
tenant's silent agents held every Celery slot (another tenant's code took 164 s instead of 2 s).

One run, on this machine, against PostgreSQL and Redis, with the production process layout
(docker-compose.yml's own commands: gunicorn with uvicorn workers, one Celery worker per
channel queue, beat), in the benchmark's own database and Redis databases:

* quiet phase: organization B posts 200 bookings (20 properties, one zero-delay virtual lock
  each) at 10/s while pinging `GET /api/v1/ping/` every 50 ms (from the probe's own process,
  see below; the same ping from the script's loop is printed beside it);
* noisy phase: the same load for B (on 20 other properties) while organization A has
  - 50 enrolled agents long-polling `GET /agent/v1/jobs?wait=30`: 48 plain HTTP pollers and
    2 real agent programs (`python -m locks.agent run --simulate 2`) that answer their jobs,
    with 20 of A's bookings on their 4 simulated Smart Locks;
  - 20 agents that never answer, 8 locks each, and 200 bookings on those locks (1,600 codes);
  - 10 bridges that accept connections and never answer (added through the API);
  - a 40,000-event iCal feed fetched (the cap keeps 2,000 future stays).

Before the quiet phase every web process and code worker child takes a few of B's bookings,
not measured (warm_up): a cold child's first commands were the quiet phase's p99.

Figures: B's booking -> code `set` p50 and p99 per phase, B's ping p99 per phase; in the noisy
phase both also for the seconds A's posts are in flight and for the rest of it.
Targets: noisy p99 / quiet p99 <= 1.5; ping p99 < 100 ms in the noisy phase. A's work must
progress: every code on the answering agents `set`, every code on the silent agents `failed`
in plain words ("The on-site agent ... has not been heard from since ...") within its deadline.

The set-up raises two limits that would refuse the scenario itself (they are not what is measured):
A's organization runs with LATCHKEY_ORG_MAX_AGENTS=80 (the default cap, 20, would refuse the
scenario's 72 agents; the cap is per organization, so B is not affected either way), and
LATCHKEY_ANON_RATE=1000/min lets one address enroll 72 agents in seconds.

The floor: next to B's load a probe (bench/db_probe.py) times what the machine alone does to a
short path, with no portal code and no shared rows: 5 tiny commits in a row (B's shortest path
to `set` commits that often), a SELECT 1 round trip and the scheduler's delay at nice 0. Its
noisy / quiet p99 ratio is printed next to B's, for reading them together (not a bound: a 15 ms
chain's p99 swells more easily than B's, and B's ratio has come in under it).
The same probe pings bench/floor_http.py (uvicorn, as the web, with no portal code: an empty
answer, and one after a SELECT 1): the floor under B's ping in the same moments; and B's same
ping on a second web (the same command, one process) that nothing else reaches: what the
portal's own code costs B when no other tenant shares its process. B's floor path goes there
too: 4 bookings a second of B's (on properties of their own), in both phases, through that web
and a codes worker of their own (their own queue names): B's booking -> `set` when no portal
process is shared with A, only the machine, PostgreSQL and Redis. Its noisy / quiet p99 ratio
is printed beside B's: what this machine leaves of the 1.5 target before any sharing.

Each service is started in a session of its own, as docker-compose runs each in a container of
its own: Linux shares the CPU between sessions (autogroup) as Docker does between containers,
so the bulk workers' LATCHKEY_WORKER_NICE lowers their session's group (portal/celery.py), as
the compose file's cpu_shares lowers their containers', and the web's and the codes worker's
sessions get the weight their containers have there (2048: `weigh_like_compose`).
The probe runs in its own process, and B's pinger with it: this script is also the load
generator (A's posts, B's posts, 48 long-polls and the state polling share its GIL), and a
ping timed inside it measured the script's own delays as much as the portal's.

Run: .venv/bin/python bench/noisy_neighbour.py          (~5 min)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import logging
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import _common as common
import httpx2
import yaml
from db_probe import CHAIN_COMMITS, PROBE_HEADER, ProbeProcess

DATABASE = "latchkey_bench_noisy"
BROKER_DB, CACHE_DB = 1, 2
B_PROPERTIES = 20  # per phase
# B's floor path: a light stream of B's bookings to a web and a codes worker of their own
# (the second web, with its own queue names), beside B's measured stream, in both phases.
ALONE_PROPERTIES, ALONE_RATE = 10, 4.0
# Before anything is measured, B posts a few bursts of simultaneous bookings to both webs, so
# every web process and every code worker child has run B's path once (see warm_up).
WARM_ROUNDS, WARM_BURST = 3, 8
SILENT_AGENTS, SILENT_LOCKS, SILENT_BOOKINGS = 20, 8, 200
POLLERS, REAL_AGENTS, REAL_AGENT_LOCKS, REAL_AGENT_BOOKINGS = 48, 2, 2, 20
BRIDGES, ICAL_EVENTS = 10, 40_000
JOB_DEADLINE_S, MAX_ATTEMPTS = 20, 2
TARGET_RATIO, TARGET_PING_P99_S = 1.5, 0.100
# The web's access log times each request inside the server (portal.asgi_worker); the probe's
# pings carry their send time in a header, so their server time can be taken per phase.
ACCESS_LOG_FORMAT = (
    f"--access-logformat 'probe=%({{{PROBE_HEADER.lower()}}}i)s us=%(D)s %(s)s \"%(r)s\"'"
)


def server_ping_times(log_path: Path, start: float, end: float) -> list[float]:
    """Seconds the web itself spent on each probe ping sent between start and end."""
    took = []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("probe=") or line.startswith("probe=-"):
            continue
        stamp, micros = line.split()[:2]
        if start <= float(stamp.removeprefix("probe=")) <= end:
            took.append(int(micros.removeprefix("us=")) / 1e6)
    return took


# Processes: docker-compose.yml's own command lines ------------------------------------------


@functools.cache
def compose_services() -> dict:
    """docker-compose.yml's services, read once per run."""
    return yaml.safe_load((common.ROOT / "docker-compose.yml").read_text())["services"]


def compose_command(service: str, *, queue_prefix: str, port: int) -> list[str]:
    """The service's command from docker-compose.yml, bound to loopback and with the
    benchmark's queue names (LATCHKEY_QUEUE prefixes every queue, as in settings)."""
    argv = list(compose_services()[service]["command"])
    out = []
    for i, arg in enumerate(argv):
        if i and argv[i - 1] == "--bind":
            arg = f"127.0.0.1:{port}"
        elif i and argv[i - 1] == "-Q":
            arg = ",".join(f"{queue_prefix}-{q}" for q in arg.split(","))
        out.append(arg)
    out[0] = str(common.BIN / out[0]) if (common.BIN / out[0]).exists() else out[0]
    if out[0] == "python":
        out[0] = sys.executable
    return out


def service_priority(service: str) -> dict[str, str]:
    """The service's LATCHKEY_WORKER_NICE from docker-compose.yml (bulk channels run niced)."""
    environment = compose_services()[service].get("environment") or {}
    nice = environment.get("LATCHKEY_WORKER_NICE")
    return {"LATCHKEY_WORKER_NICE": str(nice)} if nice is not None else {}


def weigh_like_compose(service: str, proc: subprocess.Popen) -> str:
    """Give the service's session the CPU weight docker-compose.yml gives its container
    (`cpu_shares`, 1024 when unset) as the session's autogroup nice (each step is a factor
    of 1.25 in the kernel's weights): 2048 (the web, the codes worker) is nice -3. Services
    that set their own (LATCHKEY_WORKER_NICE: the bulk workers lower their session themselves)
    are left alone.
    A negative nice needs root (CAP_SYS_NICE); without it the line printed says so."""
    shares = compose_services()[service].get("cpu_shares", 1024)
    if service_priority(service) or shares == 1024:
        return ""
    nice = round(-math.log(shares / 1024, 1.25))
    try:
        Path(f"/proc/{proc.pid}/autogroup").write_text(str(nice))
    except OSError as exc:
        return f"cpu_shares {shares}: not applied ({exc.strerror})"
    return f"cpu_shares {shares}: session nice {nice}"


def worker_services() -> list[str]:
    return sorted(name for name in compose_services() if name.startswith("worker"))


# Data ----------------------------------------------------------------------------------------


@dataclass
class World:
    b_key: str
    a_key: str
    a_org_id: int
    b_props: dict[str, list[str]]  # phase -> external refs
    b_alone_props: dict[str, list[str]] = field(default_factory=dict)  # the floor path's
    silent_props: list[int] = field(default_factory=list)
    real_prop: int = 0
    feed_prop: int = 0
    enrollments: list[str] = field(default_factory=list)  # real agents' one-time tokens
    poller_tokens: list[str] = field(default_factory=list)  # pollers' one-time tokens
    silent_enrollments: list[str] = field(default_factory=list)


def b_doors(b_org, prefix: str, count: int) -> list[str]:
    """`count` properties of B's, one zero-delay virtual lock each; their external refs."""
    from locks.services import lock_create
    from properties.services import property_create

    refs = []
    for i in range(count):
        ref = f"{prefix}{i}"
        prop = property_create(
            organization=b_org, name=f"B {ref}", timezone="Europe/Vienna", external_ref=ref
        )
        lock_create(
            organization=b_org, property=prop, name=f"B door {ref}", driver="virtual",
            config={"delay_ms": 0},
        )  # fmt: skip
        refs.append(ref)
    return refs


def agent_doors(prop, agent, n: int, count: int) -> None:
    """`count` paired locks of organization A's behind `agent` on property `prop` (the n-th)."""
    from locks.models import Lock

    for k in range(count):
        Lock.objects.create(
            organization_id=prop.organization_id, property=prop, name=f"A door {n}.{k}",
            driver="ble_agent", agent=agent, ble_address=f"54:D2:72:{n:02X}:{k:02X}:00",
            config={"paired": True},
        )  # fmt: skip


def create_world() -> World:
    from locks.integrations.ble_agent.enrollment import agent_create
    from portal.services import api_key_create, organization_create
    from properties.services import property_create

    b_org, _, _ = organization_create(name="Quiet Stays B", owner_email="b@bench.invalid")
    phases = ("quiet", "noisy")
    b_props = {phase: b_doors(b_org, f"{phase}-", B_PROPERTIES) for phase in phases}
    b_alone_props = {phase: b_doors(b_org, f"alone-{phase}-", ALONE_PROPERTIES) for phase in phases}
    warm = WARM_ROUNDS * WARM_BURST  # one property per warm-up stay: no two share a window
    b_props["warm"] = b_doors(b_org, "warm-", warm)
    b_alone_props["warm"] = b_doors(b_org, "alone-warm-", warm)
    _, b_key = api_key_create(organization=b_org, scope="write", name="bench")

    a_org, _, _ = organization_create(name="Noisy Stays A", owner_email="a@bench.invalid")
    _, a_key = api_key_create(organization=a_org, scope="write", name="bench")
    world = World(
        b_key=b_key, a_key=a_key, a_org_id=a_org.pk, b_props=b_props, b_alone_props=b_alone_props
    )

    for n in range(SILENT_AGENTS):
        prop = property_create(
            organization=a_org, name=f"A silent {n}", timezone="Europe/Vienna", address="A"
        )
        world.silent_props.append(prop.pk)
        agent, enrollment = agent_create(organization=a_org, name=f"Silent agent {n}")
        world.silent_enrollments.append(enrollment)
        agent_doors(prop, agent, n, SILENT_LOCKS)
    # The feed's own property has no lock: the feed's cost here is fetching, parsing and
    # capping 40,000 events into 2,000 stays, not planning their codes.
    world.feed_prop = property_create(
        organization=a_org, name="A calendar", timezone="Europe/Vienna", address="A"
    ).pk
    world.real_prop = property_create(
        organization=a_org, name="A answered", timezone="Europe/Vienna", address="A"
    ).pk
    for n in range(REAL_AGENTS):
        world.enrollments.append(agent_create(organization=a_org, name=f"Real agent {n}")[1])
    for n in range(POLLERS):
        world.poller_tokens.append(agent_create(organization=a_org, name=f"Poller {n}")[1])
    return world


def enroll(base: str, enrollments: list[str]) -> list[str]:
    """Enroll agents over HTTP, as the agent program does; returns their agent tokens. The
    silent agents enroll once (so they count as enrolled) and are never heard from again."""
    tokens = []
    for enrollment in enrollments:
        answer = httpx2.post(f"{base}/agent/v1/enroll", json={"token": enrollment}, timeout=30)
        answer.raise_for_status()
        tokens.append(answer.json()["agent_token"])
    return tokens


# Load ----------------------------------------------------------------------------------------


@dataclass
class Posted:
    started: float
    booking_id: int | None = None
    status: int = 0
    answered: float = 0.0  # when the answer came (time.time()), 0 without one
    retried: int = 0  # 429s posted again (A only)


def booking_body(ref: str, prop: str | int, day: int) -> dict:
    check_in = dt.date.today() + dt.timedelta(days=day % 2)
    return {
        "external_id": ref,
        "property": prop,
        "status": "confirmed",
        "check_in": check_in.isoformat(),
        "check_out": (check_in + dt.timedelta(days=2)).isoformat(),
        "guest": {"name": f"Guest {ref}", "email": f"{ref}@bench.invalid", "language": "en"},
    }


async def post_open_loop(
    base: str, key: str, bodies: list[dict], rate: float, *, retry_busy: bool = False
) -> list[Posted]:
    """POST at fixed times (open loop): a slow answer does not delay the next booking.
    With `retry_busy` a 429 is posted again after its Retry-After, as a PMS does (A's burst
    meets its organization's share of the web, portal/bulkhead.py); B's 429s are counted."""
    loop = asyncio.get_running_loop()
    posted = [Posted(started=0.0) for _ in bodies]

    async def one(client: httpx2.AsyncClient, i: int) -> None:
        posted[i].started = time.time()
        try:
            answer = await client.post("/api/v1/bookings/", json=bodies[i])
            while retry_busy and answer.status_code == 429:
                posted[i].retried += 1
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                answer = await client.post("/api/v1/bookings/", json=bodies[i])
        except httpx2.HTTPError:
            return
        posted[i].status = answer.status_code
        posted[i].answered = time.time()
        if answer.status_code in (200, 201):
            posted[i].booking_id = answer.json()["id"]

    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        start, tasks = loop.time() + 0.05, []
        for i in range(len(bodies)):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))
            tasks.append(asyncio.create_task(one(client, i)))
        await asyncio.gather(*tasks)
    return posted


async def ping_until(base: str, key: str, stop: asyncio.Event, every: float) -> list[float]:
    took = []
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx2.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        while not stop.is_set():
            began = time.monotonic()
            try:
                answer = await client.get("/api/v1/ping/")
                ok = answer.status_code == 200
            except httpx2.HTTPError:
                ok = False  # counted as a failed ping (infinitely slow), not a crash
            took.append(time.monotonic() - began if ok else float("inf"))
            await asyncio.sleep(max(0.0, every - (time.monotonic() - began)))
    return took


async def b_phase(base: str, alone: str, world: World, phase: str, count: int, rate: float):
    """B's measured stream to the web, its pinger, and beside them the floor path's light
    stream to the second web (`alone`) over the same seconds."""
    refs = world.b_props[phase]
    bodies = [booking_body(f"B-{phase}-{i}", refs[i % len(refs)], i) for i in range(count)]
    spread = world.b_alone_props[phase]
    floor_bodies = [
        booking_body(f"B-alone-{phase}-{i}", spread[i % len(spread)], i)
        for i in range(round(count * ALONE_RATE / rate))
    ]
    stop = asyncio.Event()
    pinger = asyncio.create_task(ping_until(base, world.b_key, stop, 0.05))
    floor_posts = asyncio.create_task(post_open_loop(alone, world.b_key, floor_bodies, ALONE_RATE))
    posted = await post_open_loop(base, world.b_key, bodies, rate)
    return posted, await floor_posts, stop, pinger


async def warm_up(base: str, alone: str, world: World) -> list[Posted]:
    """Bursts of B's bookings, all at once, to the web and to the floor path's web, before the
    quiet phase: each lands on several web processes and code worker children at the same
    time. Why: a worker child's first command opens its database and broker connections and
    meets fresh PostgreSQL backends; those first few commands took 0.3-0.6 s instead of
    0.02 s, and in earlier runs they were the quiet phase's p99 (which made the noisy / quiet
    ratio look better than the steady state it is meant to compare)."""
    targets = ((base, "B-warm-", world.b_props["warm"]),
               (alone, "B-alone-warm-", world.b_alone_props["warm"]))  # fmt: skip
    posted = []
    for r in range(WARM_ROUNDS):
        picks = range(r * WARM_BURST, (r + 1) * WARM_BURST)
        bursts = await asyncio.gather(*(
            post_open_loop(url, world.b_key,
                           [booking_body(f"{ref}{i}", refs[i], 0) for i in picks], 1000.0)
            for url, ref, refs in targets
        ))  # fmt: skip
        posted += [p for burst in bursts for p in burst]
        await asyncio.sleep(1.0)
    return posted


def floor_path(posted: list[Posted], timeout: float) -> dict:
    """The floor path's booking -> `set` in one phase."""
    lat, states = set_latencies(posted, timeout)
    return {"n": len(posted), "set": len(lat), "p50_s": pct(lat, 50), "p99_s": pct(lat, 99),
            "states": dict(states)}  # fmt: skip


class Pollers:
    """Agents that long-poll forever and never get a job (they have no locks)."""

    def __init__(self, base: str, tokens: list[str]):
        self.base, self.tokens, self.errors = base, tokens, Counter()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.future = asyncio.run_coroutine_threadsafe(self._all(), self.loop)

    async def _all(self) -> None:
        limits = httpx2.Limits(max_connections=len(self.tokens) + 10)
        async with httpx2.AsyncClient(base_url=self.base, timeout=60, limits=limits) as client:
            await asyncio.gather(*(self._one(client, t) for t in self.tokens))

    async def _one(self, client: httpx2.AsyncClient, token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        while True:
            try:
                answer = await client.get("/agent/v1/jobs", params={"wait": 30}, headers=headers)
                if answer.status_code != 200:
                    self.errors[answer.status_code] += 1
                    await asyncio.sleep(1)
            except httpx2.HTTPError as exc:
                self.errors[type(exc).__name__] += 1
                await asyncio.sleep(1)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.future.cancel)
        time.sleep(0.2)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class SilentHosts:
    """Ports that accept TCP connections and never answer a byte (hung bridges)."""

    def __init__(self, count: int):
        self.sockets, self.held, self.running = [], [], True
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            self.sockets.append(sock)
        self.threads = [threading.Thread(target=self._accept, args=(s,), daemon=True)
                        for s in self.sockets]  # fmt: skip
        for thread in self.threads:
            thread.start()

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self.sockets]

    def _accept(self, sock: socket.socket) -> None:
        while self.running:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.held.append(conn)  # kept open, never read, never answered

    def close(self) -> None:
        self.running = False
        for conn in self.held + self.sockets:
            with contextlib.suppress(OSError):
                conn.close()


def ical_feed_text(events: int) -> bytes:
    start = dt.date.today() + dt.timedelta(days=1)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//noisy//EN"]
    for n in range(events):
        day = start + dt.timedelta(days=n)
        lines += [
            "BEGIN:VEVENT",
            f"UID:n{n}@bench",
            f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
            f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
            "SUMMARY:Reserved",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def serve_feed(body: bytes, tmp: Path) -> tuple[subprocess.Popen, int]:
    (tmp / "feed.ics").write_bytes(body)
    port = common.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return proc, port


def start_floor_http(dsn: str) -> tuple[subprocess.Popen, str]:
    """bench/floor_http.py under uvicorn, one process at the web's priority: the floor under
    B's ping (the web's server stack, no portal code)."""
    port = common.free_port()
    argv = [sys.executable, "-m", "uvicorn", "floor_http:app", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=common.ROOT / "bench", env={**os.environ, "FLOOR_HTTP_DSN": dsn},
        stdin=subprocess.DEVNULL, start_new_session=True,  # stop_process signals its group
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx2.get(f"{url}/db", timeout=2).status_code == 200:
                return proc, url
        except httpx2.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError("bench/floor_http.py did not start")
        time.sleep(0.2)


def start_agent(base: str, token: str, state: Path, log: Path) -> subprocess.Popen:
    argv = [
        sys.executable, "-m", "locks.agent", "run", "--state-dir", str(state), "--portal", base,
        "--token", token, "--simulate", str(REAL_AGENT_LOCKS), "--wait", "30",
    ]  # fmt: skip
    return subprocess.Popen(
        argv, cwd=common.ROOT, env={**os.environ, "LATCHKEY_ENV_FILE": "/nonexistent"},
        stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()  # not a group leader after all: the process itself
            proc.wait(timeout=5)


# Measuring -----------------------------------------------------------------------------------


def set_latencies(posted: list[Posted], timeout: float) -> tuple[list[float], Counter]:
    """Wait until every code of these stays is `set`; seconds from POST to the last code set."""
    by_start, states = set_latencies_by_start(posted, timeout)
    return [latency for _, latency in by_start], states


def set_latencies_by_start(
    posted: list[Posted], timeout: float
) -> tuple[list[tuple[float, float]], Counter]:
    """`set_latencies`, each with the time its POST was sent (to tell A's burst apart)."""
    from bookings.models import AccessGrant
    from locks.models import AccessCode

    ids = {p.booking_id: p.started for p in posted if p.booking_id is not None}
    holders = {g.holder: g.booking_id
               for g in AccessGrant.objects.filter(booking_id__in=list(ids))}  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        rows = list(
            AccessCode.objects.filter(holder__in=list(holders)).values_list(
                "holder", "state", "set_at"
            )
        )
        states = Counter(state for _, state, _ in rows)
        if (states and set(states) == {"set"}) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    latest: dict[int, float] = {}
    for holder, state, set_at in rows:
        if state == "set" and set_at is not None:
            booking = holders[holder]
            latest[booking] = max(latest.get(booking, 0.0), set_at.timestamp())
    missing = len(ids) - len(latest)
    if missing:
        states["stays without all codes set"] = missing
    return [(started, latest[b] - started) for b, started in ids.items() if b in latest], states


def a_outcome(world: World, started: float, timeout: float) -> dict:
    """A's progress: the answering agents' codes set, the silent agents' codes failed."""
    from locks.models import AccessCode

    codes = AccessCode.objects.filter(organization_id=world.a_org_id)
    answered = codes.filter(lock__property_id=world.real_prop)
    silent = codes.filter(lock__property_id__in=world.silent_props)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            not answered.exclude(state="set").exists()
            and not silent.exclude(state="failed").exists()
        ):
            break
        time.sleep(1)
    plain = silent.filter(last_error__contains="has not been heard from since").count()
    return {
        "answered_states": dict(Counter(answered.values_list("state", flat=True))),
        "silent_states": dict(Counter(silent.values_list("state", flat=True))),
        "silent_plain_words": plain,
        "silent_total": silent.count(),
        "a_done_after_s": round(time.time() - started, 1),
    }


def phase_figures(lat, posted, states, loop_pings, floor: dict) -> dict:
    """One phase of B's: booking -> `set`, its posts, and its ping three ways (the probe's
    own process, inside the web, and from this script's loop)."""
    return {
        "p50_s": pct(lat, 50),
        "p99_s": pct(lat, 99),
        "set": len(lat),
        "posts_ok": sum(1 for p in posted if p.booking_id),
        "states": states,
        "ping_p99_ms": floor["ping"]["p99_ms"],
        "pings": floor["ping"]["n"],
        "ping_server_p99_ms": floor["ping_server_p99_ms"],
        "loop_ping_p99_ms": round(1000 * common.percentile(loop_pings, 99), 1),
    }


def pct(values: list[float], q: float) -> float | None:
    return round(common.percentile(values, q), 3) if values else None


# The run -------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bookings", type=int, default=200, help="B's bookings per phase")
    parser.add_argument("--rate", type=float, default=10.0, help="B's POSTs per second")
    parser.add_argument("--broker-db", type=int, default=BROKER_DB)
    parser.add_argument("--cache-db", type=int, default=CACHE_DB)
    parser.add_argument("--timeout", type=float, default=180.0, help="max wait for B's `set`")
    parser.add_argument(
        "--weights", choices=("compose", "default"), default="compose",
        help="the web's and the codes worker's CPU weight: docker-compose.yml's cpu_shares "
        "(2048), or the default (1024) as before they were set, for comparison",
    )  # fmt: skip
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    common.exit_on_sigterm()
    env = common.bench_env(
        database=DATABASE, broker_db=args.broker_db, cache_db=args.cache_db,
        LATCHKEY_ALLOW_PRIVATE_URLS="true",
        LATCHKEY_ORG_MAX_AGENTS="80",
        LATCHKEY_ANON_RATE="1000/min",  # 72 enrollments from one address in the set-up
        LATCHKEY_AGENT_JOB_DEADLINE_SECONDS=str(JOB_DEADLINE_S),
        LATCHKEY_COMMAND_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        LATCHKEY_SWEEP_SECONDS="10",
        LATCHKEY_AGENT_WAKE_URL=f"{common.REDIS}/{args.cache_db}",
        LOG_LEVEL=os.environ.get("LATCHKEY_BENCH_LOG_LEVEL", "WARNING"),
    )  # fmt: skip
    prefix = env["LATCHKEY_QUEUE"]
    common.recreate_database(DATABASE)
    common.purge_redis(args.broker_db, args.cache_db)
    common.setup_django(env)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    common.migrate()
    world = create_world()
    common.close_django_connections()
    common.checkpoint()

    port = common.free_port()
    base = f"http://127.0.0.1:{port}"
    services: list[common.Service] = []
    extra: list[subprocess.Popen] = []
    pollers = hosts = probe = None
    tmp = Path(tempfile.mkdtemp(prefix="latchkey-noisy-"))
    figures: dict = {}
    try:
        web = common.start_service("web", compose_command("web", queue_prefix=prefix, port=port),
                                   {**env, "LATCHKEY_DB_APPLICATION_NAME": "web",
                                    "GUNICORN_CMD_ARGS": ACCESS_LOG_FORMAT})  # fmt: skip
        services.append(web)
        # B's floor: the same web (one process) and codes worker, with queue names of their
        # own, that only the probe's second ping and B's floor path reach.
        alone_prefix, alone_port = f"{prefix}-alone", common.free_port()
        alone_env = {**env, "LATCHKEY_QUEUE": alone_prefix}
        alone_argv = compose_command("web", queue_prefix=alone_prefix, port=alone_port)
        alone_argv[alone_argv.index("--workers") + 1] = "1"
        services.append(common.start_service(
            "web-alone", alone_argv, {**alone_env, "LATCHKEY_DB_APPLICATION_NAME": "web-alone"}
        ))  # fmt: skip
        services.append(common.start_service(
            "worker-codes-alone",
            compose_command("worker-codes", queue_prefix=alone_prefix, port=0),
            {**alone_env, "LATCHKEY_DB_APPLICATION_NAME": "worker-codes-alone"},
        ))  # fmt: skip
        alone_base = f"http://127.0.0.1:{alone_port}"
        alone_url = f"{alone_base}/api/v1/ping/"
        for name in worker_services():
            argv = compose_command(name, queue_prefix=prefix, port=0)
            named = {**env, **service_priority(name), "LATCHKEY_DB_APPLICATION_NAME": name}
            services.append(common.start_service(name, argv, named))
        services.append(
            common.start_service("beat", compose_command("beat", queue_prefix=prefix, port=0), env)
        )
        headers = {"Authorization": f"Bearer {world.b_key}"}
        common.wait_http(web, f"{base}/api/v1/ping/", headers=headers, timeout=60)
        common.wait_http(services[1], alone_url, headers=headers, timeout=60)
        print(f"web on {base}; logs in {common.LOG_DIR}/{prefix}-*.log", flush=True)
        for service in services if args.weights == "compose" else ():
            compose_name = service.name.removesuffix("-alone")  # B's own web weighs as the web
            weighed = weigh_like_compose(compose_name, service.proc)
            if weighed:
                common.print_figure(f"{service.name}'s CPU weight", weighed)
        time.sleep(5)  # workers consuming
        for service in services:
            service.check_alive()
        background = common.wait_for_quiet()
        common.print_figure("machine busy before load", background, "% (100 = one core)")
        floor_http, floor_url = start_floor_http(env["DATABASE_URL"])
        extra.append(floor_http)
        probe = ProbeProcess(
            env["DATABASE_URL"],
            ping_url=f"{base}/api/v1/ping/",
            ping_key=world.b_key,
            floor_url=floor_url,
            alone_url=alone_url,
        ).start()

        warm_posted = asyncio.run(warm_up(base, alone_base, world))
        warm_lat, _ = set_latencies(warm_posted, args.timeout)
        common.print_figure(
            "warm-up stays set (not measured)",
            len(warm_lat),
            f"of {len(warm_posted)}, slowest {max(warm_lat, default=0):.2f} s",
        )
        time.sleep(2)

        # -- quiet phase --------------------------------------------------------------------
        async def quiet():
            posted, alone, stop, pinger = await b_phase(
                base, alone_base, world, "quiet", args.bookings, args.rate
            )
            lat, states = await asyncio.to_thread(set_latencies, posted, args.timeout)
            path = await asyncio.to_thread(floor_path, alone, args.timeout)
            stop.set()
            return posted, lat, states, await pinger, path

        q_window = [time.time()]
        q_posted, q_lat, q_states, q_pings, q_path = asyncio.run(quiet())
        q_window.append(time.time())
        common.close_django_connections()

        # -- A's noise ------------------------------------------------------------------------
        noise_started = time.time()
        enroll(base, world.silent_enrollments)
        pollers = Pollers(base, enroll(base, world.poller_tokens))
        for n, enrollment in enumerate(world.enrollments):
            state = tmp / f"agent{n}"
            extra.append(start_agent(base, enrollment, state, tmp / f"agent{n}.log"))
        a_api = httpx2.Client(
            base_url=base, headers={"Authorization": f"Bearer {world.a_key}"}, timeout=60
        )
        deadline = time.monotonic() + 90
        while True:  # the real agents report their simulated locks: give them the property
            rows = a_api.get("/api/v1/locks/", params={"limit": 500}).json()
            rows = rows["results"] if isinstance(rows, dict) else rows
            fresh = [r for r in rows if r["driver"] == "ble_agent" and not r.get("property")]
            if len(fresh) >= REAL_AGENTS * REAL_AGENT_LOCKS or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        for row in fresh:
            a_api.patch(f"/api/v1/locks/{row['id']}/", json={"property": world.real_prop})
        hosts = SilentHosts(BRIDGES)
        for n, bridge_port in enumerate(hosts.ports):
            answer = a_api.post("/api/v1/bridges/", json={
                "name": f"Hung bridge {n}", "host": "127.0.0.1", "port": bridge_port,
                "token": "abcdef123456", "token_mode": "plain",
            })  # fmt: skip
            assert answer.status_code == 201, answer.text
        feed_proc, feed_port = serve_feed(ical_feed_text(ICAL_EVENTS), tmp)
        extra.append(feed_proc)
        time.sleep(0.5)
        feed = a_api.post("/api/v1/ical-feeds/", json={
            "property": world.feed_prop, "url": f"http://127.0.0.1:{feed_port}/feed.ics",
        })  # fmt: skip
        assert feed.status_code == 201, feed.text
        fetch = a_api.post(f"/api/v1/ical-feeds/{feed.json()['id']}/fetch/")
        assert fetch.status_code in (200, 202), fetch.text

        async def noisy():
            silent = [
                booking_body(f"A-silent-{i}", world.silent_props[i % SILENT_AGENTS], i)
                for i in range(SILENT_BOOKINGS)
            ]
            answered = [booking_body(f"A-real-{i}", world.real_prop, i)
                        for i in range(REAL_AGENT_BOOKINGS)]  # fmt: skip
            a_load = asyncio.create_task(
                post_open_loop(base, world.a_key, silent + answered, 50, retry_busy=True)
            )
            await asyncio.sleep(1.0)  # A's commands are ahead of B's
            posted, alone, stop, pinger = await b_phase(
                base, alone_base, world, "noisy", args.bookings, args.rate
            )
            lat, states = await asyncio.to_thread(set_latencies_by_start, posted, args.timeout)
            path = await asyncio.to_thread(floor_path, alone, args.timeout)
            stop.set()
            return posted, lat, states, await pinger, await a_load, path

        n_window = [time.time()]
        n_posted, n_by_start, n_states, n_pings, a_posted, n_path = asyncio.run(noisy())
        n_lat = [latency for _, latency in n_by_start]
        n_window.append(time.time())
        probe.stop()  # its samples come back when it ends
        floor = {"quiet": probe.window(*q_window), "noisy": probe.window(*n_window)}
        floor["path"] = {"quiet": q_path, "noisy": n_path}
        # A's posts (220 at 50/s) are a burst of real work inside the noisy phase: B's ping
        # is also taken apart, while A's posts are in flight and after the last is answered.
        burst = (min(p.started for p in a_posted), max(p.answered for p in a_posted))
        floor["a_burst"] = {**probe.window(*burst), "seconds": round(burst[1] - burst[0], 1)}
        floor["after_burst"] = probe.window(burst[1], n_window[1])
        # B's own booking -> `set` the same two ways: which of them carries the noisy p99.
        for name, inside in (("a_burst", True), ("after_burst", False)):
            lat = [
                lat for started, lat in n_by_start if (burst[0] <= started <= burst[1]) == inside
            ]
            floor[name]["b_set"] = {"n": len(lat), "p50_s": pct(lat, 50), "p99_s": pct(lat, 99)}
        for phase, window in (("quiet", q_window), ("noisy", n_window)):
            inside = server_ping_times(web.log_path, *window)
            floor[phase]["ping_server_p99_ms"] = (
                round(1000 * common.percentile(inside, 99), 1) if inside else None
            )
        a_result = a_outcome(world, noise_started, timeout=JOB_DEADLINE_S * MAX_ATTEMPTS + 150)
        a_result["a_posts_ok"] = sum(1 for p in a_posted if p.booking_id is not None)
        a_result["a_posts_retried"] = sum(p.retried for p in a_posted)
        a_result["pollers_errors"] = dict(pollers.errors)
        from bookings.ical.models import IcalFeed

        feed_row = IcalFeed.objects.get(pk=feed.json()["id"])
        a_result["ical"] = {"status": feed_row.status, "stays": feed_row.stays.count()}
        common.close_django_connections()
        for service in services:
            service.check_alive()
        figures = {
            "quiet": phase_figures(q_lat, q_posted, q_states, q_pings, floor["quiet"]),
            "noisy": phase_figures(n_lat, n_posted, n_states, n_pings, floor["noisy"]),
            "a": a_result,
            "floor": floor,
            "background_pct": background,
        }  # fmt: skip
    finally:
        if probe is not None:
            probe.stop()
        if pollers is not None:
            pollers.stop()
        for proc in extra:
            stop_process(proc)
        if hosts is not None:
            hosts.close()
        for service in reversed(services):
            service.stop()
        common.close_django_connections()
        common.purge_redis(args.broker_db, args.cache_db)
    return report(args, figures)


def report(args: argparse.Namespace, figures: dict) -> int:
    failures = []
    for phase in ("quiet", "noisy"):
        f = figures[phase]
        common.print_header(f"{phase} phase: B posts {args.bookings} bookings at {args.rate:g}/s")
        common.print_figure("B posts answered 2xx", f"{f['posts_ok']}/{args.bookings}")
        common.print_figure("B stays with every code set", f["set"])
        common.print_figure("B booking -> set p50", f["p50_s"], "s")
        common.print_figure("B booking -> set p99", f["p99_s"], "s")
        common.print_figure("B ping p99", f["ping_p99_ms"], f"ms ({f['pings']} pings)",
                            target=f"< {TARGET_PING_P99_S * 1000:.0f} ms")  # fmt: skip
        common.print_figure("B ping p99 inside the web (access log)", f["ping_server_p99_ms"], "ms")
        if phase == "noisy":
            burst, after = figures["floor"]["a_burst"], figures["floor"]["after_burst"]
            for name, label in (("a_burst", "posted while A's posts are in flight"),
                                ("after_burst", "posted at other times")):  # fmt: skip
                b_set = figures["floor"][name]["b_set"]
                common.print_figure(
                    f"  B booking -> set, {label}",
                    f"p50 {b_set['p50_s']} / p99 {b_set['p99_s']} s ({b_set['n']} stays)",
                )
            common.print_figure(
                "B ping p99 while A's posts are in flight",
                burst["ping"]["p99_ms"],
                f"ms ({burst['ping']['n']} pings in {burst['seconds']} s)",
            )
            common.print_figure(
                "B ping p99 after A's last post was answered",
                after["ping"]["p99_ms"],
                f"ms ({after['ping']['n']} pings; A's agents polling, its backlog draining)",
            )
        common.print_figure(
            "B ping p99 seen from the load generator's loop",
            f["loop_ping_p99_ms"],
            "ms (its GIL is shared with the load)",
        )
        if f["set"] != args.bookings:
            failures.append(
                f"{phase}: {args.bookings - f['set']} of B's stays not set {f['states']}"
            )
        if f["ping_p99_ms"] is None or f["ping_p99_ms"] >= TARGET_PING_P99_S * 1000:
            failures.append(f"{phase}: B's ping p99 {f['ping_p99_ms']} ms")
    quiet, noisy = figures["quiet"]["p99_s"], figures["noisy"]["p99_s"]
    ratio = round(noisy / quiet, 2) if quiet and noisy else None
    common.print_header("noisy / quiet")
    common.print_figure("B p99 ratio", ratio, target=f"<= {TARGET_RATIO}")
    if ratio is None or ratio > TARGET_RATIO:
        failures.append(f"B's p99 to set grew {ratio}x under A's noise")
    a = figures["a"]
    common.print_header("organization A (the noisy one)")
    common.print_figure(
        "A's posts created",
        a["a_posts_ok"],
        f"(429s posted again after Retry-After: {a['a_posts_retried']})",
    )
    common.print_figure("answering agents' codes", a["answered_states"])
    common.print_figure("silent agents' codes", a["silent_states"])
    common.print_figure("failed in plain words", f"{a['silent_plain_words']}/{a['silent_total']}")
    common.print_figure("A settled after", a["a_done_after_s"], "s")
    common.print_figure("iCal feed (40,000 events)", a["ical"])
    common.print_figure("pollers' errors", a["pollers_errors"] or "none")
    if set(a["answered_states"]) != {"set"}:
        failures.append(f"A's codes on answering agents not all set: {a['answered_states']}")
    if a["silent_plain_words"] != a["silent_total"] or not a["silent_total"]:
        failures.append(
            f"A's silent agents' codes not all failed in plain words: {a['silent_states']}"
        )
    report_floor(figures["floor"])
    figures["ratio"] = ratio
    for phase in ("quiet", "noisy"):
        figures[phase]["states"] = dict(figures[phase]["states"])
    return common.finish("noisy_neighbour", figures, failures)


def report_floor(floor: dict) -> None:
    """The machine's own floor (bench/db_probe.py): no portal code, no shared rows."""
    common.print_header("floor: the shared machine alone (bench/db_probe.py)")
    for name, label in (
        ("chain", f"{CHAIN_COMMITS} commits in a row"),
        ("select", "SELECT 1 round trip"),
        ("scheduler", "5 ms sleep wakes late by"),
        ("host_cpu", "CPU time of a fixed loop (the host's speed)"),
        ("ping_alone", "B's ping, a web process of its own"),
        ("http_empty", "HTTP answer, no work (floor_http.py)"),
        ("http_db", "HTTP answer after SELECT 1 (floor_http.py)"),
    ):
        quiet, noisy = floor["quiet"][name], floor["noisy"][name]
        common.print_figure(
            label, f"quiet p50 {quiet['p50_ms']} / p99 {quiet['p99_ms']} ms, "
            f"noisy p50 {noisy['p50_ms']} / p99 {noisy['p99_ms']} ms ({noisy['n']} samples)",
        )  # fmt: skip
        if "a_burst" in floor:
            burst = floor["a_burst"][name]
            common.print_figure(
                "  the same while A's posts are in flight",
                f"p50 {burst['p50_ms']} / p99 {burst['p99_ms']} ms ({burst['n']} samples)",
            )
    steal = {name: floor[name]["steal"] for name in ("quiet", "noisy", "a_burst") if name in floor}
    common.print_figure(
        "CPU taken by the host (steal), mean / worst 100 ms",
        ", ".join(f"{name} {s['mean_pct']} / {s['max_pct']} %" for name, s in steal.items()),
    )
    path = floor["path"]
    for phase in ("quiet", "noisy"):
        f = path[phase]
        common.print_figure(
            f"B's floor path, {phase} ({ALONE_RATE:g}/s to its own web and codes worker)",
            f"p50 {f['p50_s']} / p99 {f['p99_s']} s ({f['set']}/{f['n']} set)",
        )
    quiet, noisy = path["quiet"]["p99_s"], path["noisy"]["p99_s"]
    path["p99_ratio"] = round(noisy / quiet, 2) if quiet and noisy else None
    common.print_figure(
        "floor path ratio (p99 noisy / quiet)",
        path["p99_ratio"],
        target=f"B's path on processes of its own, beside B's; target <= {TARGET_RATIO}",
    )
    floor["ping_floor_p99_ms"] = floor["noisy"]["http_db"]["p99_ms"]
    common.print_figure(
        "ping floor (HTTP + SELECT 1, noisy p99)", floor["ping_floor_p99_ms"], "ms",
        target=f"B's ping cannot beat this; target < {TARGET_PING_P99_S * 1000:.0f} ms",
    )  # fmt: skip
    quiet, noisy = floor["quiet"]["chain"]["p99_ms"], floor["noisy"]["chain"]["p99_ms"]
    floor["chain_p99_ratio"] = round(noisy / quiet, 2) if quiet and noisy else None
    common.print_figure("floor ratio (chain p99 noisy / quiet)", floor["chain_p99_ratio"],
                        target=f"the machine's, beside B's; target <= {TARGET_RATIO}")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
