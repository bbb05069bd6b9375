"""The agent against the real portal: Django's live server on one side, the simulated lock on
the other, the portal's own `ble_agent` driver asking. Catches drift between the two halves
of the /agent/v1 protocol that the fake portal in test_agent.py cannot see.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path

import pytest

from locks.agent.__main__ import main
from locks.agent.jobs import JobExecutor
from locks.agent.portal import PortalClient
from locks.agent.runner import Agent, Backoff
from locks.agent.sessions import LockSessions, pair_lock
from locks.agent.state import StateStore
from locks.nuki.ble.constants import LockState
from locks.nuki.ble.transport import Transport
from locks.simulators.ble_lock import SimulatedLock

ADDRESS = "54:D2:72:AA:BB:02"
PIN = 1234


class AgentThread(threading.Thread):
    """The agent with its own event loop (as on the Pi), next to the test's Django code."""

    def __init__(self, state: Path) -> None:
        super().__init__(daemon=True)
        self.store = StateStore(state)
        self.lock = SimulatedLock(name="Hall door", pin=PIN, nuki_id=4242)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.agent: Agent | None = None

    async def _open(self, address: str) -> Transport:
        if address != ADDRESS:
            raise ConnectionError("no such lock nearby")
        return self.lock.connect()

    async def _main(self) -> None:
        self.loop = asyncio.get_running_loop()
        async with self.lock.running():
            self.lock.enter_pairing_mode()
            await pair_lock(self.store, self._open, ADDRESS, pin=PIN)
            config = self.store.load_agent()
            sessions = LockSessions(self.store, self._open, timeout=1.0, action_timeout=2.0)
            self.agent = Agent(
                self.store,
                PortalClient.from_config(config),
                sessions,
                JobExecutor(sessions, self.store, retry_delay=0.01),
                wait=2,
                min_poll_interval=0,
                backoff=Backoff(base=0.05, cap=0.2),
            )
            self.ready.set()
            try:
                await self.agent.run()
            finally:
                await self.agent.portal.aclose()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            self.error = exc
            self.ready.set()

    def stop(self) -> None:
        if self.loop is not None and self.agent is not None:
            self.loop.call_soon_threadsafe(self.agent.stop.set)
        self.join(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_agent_serves_the_real_portal(world, live_server, tmp_path: Path, concurrent_db) -> None:
    from locks.integrations.base import CodeSpec
    from locks.integrations.ble_agent.enrollment import agent_create
    from locks.integrations.registry import driver_for
    from locks.models import Lock

    _, enrollment = agent_create(organization=world.org, name="Hall agent")
    state = tmp_path / "state"
    argv = ["enroll", "--portal", live_server.url, "--token", enrollment, "--name", "Pi"]
    assert main([*argv, "--state-dir", str(state)]) == 0

    agent = AgentThread(state)
    agent.start()
    try:
        assert agent.ready.wait(10) and agent.error is None, agent.error
        deadline = time.monotonic() + 10
        while not Lock.objects.filter(ble_address=ADDRESS).exists():
            assert time.monotonic() < deadline, "the lock report never arrived"
            time.sleep(0.05)
        lock = Lock.objects.get(ble_address=ADDRESS)
        assert (lock.driver, lock.nuki_id, lock.name) == ("ble_agent", 4242, "Hall door")

        driver = driver_for(lock)
        start = dt.datetime(2030, 1, 1, 15, tzinfo=dt.UTC)
        spec = CodeSpec("345678", "Guest", start, start + dt.timedelta(days=3))
        applied = driver.add_code(spec)
        assert int(applied.remote_id) in agent.lock.codes

        (listed,) = driver.list_codes()
        assert listed.remote_id == applied.remote_id and listed.matches(spec)

        status = driver.lock_action("unlock")
        assert status is not None and status.state == "unlocked"
        assert agent.lock.state == LockState.UNLOCKED

        assert driver.remove_code(applied.remote_id) is True
        assert agent.lock.codes == {}
    finally:
        agent.stop()
    assert agent.error is None
    assert not agent.is_alive()


@pytest.mark.clock
@pytest.mark.django_db(transaction=True)
def test_a_code_taken_on_the_lock_makes_the_stay_draw_another(
    world, prop, live_server, tmp_path: Path, concurrent_db
) -> None:
    """The lock answers K_ERROR_CODE_ALREADY_EXISTS (someone set these digits at the door):
    the agent passes the error code on, the driver raises CodeConflict, and the sync engine
    draws a new code for the stay instead of retrying the taken one."""
    from bookings.models import AccessGrant
    from bookings.services import BookingData, booking_upsert
    from locks.integrations.base import CodeConflict, CodeSpec, NotFoundOnLock
    from locks.integrations.ble_agent.enrollment import agent_create
    from locks.integrations.registry import driver_for
    from locks.models import AccessCode, CodeState, Lock
    from locks.nuki.ble.values import NukiDateTime
    from locks.services import lock_update
    from locks.simulators.ble_lock.model import KeypadCodeEntry
    from portal.testing import days_from_now

    _, enrollment = agent_create(organization=world.org, name="Hall agent")
    state = tmp_path / "state"
    argv = ["enroll", "--portal", live_server.url, "--token", enrollment]
    assert main([*argv, "--state-dir", str(state)]) == 0
    agent = AgentThread(state)
    agent.start()
    try:
        assert agent.ready.wait(10) and agent.error is None, agent.error
        deadline = time.monotonic() + 10
        while not Lock.objects.filter(ble_address=ADDRESS).exists():
            assert time.monotonic() < deadline, "the lock report never arrived"
            time.sleep(0.05)
        lock = Lock.objects.get(ble_address=ADDRESS)

        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id="TAKEN-1",
                property=prop,
                status="confirmed",
                check_in=days_from_now(0),
                check_out=days_from_now(2),
                guest_name="Tom Taken",
                guest_email="tom@example.com",
            ),
        )
        grant = AccessGrant.objects.get(booking=booking)
        taken = grant.code
        # Someone programs the stay's digits on the lock by hand before the lock joins it.
        agent.lock.codes[90] = KeypadCodeEntry(
            code_id=90, code=int(taken), name="Cleaner", date_created=NukiDateTime.unset()
        )
        driver = driver_for(lock)
        start = dt.datetime(2030, 1, 1, 15, tzinfo=dt.UTC)
        with pytest.raises(CodeConflict):
            driver.add_code(CodeSpec(taken, "Guest", start, start + dt.timedelta(days=1)))
        with pytest.raises(NotFoundOnLock):
            driver.update_code("4000", CodeSpec("345678", "G", start, start))

        lock_update(lock=lock, property=prop)  # plans the stay's code here; tasks run eagerly
        # The command hands each step to the agent and returns; the agent's answers resume it.
        deadline = time.monotonic() + 20
        while True:
            grant.refresh_from_db()
            ac = AccessCode.objects.get(lock=lock, holder=grant.holder)
            if ac.state == CodeState.SET or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert grant.code != taken
        assert (ac.code, ac.state) == (grant.code, CodeState.SET)
        on_lock = sorted((e.name, f"{e.code:06d}") for e in agent.lock.codes.values())
        assert on_lock == sorted([("Cleaner", taken), (ac.name, grant.code)])
    finally:
        agent.stop()
    assert agent.error is None
