"""The on-site agent (`locks.agent`) end to end: a real HTTP server on loopback plays the
portal, the simulated Smart Lock plays the lock over the loopback BLE transport.

Nothing here is mocked below the agent's own seams: requests are real HTTP through httpx2,
BLE frames are real (encrypted, chunked into 20-byte pieces), state files are real files.
Delays (retries, backoff) are shrunk to milliseconds through the agent's parameters.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from locks.agent.__main__ import main
from locks.agent.jobs import JobExecutor
from locks.agent.payloads import Job
from locks.agent.portal import PortalClient, check_portal_url
from locks.agent.runner import Agent, Backoff
from locks.agent.sessions import DiscoveredLock, LockSessions, TransportFactory, pair_lock
from locks.agent.state import StateStore
from locks.nuki.ble.client import NukiClient
from locks.nuki.ble.constants import LockState
from locks.nuki.ble.errors import NukiErrorCode
from locks.nuki.ble.transport import Message, Transport
from locks.nuki.ble.values import NukiDateTime
from locks.simulators.ble_lock import ManualClock, SimulatedLock

ADDRESS = "54:D2:72:AA:BB:01"
PIN = 1234
START = datetime(2024, 6, 30, 12, 0, 0, tzinfo=UTC)
ENROLL_TOKEN = "enroll-secret-1"
AGENT_TOKEN = "agent-token-abc"


# -- the fake portal ----------------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FakePortal:
    """The portal's side of /agent/v1 on 127.0.0.1, in a thread: records every request, serves
    enrollment and a queue of jobs (`batch` per poll), and can fail on purpose."""

    def __init__(self, port: int = 0, *, batch: int = 1) -> None:
        self.requests: list[Recorded] = []
        self.jobs: list[dict[str, Any]] = []
        self.batch = batch
        self.fail: dict[str, int] = {}  # path prefix -> how many 500s still to answer
        self.results: dict[int, dict[str, Any]] = {}
        self.guard = threading.Lock()
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                portal._handle(self)

            def do_POST(self) -> None:
                portal._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakePortal:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def queue(self, job_id: int, kind: str, params: dict[str, Any] | None = None, **extra: Any):
        job = {"id": job_id, "address": ADDRESS, "kind": kind, "params": params or {}, **extra}
        with self.guard:
            self.jobs.append(job)

    def posted(self, path: str) -> list[Any]:
        return [r.json() for r in self.requests if r.method == "POST" and r.path == path]

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: Any = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        record = Recorded(
            handler.command, parts.path, parse_qs(parts.query), dict(handler.headers), body
        )
        with self.guard:
            self.requests.append(record)
            for prefix, left in self.fail.items():
                if left and parts.path.startswith(prefix):
                    self.fail[prefix] = left - 1
                    return self._reply(handler, 500, {"detail": "boom"})
        path = parts.path
        if path == "/agent/v1/enroll" and handler.command == "POST":
            if record.json().get("token") != ENROLL_TOKEN:
                return self._reply(handler, 403, {"detail": "bad token"})
            return self._reply(handler, 201, {"agent_id": 7, "agent_token": AGENT_TOKEN})
        if handler.headers.get("Authorization") != f"Bearer {AGENT_TOKEN}":
            return self._reply(handler, 401, {"detail": "who are you"})
        if path == "/agent/v1/jobs" and handler.command == "GET":
            with self.guard:
                batch, self.jobs = self.jobs[: self.batch], self.jobs[self.batch :]
            return self._reply(handler, 200, {"jobs": batch})
        if path.startswith("/agent/v1/jobs/") and path.endswith("/result"):
            job_id = int(path.split("/")[4])
            with self.guard:
                self.results[job_id] = record.json()
            return self._reply(handler, 200, {})
        if path in ("/agent/v1/locks", "/agent/v1/events") and handler.command == "POST":
            return self._reply(handler, 204)
        return self._reply(handler, 404, {"detail": "no such endpoint"})


# -- locks, transports, the agent --------------------------------------------------------------


def factory_for(locks: dict[str, SimulatedLock]) -> TransportFactory:
    async def open_transport(address: str) -> Transport:
        lock = locks.get(address)
        if lock is None:
            raise ConnectionError(f"no lock at {address} in range")
        return lock.connect()

    return open_transport


def new_lock(**options: Any) -> SimulatedLock:
    options.setdefault("clock", ManualClock(START))
    return SimulatedLock(name="Front door", pin=PIN, nuki_id=0x2ABCDEF, **options)


async def paired_store(tmp_path: Path, lock: SimulatedLock, **options: Any) -> StateStore:
    store = StateStore(tmp_path / "state")
    assert lock.enter_pairing_mode()
    outcome = await pair_lock(store, factory_for({ADDRESS: lock}), ADDRESS, pin=PIN, **options)
    assert outcome.pin_accepted is True
    return store


def make_agent(
    store: StateStore,
    url: str,
    factory: TransportFactory,
    *,
    token: str = AGENT_TOKEN,
    scanner: Callable[[], Awaitable[list[DiscoveredLock]]] | None = None,
    attempts: int = 3,
) -> Agent:
    sessions = LockSessions(store, factory, timeout=1.0, action_timeout=2.0)
    executor = JobExecutor(sessions, store, attempts=attempts, retry_delay=0.01, job_timeout=10)
    return Agent(
        store,
        PortalClient(url, token, timeout=2.0),
        sessions,
        executor,
        scanner=scanner,
        wait=1,
        min_poll_interval=0,
        backoff=Backoff(base=0.01, cap=0.08, rand=lambda: 1.0),
    )


async def run_until(agent: Agent, done: Callable[[], bool], limit: int = 40) -> None:
    for _ in range(limit):
        if done():
            break
        await agent.run(max_iterations=1)
    await agent.portal.aclose()
    assert done(), "the agent did not get there"


async def foreign_client(lock: SimulatedLock) -> NukiClient:
    """Someone else's app (the owner's phone), paired on its own."""
    assert lock.enter_pairing_mode()
    client = NukiClient(lock.connect(), security_pin=PIN, timeout=1.0)
    await client.pair(app_id=99, name="Owner phone")
    return client


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- enrollment ---------------------------------------------------------------------------------


def test_enroll_stores_agent_json_private(tmp_path: Path) -> None:
    state = tmp_path / "agent-state"
    with FakePortal() as portal:
        argv = ["enroll", "--portal", portal.url + "/", "--token", ENROLL_TOKEN]
        code = main([*argv, "--name", "Pi by the door", "--state-dir", str(state)])
    assert code == 0
    agent_file = state / "agent.json"
    assert mode(agent_file) == 0o600
    assert mode(state) == 0o700
    assert json.loads(agent_file.read_text()) == {
        "portal_url": portal.url,
        "agent_id": 7,
        "agent_token": AGENT_TOKEN,
        "name": "Pi by the door",
    }
    (request,) = portal.requests
    assert (request.method, request.path) == ("POST", "/agent/v1/enroll")
    assert request.json() == {"token": ENROLL_TOKEN, "name": "Pi by the door"}


def test_enroll_refused_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with FakePortal() as portal:
        argv = ["enroll", "--portal", portal.url, "--token", "wrong"]
        code = main([*argv, "--state-dir", str(tmp_path / "s")])
    assert code == 1
    assert not (tmp_path / "s" / "agent.json").exists()
    assert "403" in capsys.readouterr().err


def test_portal_url_must_be_https_except_loopback() -> None:
    assert check_portal_url("https://portal.example.com/") == "https://portal.example.com"
    assert check_portal_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000"
    with pytest.raises(ValueError, match="https"):
        check_portal_url("http://portal.example.com")
    with pytest.raises(ValueError):
        check_portal_url("ftp://portal.example.com")


# -- pairing ------------------------------------------------------------------------------------


def test_pairing_stores_key_private(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
        record = store.load_lock(ADDRESS.lower())
        assert record is not None
        auth = lock.authorizations[record.authorization_id]
        assert auth.shared_key == record.shared_key
        assert (auth.id_type, auth.name) == (0, "Latchkey agent")  # an app, never a bridge
        assert (record.name, record.nuki_id, record.security_pin) == ("Front door", 0x2ABCDEF, PIN)
        path = store.lock_path(ADDRESS)
        assert path.name == f"{ADDRESS}.json"
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
        assert record.shared_key.hex() not in repr(record)

    asyncio.run(body())


def test_pairing_with_wrong_pin_keeps_key_but_not_pin(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        lock.enter_pairing_mode()
        store = StateStore(tmp_path)
        async with lock.running():
            outcome = await pair_lock(store, factory_for({ADDRESS: lock}), ADDRESS, pin=4321)
        assert outcome.pin_accepted is False
        record = store.load_lock(ADDRESS)
        assert record is not None and record.security_pin is None
        assert record.authorization_id in lock.authorizations

    asyncio.run(body())


# -- every job kind, end to end ---------------------------------------------------------------


def test_every_job_kind_end_to_end(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            owner = await foreign_client(lock)
            foreign = await owner.add_keypad_code(987654, "Owner")
            assert foreign is not None
            with FakePortal() as portal:
                portal.queue(
                    1,
                    "add_code",
                    {
                        "code": "345678",
                        "name": "Guest Smith",
                        "valid_from": "2030-01-01T15:00:00Z",
                        "valid_until": "2030-01-05T10:00:00+00:00",
                    },
                )
                portal.queue(2, "list_codes")
                portal.queue(3, "add_code", {"code": "987654", "name": "Again"})
                portal.queue(4, "lock_action", {"action": "unlock"})
                portal.queue(5, "read_log")
                portal.queue(6, "lock_action", {"action": "lock"})
                portal.queue(7, "read_log")
                portal.queue(8, "sync_time")
                agent = make_agent(store, portal.url, factory_for({ADDRESS: lock}))
                await run_until(agent, lambda: len(portal.results) == 8)

                # update and remove need the id the portal learned from job 1
                code_id = portal.results[1]["result"]["code_id"]
                portal.queue(
                    9,
                    "update_code",
                    {
                        "code_id": code_id,
                        "code": "456789",
                        "name": "Guest Smith",
                        "valid_from": None,
                        "valid_until": None,
                        "enabled": False,
                    },
                )
                portal.queue(10, "list_codes")
                portal.queue(11, "remove_code", {"code_id": code_id})
                portal.queue(12, "list_codes")
                agent = make_agent(store, portal.url, factory_for({ADDRESS: lock}))
                await run_until(agent, lambda: len(portal.results) == 12)
        r = portal.results
        assert all(r[i]["ok"] for i in (1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12)), r

        # add_code: an id, and the code with its window in the lock's memory
        assert r[1] == {"ok": True, "result": {"code_id": code_id}}
        assert code_id != foreign.code_id
        # (job 9 changed it later; the window is checked through list_codes below)

        # list_codes: ours and the foreign one
        codes = {c["code_id"]: c for c in r[2]["result"]["codes"]}
        assert set(codes) == {foreign.code_id, code_id}
        ours = codes[code_id]
        assert (ours["code"], ours["name"], ours["enabled"]) == ("345678", "Guest Smith", True)
        assert ours["valid_from"] == "2030-01-01T15:00:00Z"
        assert ours["valid_until"] == "2030-01-05T10:00:00Z"
        assert codes[foreign.code_id]["code"] == "987654"
        assert codes[foreign.code_id]["valid_from"] is None

        # duplicate: permanent, with the lock's error name
        assert r[3]["ok"] is False
        assert r[3]["error"]["permanent"] is True
        assert r[3]["error"]["code"] == "K_ERROR_CODE_ALREADY_EXISTS"
        assert r[3]["error"]["message"]

        # lock actions report the state reached; events carry it too
        assert r[4]["result"] == {"state": "unlocked"}
        assert r[6]["result"] == {"state": "locked"}
        assert lock.state == LockState.LOCKED
        events = portal.posted("/agent/v1/events")
        assert [e["state"]["state"] for e in events] == ["unlocked", "locked"]
        assert all(e["address"] == ADDRESS and e["entries"] == [] for e in events)

        # read_log: everything at first, then only what is new
        first = r[5]["result"]["entries"]
        second = r[7]["result"]["entries"]
        assert first and second
        assert [e["index"] for e in first] == sorted(e["index"] for e in first)
        unlock_entries = [e for e in first if e["type_name"] == "lock_action"]
        assert unlock_entries[-1]["data"]["action"] == "unlock"
        assert unlock_entries[-1]["name"] == "Latchkey agent"
        assert min(e["index"] for e in second) > max(e["index"] for e in first)
        assert [(e["type_name"], e["data"]["action"]) for e in second] == [("lock_action", "lock")]
        lock_log_after_first = [e.index for e in lock.log if e.index > first[-1]["index"]]
        assert [e["index"] for e in second] == lock_log_after_first[: len(second)]

        # sync_time set the lock's clock to now (its time source was stuck in 2024)
        assert r[8] == {"ok": True, "result": {}}
        assert abs(lock.now() - datetime.now(UTC).replace(tzinfo=None)) < timedelta(seconds=30)

        # update_code, then list shows the change; remove_code, then list lacks it
        assert r[9] == {"ok": True, "result": {}}
        after_update = {c["code_id"]: c for c in r[10]["result"]["codes"]}[code_id]
        assert (after_update["code"], after_update["enabled"]) == ("456789", False)
        assert after_update["valid_from"] is None
        assert r[11] == {"ok": True, "result": {}}
        assert [c["code_id"] for c in r[12]["result"]["codes"]] == [foreign.code_id]
        assert list(lock.codes) == [foreign.code_id]

        # the lock report at start: the paired lock and its state
        report = portal.posted("/agent/v1/locks")[0]
        assert report == {
            "locks": [
                {
                    "address": ADDRESS,
                    "nuki_id": 0x2ABCDEF,
                    "name": "Front door",
                    "paired": True,
                    "state": "locked",
                    "battery_percent": None,
                    "battery_critical": False,
                }
            ]
        }

        # the shared key never left the agent, in any form; every call was authenticated
        record = store.load_lock(ADDRESS)
        assert record is not None
        key = record.shared_key
        forms = [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key)]
        for request in portal.requests:
            wire = request.body + json.dumps(request.headers).encode() + request.path.encode()
            assert not any(form in wire for form in forms)
            assert request.headers["Authorization"] == f"Bearer {AGENT_TOKEN}"
        assert all(r.query == {"wait": ["1"]} for r in portal.requests if r.path.endswith("jobs"))
        assert lock.failures == []

    asyncio.run(body())


def test_add_code_window_reaches_the_lock(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            sessions = LockSessions(store, factory_for({ADDRESS: lock}), timeout=1.0)
            executor = JobExecutor(sessions, store, retry_delay=0.01)
            params = {
                "code": "345678",
                "name": "Jürgen Müller-Schäfe",  # 20 characters, 23 bytes
                "valid_from": "2030-01-01T15:00:00Z",
                "valid_until": "2030-01-05T10:00:00Z",
            }
            outcome = await executor.execute(Job(1, ADDRESS, "add_code", params))
        entry = lock.codes[outcome.body["result"]["code_id"]]
        # cut at a character boundary to the lock's 20 bytes, not refused
        assert (entry.code, entry.name, entry.enabled) == (345678, "Jürgen Müller-Sch", True)
        assert entry.window.time_limited
        assert entry.window.allowed_from_date == NukiDateTime(2030, 1, 1, 15, 0, 0)
        assert entry.window.allowed_until_date == NukiDateTime(2030, 1, 5, 10, 0, 0)

    asyncio.run(body())


# -- failures that become results ---------------------------------------------------------------


def test_errors_are_classified(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock(capacity=1)
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            opened: list[str] = []
            jammed = False

            async def counting(address: str) -> Transport:
                opened.append(address)
                if jammed:  # the door is stuck: every attempt meets the blocked motor
                    lock.inject_fault(NukiErrorCode.K_ERROR_MOTOR_BLOCKED)
                return await factory_for({ADDRESS: lock})(address)

            sessions = LockSessions(store, counting, timeout=1.0, action_timeout=2.0)
            executor = JobExecutor(sessions, store, attempts=3, retry_delay=0.01)

            async def run(kind: str, params: dict[str, Any], address: str = ADDRESS) -> Any:
                return (await executor.execute(Job(1, address, kind, params))).body

            assert (await run("add_code", {"code": "345678", "name": "A"}))["ok"]
            full = await run("add_code", {"code": "456789", "name": "B"})
            invalid = await run("add_code", {"code": "123456", "name": "C"})
            zero = await run("add_code", {"code": "345670", "name": "C"})
            bad_id = await run("update_code", {"code_id": 4000, "code": "567891", "name": "X"})
            gone = await run("remove_code", {"code_id": 4000})
            bad_action = await run("lock_action", {"action": "open_sesame"})
            unknown_kind = await run("fly", {})
            not_paired = await run("list_codes", {}, address="54:D2:72:AA:BB:99")
            # a motor fault once: retried, and the retry works
            lock.inject_fault(NukiErrorCode.K_ERROR_MOTOR_BLOCKED)
            opened.clear()
            once = await run("lock_action", {"action": "unlock"})
            once_attempts = len(opened)
            # stuck for good: transient after 3 tries (the portal decides about later)
            jammed = True
            opened.clear()
            motor = await run("lock_action", {"action": "lock"})
            motor_attempts = len(opened)

        assert full["error"] == {
            "message": "The lock has no room for another keypad code.",
            "permanent": True,
            "code": "K_ERROR_TOO_MANY_ENTRIES",
        }
        for result in (invalid, zero):
            assert result["error"]["permanent"] is True
            assert result["error"]["code"] == "K_ERROR_CODE_INVALID"
        assert bad_id["error"] == {
            "message": "Keypad code 4000 was not found on the lock.",
            "permanent": True,
            "code": "CODE_NOT_FOUND",
        }
        assert gone == {"ok": True, "result": {}}  # already absent: nothing left to do
        for result in (bad_action, unknown_kind, not_paired):
            assert result["ok"] is False and result["error"]["permanent"] is True
            assert "code" not in result["error"]
        assert "not paired" in not_paired["error"]["message"]
        assert once == {"ok": True, "result": {"state": "unlocked"}}
        assert once_attempts == 2
        assert motor["error"]["permanent"] is False
        assert motor["error"]["code"] == "K_ERROR_MOTOR_BLOCKED"
        assert motor_attempts == 3
        assert [e.name for e in lock.codes.values()] == ["A"]

    asyncio.run(body())


def test_unreachable_lock_is_transient_after_retries(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
        tries: list[str] = []

        async def out_of_range(address: str) -> Transport:
            tries.append(address)
            raise ConnectionError("no answer from the radio")

        executor = JobExecutor(LockSessions(store, out_of_range), store, retry_delay=0.01)
        outcome = await executor.execute(Job(5, ADDRESS, "list_codes", {}))
        assert outcome.body["ok"] is False
        assert outcome.body["error"]["permanent"] is False
        assert "connect" in outcome.body["error"]["message"]
        assert tries == [ADDRESS] * 3

    asyncio.run(body())


class DropAfterSend(Transport):
    """A link that breaks after the client's n-th message reached the lock: the command was
    carried out, the answer never arrives (the ambiguous case)."""

    def __init__(self, inner: Transport, after: int) -> None:
        self.inner, self.after, self.sent = inner, after, 0

    async def send(self, characteristic: str, data: bytes) -> None:
        await self.inner.send(characteristic, data)
        self.sent += 1

    async def receive(self, timeout: float | None = None) -> Message:
        if self.sent >= self.after:
            await asyncio.sleep(0.05)  # let the lock act on it
            await self.inner.close()
            raise ConnectionError("link lost")
        return await self.inner.receive(timeout)

    async def close(self) -> None:
        await self.inner.close()


def test_lost_answers_are_reconciled_not_duplicated(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            calls = 0

            async def flaky(address: str) -> Transport:
                nonlocal calls
                calls += 1
                # first session: challenge + command go out, then the link drops
                return DropAfterSend(lock.connect(), 2) if calls == 1 else lock.connect()

            def executor() -> JobExecutor:
                sessions = LockSessions(store, flaky, timeout=1.0, action_timeout=2.0)
                return JobExecutor(sessions, store, retry_delay=0.01)

            added = await executor().execute(Job(1, ADDRESS, "add_code", {"code": "345678"}))
            code_id = added.body["result"]["code_id"]
            calls = 0
            removed = await executor().execute(Job(2, ADDRESS, "remove_code", {"code_id": code_id}))
            calls = 0
            states_before = len(lock.log)
            unlatch = await executor().execute(
                Job(3, ADDRESS, "lock_action", {"action": "unlatch"})
            )
            await lock.wait_idle()
            unlatches = [e for e in lock.log[states_before:] if e.type == 2]

        assert added.body["ok"] is True  # the retry met "already exists" and found our code
        assert removed.body == {"ok": True, "result": {}}
        assert lock.codes == {}
        assert unlatch.body["ok"] is False and unlatch.body["error"]["permanent"] is False
        assert len(unlatches) == 1  # the door was opened once, not twice

    asyncio.run(body())


# -- the loop: portal trouble, bad jobs, reports -----------------------------------------------


def test_portal_500_backs_off_and_recovers(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            with FakePortal() as portal:
                portal.fail["/agent/v1/jobs"] = 4  # polls fail; results would not
                portal.queue(1, "add_code", {"code": "345678", "name": "Guest"})
                agent = make_agent(store, portal.url, factory_for({ADDRESS: lock}))
                await agent.run(max_iterations=6)
                await agent.portal.aclose()
        # equal jitter with rand=1: the ceiling itself, doubling up to the cap
        assert agent.pauses == [0.01, 0.02, 0.04, 0.08]
        assert portal.results[1]["ok"] is True
        assert len(lock.codes) == 1

    asyncio.run(body())


def test_portal_down_then_up_and_results_survive(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            port = free_port()
            agent = make_agent(store, f"http://127.0.0.1:{port}", factory_for({ADDRESS: lock}))
            await agent.run(max_iterations=3)  # nothing listens: no crash, growing pauses
            assert agent.pauses == [0.01, 0.02, 0.04]

            with FakePortal(port) as portal:
                portal.fail["/agent/v1/jobs/1/result"] = 2  # done on the lock, not delivered
                portal.queue(1, "add_code", {"code": "345678", "name": "Guest"})
                await agent.run(max_iterations=1)
                assert store.has_result(1)  # kept on disk for later
                assert 1 not in portal.results
                await run_until(agent, lambda: 1 in portal.results)
        assert portal.results[1]["ok"] is True
        assert len(lock.codes) == 1  # done once, not twice
        assert not store.has_result(1)
        assert mode(store.outbox_path(1).parent) == 0o700

    asyncio.run(body())


def test_bad_jobs_do_not_stop_the_loop(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            with FakePortal(batch=10) as portal:
                with portal.guard:
                    portal.jobs += [
                        {"id": 1, "address": "../../etc/passwd", "kind": "list_codes"},
                        {"id": 2, "address": ADDRESS, "kind": "list_codes", "params": "x"},
                        {"address": ADDRESS, "kind": "list_codes"},
                        "not even an object",
                    ]
                portal.queue(3, "explode")
                portal.queue(4, "add_code", {"code": "345678"})
                agent = make_agent(store, portal.url, factory_for({ADDRESS: lock}))

                async def explode(client: NukiClient, context: Any) -> dict[str, Any]:
                    raise RuntimeError("bug in a handler")

                agent.executor.handlers["explode"] = explode
                await run_until(agent, lambda: len(portal.results) == 4)
        r = portal.results
        assert r[1]["ok"] is False and r[1]["error"]["permanent"] is True
        assert r[2]["ok"] is False and "Malformed" in r[2]["error"]["message"]
        assert r[3]["ok"] is False and "RuntimeError" in r[3]["error"]["message"]
        assert r[4]["ok"] is True and r[4]["result"]["code_id"] in lock.codes

    asyncio.run(body())


def test_revoked_token_pauses_long(tmp_path: Path) -> None:
    async def body() -> None:
        with FakePortal() as portal:
            agent = make_agent(StateStore(tmp_path), portal.url, factory_for({}), token="old")
            await agent.run(max_iterations=2)
            await agent.portal.aclose()
        assert agent.pauses == [0.08, 0.08]
        assert {r.path for r in portal.requests} == {"/agent/v1/locks"}

    asyncio.run(body())


def test_report_lists_paired_and_discovered_locks(tmp_path: Path) -> None:
    async def body() -> None:
        lock = new_lock()
        async with lock.running():
            store = await paired_store(tmp_path, lock)
            lock.state = LockState.UNLOCKED
            lock.battery_critical = True

            async def scanner() -> list[DiscoveredLock]:
                return [DiscoveredLock(ADDRESS, "Nuki_2ABCDEF"), DiscoveredLock("AA:00:01", "N")]

            with FakePortal() as portal:
                agent = make_agent(store, portal.url, factory_for({}), scanner=scanner)
                await agent.run(max_iterations=1)  # the paired lock is out of range now
                agent.sessions.transport_factory = factory_for({ADDRESS: lock})
                await agent.report_locks()
                await agent.portal.aclose()
        first, second = portal.posted("/agent/v1/locks")
        unreachable, discovered = first["locks"]
        assert unreachable["paired"] is True and unreachable["state"] is None
        assert discovered == {
            "address": "AA:00:01",
            "nuki_id": None,
            "name": "N",
            "paired": False,
            "state": None,
            "battery_percent": None,
            "battery_critical": None,
        }
        assert second["locks"][0]["state"] == "unlocked"
        assert second["locks"][0]["battery_critical"] is True
        assert agent.pauses == []

    asyncio.run(body())


def test_status_command_shows_no_secrets(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    async def body() -> StateStore:
        lock = new_lock()
        async with lock.running():
            return await paired_store(tmp_path, lock)

    store = asyncio.run(body())
    record = store.load_lock(ADDRESS)
    assert record is not None
    assert main(["status", "--state-dir", str(store.root)]) == 0
    out = capsys.readouterr().out
    assert ADDRESS in out and "PIN stored" in out
    assert record.shared_key.hex() not in out and str(PIN) not in out
    assert main(["run", "--state-dir", str(tmp_path / "empty"), "--max-iterations", "1"]) == 2
    assert os.listdir(store.root / "locks") == [f"{ADDRESS}.json"]


def test_cli_pair_and_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`pair` and `run` through the command line, the radio replaced by the simulated lock."""
    state = str(tmp_path / "state")
    lock = new_lock()
    lock.enter_pairing_mode()
    factory = factory_for({ADDRESS: lock})
    argv = ["pair", "--address", ADDRESS.lower(), "--pin", str(PIN), "--name", "Back door"]
    assert main([*argv, "--state-dir", state], transport_factory=factory) == 0
    record = StateStore(state).load_lock(ADDRESS)
    assert record is not None and record.name == "Back door"
    assert mode(StateStore(state).lock_path(ADDRESS)) == 0o600

    async def nothing_nearby() -> list[DiscoveredLock]:
        return []

    with FakePortal() as portal:
        argv = ["enroll", "--portal", portal.url, "--token", ENROLL_TOKEN, "--state-dir", state]
        assert main(argv) == 0
        portal.queue(1, "list_codes")
        argv = ["run", "--state-dir", state, "--wait", "1", "--max-iterations", "2"]
        assert main(argv, transport_factory=factory, scanner=nothing_nearby) == 0
    assert portal.results[1] == {"ok": True, "result": {"codes": []}}
    assert portal.posted("/agent/v1/locks")[0]["locks"][0]["name"] == "Back door"
    printed = capsys.readouterr()
    assert record.shared_key.hex() not in printed.out + printed.err
    assert AGENT_TOKEN not in printed.out + printed.err
