"""`run --simulate N` pieces without a portal: simulated locks that keep their memory across
restarts, the journal that finishes a job a crash cut short, and clock sync while the portal
is unreachable. The portal-facing whole is in test_agent_e2e.py."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
from pathlib import Path

from locks.agent.jobs import JobExecutor
from locks.agent.payloads import Job
from locks.agent.portal import PortalClient
from locks.agent.runner import Agent, Backoff
from locks.agent.sessions import LockSessions
from locks.agent.state import StateStore, read_json
from locks.nuki.ble.client import NukiClient
from locks.nuki.ble.constants import LockAction, LockState
from locks.nuki.ble.values import NukiDateTime, NukiTime
from locks.simulators.ble_lock import ManualClock, SimulatedLock
from locks.simulators.ble_lock.model import TimeControlRecord, TimeWindow
from locks.simulators.ble_lock.persist import lock_time_error, restore, snapshot
from locks.simulators.fleet import DriftingTime, SimulatedFleet


def _job(job_id: int, address: str, kind: str, **params) -> Job:
    return Job(id=job_id, address=address, kind=kind, params=params)


WINDOW = {"valid_from": "2030-05-01T14:00:00Z", "valid_until": "2030-05-04T10:00:00Z"}


def test_snapshot_restores_a_lock_the_client_cannot_tell_apart() -> None:
    async def body() -> None:
        lock = SimulatedLock(name="Cellar", pin=4321, nuki_id=77, clock=ManualClock())
        lock.enter_pairing_mode()
        async with lock.running():
            client = NukiClient(lock.connect(), security_pin=4321)
            creds = await client.pair(app_id=5, name="agent")
            await client.add_keypad_code(
                345678,
                "Guest é",
                time_limited=True,
                allowed_from_date=NukiDateTime(2030, 1, 2, 15, 0, 0),
                allowed_until_date=NukiDateTime(2030, 1, 5, 10, 0, 0),
            )
            await client.lock_action(LockAction.UNLOCK)
            await lock.wait_idle()
        lock.time_controls[1] = TimeControlRecord(1, 0x7F, NukiTime(7, 30), LockAction.LOCK)
        lock.authorizations[creds.authorization_id].window = TimeWindow(
            time_limited=True, allowed_until_date=NukiDateTime(2031, 1, 1, 0, 0, 0)
        )
        data = snapshot(lock)
        again = restore(data, clock=ManualClock())
        assert {k: v for k, v in snapshot(again).items() if k != "clock"} == {
            k: v for k, v in data.items() if k != "clock"
        }
        assert again.state == LockState.UNLOCKED
        async with again.running():  # the stored pairing still opens the restored lock
            client = NukiClient(again.connect(), credentials=creds, security_pin=4321)
            page = await client.request_keypad_codes(offset=0, count=10)
            assert [(e.code, e.name) for e in page.entries] == [(345678, "Guest é")]
            assert len((await client.request_log_entries(start_index=0, count=50)).entries) == (
                len(lock.log)
            )

    asyncio.run(body())


def test_fleet_pairs_once_and_keeps_locks_keys_and_codes_across_restarts(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")

    async def first() -> tuple[list[str], int]:
        fleet = SimulatedFleet(store, 2)
        fleet.load()
        assert await fleet.pair_all(app_id=9) == 2
        sessions = LockSessions(store, fleet.open)
        executor = JobExecutor(sessions, store)
        address = sorted(fleet.locks)[0]
        outcome = await executor.execute(
            _job(1, address, "add_code", code="456789", name="LK1 Ida", **WINDOW)
        )
        assert outcome.ok, outcome.body
        await fleet.close()
        return sorted(fleet.locks), outcome.body["result"]["code_id"]

    async def second(addresses: list[str], code_id: int) -> None:
        fleet = SimulatedFleet(store, 2)
        fleet.load()
        assert sorted(fleet.locks) == addresses  # same locks
        assert await fleet.pair_all(app_id=9) == 0  # same keys: nothing to pair
        sessions = LockSessions(store, fleet.open)
        listed = await JobExecutor(sessions, store).execute(_job(2, addresses[0], "list_codes"))
        (code,) = listed.body["result"]["codes"]
        assert (code["code_id"], code["code"], code["name"]) == (code_id, "456789", "LK1 Ida")
        assert (code["valid_from"], code["valid_until"]) == (
            WINDOW["valid_from"],
            WINDOW["valid_until"],
        )
        await fleet.close()

    addresses, code_id = asyncio.run(first())
    for address in addresses:  # memory on disk, private like the keys
        path = store.root / "simulated" / f"{address}.json"
        assert path.stat().st_mode & 0o777 == 0o600
    assert read_json(store.root / "simulated" / f"{addresses[0]}.json")["codes"][0]["code"] == (
        456789
    )
    asyncio.run(second(addresses, code_id))


def test_a_job_cut_short_by_a_crash_is_finished_once(tmp_path: Path) -> None:
    """The agent died after the lock stored the code and before the result was kept: at the
    next start the journal has the job; finishing it reports the code already there."""
    store = StateStore(tmp_path / "state")

    async def body() -> None:
        fleet = SimulatedFleet(store, 1)
        fleet.load()
        await fleet.pair_all()
        (address,) = fleet.locks
        sessions = LockSessions(store, fleet.open)
        executor = JobExecutor(sessions, store)
        job = _job(41, address, "add_code", code="567891", name="LK7 Crash", **WINDOW)
        store.start_job(job.id, job.raw())
        await executor.execute(job)  # the lock acts; the "crash" loses the outcome
        assert not store.has_result(job.id)

        agent = Agent(store, PortalClient("http://127.0.0.1:9", "t"), sessions, executor)
        assert await agent.resume_jobs() == 1
        body = store.pending_result(job.id)
        (entry,) = fleet.locks[address].codes.values()
        assert body == {"ok": True, "result": {"code_id": entry.code_id}}
        assert store.unfinished_jobs() == []
        await agent.portal.aclose()
        await fleet.close()

    asyncio.run(body())


def test_unlatch_cut_short_is_not_repeated(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state")

    async def body() -> None:
        fleet = SimulatedFleet(store, 1, action_seconds=0)
        fleet.load()
        await fleet.pair_all()
        (address,) = fleet.locks
        sessions = LockSessions(store, fleet.open)
        job = _job(5, address, "lock_action", action="unlatch")
        store.start_job(job.id, job.raw())
        agent = Agent(
            store, PortalClient("http://127.0.0.1:9", "t"), sessions, JobExecutor(sessions, store)
        )
        await agent.resume_jobs()
        result = store.pending_result(job.id)
        assert result["ok"] is False and result["error"]["permanent"] is False
        assert fleet.locks[address].state == LockState.LOCKED  # the door did not open again
        await agent.portal.aclose()
        await fleet.close()

    asyncio.run(body())


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again: connections are refused


def test_clocks_stay_synced_while_the_portal_is_unreachable(tmp_path: Path) -> None:
    """Lock clocks running at triple speed, portal refusing connections: the agent keeps
    backing off (pauses up to 3 s, in which a clock would gain 6 s) and still sets the clocks
    every 0.5 s, so none is ever found more than a second or two off (1 s resolution)."""
    store = StateStore(tmp_path / "state")

    async def body() -> None:
        fleet = SimulatedFleet(store, 2, drift=2.0)
        fleet.load()
        await fleet.pair_all()
        sessions = LockSessions(store, fleet.open)
        portal = PortalClient(f"http://127.0.0.1:{_dead_port()}", "t", timeout=1)
        agent = Agent(
            store,
            portal,
            sessions,
            JobExecutor(sessions, store),
            backoff=Backoff(base=1.0, cap=3.0),
            time_sync_interval=0.5,
        )
        task = asyncio.create_task(agent.run())
        await asyncio.sleep(4.0)
        agent.stop.set()
        await task
        await portal.aclose()
        assert agent.failures >= 2  # it never reached the portal
        for address, lock in fleet.locks.items():
            assert len(lock.time_updates) >= 5, address
            assert max(abs(off) for _, off in lock.time_updates[1:]) <= 2.0
            fleet.save(address)
            error = lock_time_error(read_json(fleet.lock_path(address)))
            assert abs(error) < 2.5, error
        await fleet.close()

    asyncio.run(body())


def test_drifting_time_is_the_same_function_after_a_restart() -> None:
    anchor = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=100)
    a, b = DriftingTime(0.5, anchor), DriftingTime(0.5, anchor)
    ahead = (a() - dt.datetime.now(dt.UTC)).total_seconds()
    assert 49 < ahead < 51
    assert abs((a() - b()).total_seconds()) < 0.1


def test_the_agent_loads_the_fleet_by_dotted_path_only_when_asked() -> None:
    """A real agent carries no simulator: importing the program pulls in none, and `--simulate`
    finds the fleet by its dotted path."""
    import subprocess
    import sys

    from locks.agent.__main__ import simulated_fleet_class

    probe = (
        "import sys, locks.agent.__main__; "
        "sys.exit(any(m.startswith('locks.simulators') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0
    assert simulated_fleet_class() is SimulatedFleet
