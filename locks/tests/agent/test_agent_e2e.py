"""The Bluetooth path end to end, every part real and separate: Django's live server, a Celery
worker process, and the agent program (`python -m locks.agent run --simulate 2`) as its own
process with two simulated Smart Locks, reaching the portal through a TCP proxy the test can
cut (that is the property's internet going down).

What is on the locks is read from the simulated locks' own memory (the agent's state
directory, `simulated/<address>.json`, written by each lock before it answers), never from
the portal's belief.

Needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL); skips without them locally,
fails on CI. Slow on purpose (a 30 s outage): about two to three minutes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from django.db import connection

from portal.testing import Worker, database_url, days_from_now

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 30.0
DRIFT = 0.5  # simulated lock clocks gain half a second every second
SYNC_INTERVAL = 3.0


class CuttableProxy:
    """A TCP forwarder on a free loopback port. `cut()` drops every connection and refuses
    new ones (accepts and closes at once) until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.is_cut = threading.Event()
        self.closed = False
        self._conns: set[socket.socket] = set()
        self._guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.is_cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._guard:
                self._conns |= {client, upstream}
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                with self._guard:
                    self._conns.discard(sock)

    def cut(self) -> None:
        self.is_cut.set()
        with self._guard:
            conns = list(self._conns)
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def restore(self) -> None:
        self.is_cut.clear()

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.server.close()


class AgentProcess:
    """`python -m locks.agent run --simulate N` in its own process group."""

    def __init__(self, state: Path, portal: str, token: str, log: Path) -> None:
        self.state, self.portal, self.token, self.log = state, portal, token, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "locks.agent",
            "run",
            "--state-dir",
            str(self.state),
            "--portal",
            self.portal,
            "--token",
            self.token,
            "--simulate",
            "2",
            "--simulate-drift",
            str(DRIFT),
            "--simulate-delay",
            "0.15",
            "--time-sync-interval",
            str(SYNC_INTERVAL),
            "--wait",
            "5",
            "--report-interval",
            "10",
            "--backoff-cap",
            "4",
        ]
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, "LATCHKEY_ENV_FILE": "/nonexistent"},
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def services():
    from conftest import REQUIRE_SERVICES, services_available

    if not services_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL and Redis are required for the integration tests")
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL)")
    from portal.testing import purge_queues

    purge_queues()


@pytest.fixture
def tmp():
    with tempfile.TemporaryDirectory() as path:
        yield Path(path)


@pytest.fixture
def worker(services, tmp):
    # The lease outlives the driver's 45 s wait for the agent, as in production (120 s).
    w = Worker(tmp, database_url=database_url(), env={"LATCHKEY_COMMAND_LEASE_SECONDS": "60"})
    w.start()
    yield w
    w.stop()
    print(w.log.read_text()[-3000:])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name NOT LIKE 'pytest-live%%'"
        )


