"""Queues per channel, with real worker processes: ten bridges that accept connections and
never answer keep the bridge queue's workers busy for 40 s a request, while another
organization's code on a virtual lock is set within seconds and beat's sweep keeps its
schedule, because they run on workers of their own queues (docker-compose's layout).

The same load on one worker consuming every queue (the layout before: one `worker` service)
starves both: the code waits for the bridges' timeouts and no sweep runs. That half shows the
test can fail.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from locks.actions import lock_action_request
from locks.models import AccessCode, Bridge, CodeState, Lock
from locks.services import lock_create
from locks.sync.desired import access_put
from portal.testing import Worker, database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BRIDGES = 10
SWEEP = re.compile(r"^(\S+ [\d:]+),(\d+) .*locks\.tasks\.sweep_commands\[.*\] succeeded", re.M)


class SilentBridges:
    """Listening sockets that accept every connection and never send a byte."""

    def __init__(self, count: int):
        self.servers = []
        for _ in range(count):
            server = socket.socket()
            server.bind(("127.0.0.1", 0))
            server.listen(16)
            server.settimeout(0.2)
            self.servers.append(server)
        self.held: list[socket.socket] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def ports(self) -> list[int]:
        return [server.getsockname()[1] for server in self.servers]

    def _accept(self) -> None:
        while not self.stopped.is_set():
            for server in self.servers:
                try:
                    self.held.append(server.accept()[0])
                except OSError:
                    continue

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for sock in self.held + self.servers:
            sock.close()


@pytest.fixture
def services():
    from conftest import REQUIRE_SERVICES, services_available

    if not services_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL and Redis are required for the integration tests")
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL)")
    from portal.testing import purge_queues

    purge_queues()
    yield
    purge_queues()


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _sweeps(log: Path, after: dt.datetime) -> list[dt.datetime]:
    """When beat's sweeps finished on a worker, from its log (asctime, this machine's zone)."""
    found = [
        dt.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S") + dt.timedelta(milliseconds=int(ms))
        for stamp, ms in SWEEP.findall(log.read_text())
    ]
    return [t for t in found if t > after]


@pytest.fixture
def noisy(services, world, settings):
    """Organization A: ten bridges that never answer, a lock on each. Organization B: a virtual
    lock (B's property and lock made through the services, as any tenant's)."""
    from properties.services import property_create

    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    silent = SilentBridges(BRIDGES)
    a_locks = []
    for i, port in enumerate(silent.ports):
        bridge = Bridge.objects.create(
            organization=world.org,
            name=f"Silent {i}",
            host="127.0.0.1",
            port=port,
            token="silent-token",
            status=Bridge.Status.OK,
        )
        a_locks.append(
            Lock.objects.create(
                organization=world.org,
                name=f"A door {i}",
                driver="bridge_http",
                bridge=bridge,
                nuki_id=1000 + i,
                device_type=0,
            )
        )
    b_prop = property_create(
        organization=world.other_org, name="B house", timezone="UTC", external_ref="b-1"
    )
    b_lock = lock_create(
        organization=world.other_org, property=b_prop, name="B door", driver="virtual"
    )
    yield a_locks, b_lock
    silent.close()


def _run(tmp: Path, workers: list[Worker], a_locks, b_lock, org_b):
    """Start the workers, send A's bridge requests, then B's code. Returns (seconds until B's
    code was set or None within 8 s, sweeps that finished while the bridges held their
    workers, /healthz's worker answer)."""
    from portal.health import _broker_and_worker

    for w in workers:
        w.start()
    for w in workers:
        _wait(lambda w=w: " ready." in w.log.read_text(), 30, f"{w.name} ready")

    def answered() -> str | None:
        worker = _broker_and_worker()[1]
        return None if worker == "no worker answered" else worker

    health = _wait(answered, 15, "the workers to answer")

    for lock in a_locks:
        lock_action_request(lock=lock, action="unlock")
    time.sleep(1.5)  # the bridge requests hold their workers now (40 s each)
    blocked_since = dt.datetime.now()

    now = timezone.now()
    t0 = time.monotonic()
    access_put(
        organization=org_b,
        holder="guest:b-1",
        locks=[b_lock],
        code="482913",
        name="B guest",
        valid_from=now,
        valid_until=now + dt.timedelta(days=2),
    )
    code = AccessCode.objects.get(holder="guest:b-1")
    took = None
    deadline = t0 + 8
    while time.monotonic() < deadline:
        code.refresh_from_db()
        if code.state == CodeState.SET:
            took = time.monotonic() - t0
            break
        time.sleep(0.1)
    time.sleep(max(0.0, deadline - time.monotonic()))  # watch the sweeps for the whole 8 s
    beat_log = next(w.log for w in workers if w.beat)
    return took, _sweeps(beat_log, blocked_since), health


def _stop(workers: list[Worker]) -> None:
    for w in workers:
        w.kill()  # no warm shutdown: the bridge requests would hold it for 40 s
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def test_silent_bridges_hold_only_the_bridge_queue(noisy, world):
    a_locks, b_lock = noisy
    allow = {"LATCHKEY_ALLOW_PRIVATE_URLS": "true"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        workers = [
            Worker(
                tmp,
                database_url=database_url(),
                name="bridge",
                queues=["bridge"],
                beat=False,
                env=allow,
            ),
            Worker(
                tmp,
                database_url=database_url(),
                name="codes",
                queues=["codes", "periodic"],
                env=allow,
            ),
        ]
        try:
            took, sweeps, health = _run(tmp, workers, a_locks, b_lock, world.other_org)
        finally:
            _stop(workers)
    print(f"split queues: B's code set in {took} s; sweeps while the bridges hang: {sweeps}")
    # The health check names the queues nobody consumes here.
    assert health == "no worker for queue: agent, mail, ingest"
    assert took is not None and took < 5, f"B's code took {took} s"
    # Every 2 s (LATCHKEY_SWEEP_SECONDS in the test worker): on schedule while the bridges hang.
    assert len(sweeps) >= 3, sweeps
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sweeps)]
    assert max(gaps) < 3.5, gaps


def test_one_worker_for_every_queue_is_starved_by_silent_bridges(noisy, world):
    """The control: the same load and as many worker processes, all consuming everything."""
    a_locks, b_lock = noisy
    allow = {"LATCHKEY_ALLOW_PRIVATE_URLS": "true"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        workers = [Worker(tmp, database_url=database_url(), name="all", concurrency=4, env=allow)]
        try:
            took, sweeps, health = _run(tmp, workers, a_locks, b_lock, world.other_org)
        finally:
            _stop(workers)
    print(f"one queue for all: B's code set in {took} s (None: not in 8 s); sweeps: {sweeps}")
    assert health == "ok"  # one worker without -Q consumes every queue
    assert took is None  # B waits for the bridges' timeouts
    assert sweeps == []  # and so does beat's sweep