def wait_for(predicate, timeout=60.0, every=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def lock_memory(state: Path) -> dict[str, dict]:
    """Each simulated lock's saved memory, by address (the lock writes it atomically)."""
    memory = {}
    for path in (state / "simulated").glob("*:*.json"):
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            memory[path.stem] = json.loads(path.read_text())
    return memory


def codes_on_locks(state: Path) -> dict[str, list[dict]]:
    from locks.simulators.ble_lock.persist import codes_in

    return {address: codes_in(data) for address, data in lock_memory(state).items()}


def test_bookings_reach_simulated_locks_through_a_real_agent_and_survive_crash_and_outage(
    live_server, worker, world, prop, tmp
):
    from bookings.models import AccessGrant
    from locks.integrations.ble_agent.enrollment import agent_create
    from locks.models import AgentJob
    from locks.simulators.ble_lock.persist import lock_time_error

    api = httpx2.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {world.write_key}"}, timeout=20
    )
    target = urlsplit(live_server.url)
    proxy = CuttableProxy((target.hostname, target.port))
    _, enrollment = agent_create(organization=world.org, name="Hall agent")
    state = tmp / "agent-state"
    agent = AgentProcess(state, proxy.url, enrollment, tmp / "agent.log")
    agent.start()
    try:
        # -- the simulated locks appear as ble_agent locks; give them the property --------
        def ble_locks():
            listed = api.get("/api/v1/locks/").json()
            rows = listed["results"] if isinstance(listed, dict) else listed
            found = [row for row in rows if row["driver"] == "ble_agent"]
            return found if len(found) == 2 else None

        locks = wait_for(ble_locks, timeout=60, what="two ble_agent locks reported")
        for row in locks:
            patched = api.patch(f"/api/v1/locks/{row['id']}/", json={"property": prop.pk})
            assert patched.status_code == 200, patched.text
        assert (state / "agent.json").stat().st_mode & 0o777 == 0o600

        def post(**over):
            body = {
                "external_id": "BLE-1",
                "property": prop.pk,
                "status": "confirmed",
                "check_in": str(days_from_now(0)),
                "check_out": str(days_from_now(2)),
                "guest": {"name": "Ida Integration", "email": "ida@example.com"},
            }
            body.update(over)
            answer = api.post("/api/v1/bookings/", json=body)
            assert answer.status_code in (200, 201), answer.text
            return answer.json()

        def access(booking_id):
            return api.get(f"/api/v1/bookings/{booking_id}/").json()["access"]

        def states(booking_id):
            return {a["state"] for a in access(booking_id)}

        def holders(code: str):
            """Per lock, the entries holding these digits (as the lock itself says)."""
            return {addr: [c for c in codes if c["code"] == code] for addr, codes in
                    codes_on_locks(state).items()}  # fmt: skip

        # -- a booking becomes the same code on both locks, with the stay's window --------
        first = post()
        wait_for(lambda: states(first["id"]) == {"set"}, timeout=90, what="code set")
        code = access(first["id"])[0]["code"]
        grant = AccessGrant.objects.get(booking_id=first["id"])
        on_locks = holders(code)
        assert len(on_locks) == 2 and all(len(v) == 1 for v in on_locks.values()), on_locks
        for (entry,) in on_locks.values():
            assert entry["valid_from"] == grant.valid_from.replace(microsecond=0)
            assert entry["valid_until"] == grant.valid_until.replace(microsecond=0)
        code_ids = {addr: v[0]["code_id"] for addr, v in on_locks.items()}

        # -- a date change updates the entry in place: same id, same digits, new window -----
        post(check_out=str(days_from_now(4)))
        grant.refresh_from_db()
        new_until = grant.valid_until.replace(microsecond=0)

        def moved():
            now = holders(code)
            return all(len(v) == 1 and v[0]["valid_until"] == new_until for v in now.values())

        wait_for(moved, timeout=90, what="window updated on both locks")
        assert {addr: v[0]["code_id"] for addr, v in holders(code).items()} == code_ids
        wait_for(lambda: states(first["id"]) == {"set"}, timeout=60, what="set after the move")
        assert {a["code"] for a in access(first["id"])} == {code}

        # -- SIGKILL the agent after a lock stored a code, before the portal heard of it ----
        second = post(external_id="BLE-2", guest={"name": "Kim Kill", "email": "k@example.com"})
        code2 = second["access"][0]["code"]

        def stored_but_unreported():
            if not any(holders(code2).values()):
                return False
            return AgentJob.objects.filter(
                kind="add_code", params__code=code2, status=AgentJob.Status.SENT
            ).exists()

        wait_for(stored_but_unreported, timeout=90, every=0.02, what="the kill window")
        agent.kill()
        assert AgentJob.objects.filter(
            kind="add_code", params__code=code2, status=AgentJob.Status.SENT
        ).exists()  # the portal never got that result
        agent.start()
        wait_for(lambda: states(second["id"]) == {"set"}, timeout=120, what="set after restart")
        after_kill = holders(code2)
        assert all(len(v) == 1 for v in after_kill.values()), after_kill  # no duplicate
        assert len(after_kill) == 2  # and none lost
        assert all(len(v) == 1 for v in holders(code).values())  # the first stay untouched

        # -- the portal unreachable for 30 s while a removal is under way ------------------
        post(status="cancelled")

        def removal_started():
            """A removal the agent has (its journal shows it started on the lock) and the
            portal has no result for yet."""
            for job in AgentJob.objects.filter(kind="remove_code", status=AgentJob.Status.SENT):
                if (state / "journal" / f"{job.pk}.json").exists():
                    return job
            return None

        taken = wait_for(removal_started, timeout=90, every=0.01, what="a removal under way")
        proxy.cut()
        cut_at = time.monotonic()
        synced_before = {a: len(d["time_updates"]) for a, d in lock_memory(state).items()}
        worst_error = 0.0
        while time.monotonic() - cut_at < OUTAGE_SECONDS:
            assert agent.alive()
            for data in lock_memory(state).values():
                worst_error = max(worst_error, abs(lock_time_error(data)))
            time.sleep(0.5)
        taken.refresh_from_db()
        assert taken.status == AgentJob.Status.SENT  # its result could not get through
        kept = list((state / "outbox").glob("*.json"))
        assert str(taken.pk) in [p.stem for p in kept]  # kept on the agent's disk
        memory = lock_memory(state)
        for address, data in memory.items():  # clocks kept in sync without the portal
            synced = len(data["time_updates"]) - synced_before[address]
            assert synced >= OUTAGE_SECONDS / SYNC_INTERVAL / 2, (address, synced)
        # Unsynced, a clock would be 15 s off after 30 s; synced every 3 s, ~1.5 s at worst.
        assert worst_error <= 4.0, worst_error
        restored_at = dt.datetime.now(dt.UTC)
        proxy.restore()

        wait_for(
            lambda: states(first["id"]) == {"removed"}, timeout=150, what="removed after outage"
        )
        taken.refresh_from_db()
        assert taken.status == AgentJob.Status.DONE and taken.finished_at > restored_at
        assert not any(holders(code).values())  # gone from both locks
        assert all(len(v) == 1 for v in holders(code2).values())  # the other stay kept
        # Both locks' removals were cut off mid-post; the agent posts its kept results one at a
        # time with backoff, so the other one may still be on its way: it must drain, not stay.
        wait_for(
            lambda: (
                not list((state / "outbox").glob("*.json"))
                and not list((state / "journal").glob("*.json"))
            ),
            timeout=30,
            what="the agent's kept results all delivered",
        )
    finally:
        agent.stop()
        proxy.close()
        print((tmp / "agent.log").read_text()[-4000:])
