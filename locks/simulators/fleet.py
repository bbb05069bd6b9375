"""The fleet behind the agent's `run --simulate N`: N simulated Nuki Smart Locks instead of a radio.

The agent program never imports this module: it loads it by dotted path (`SIMULATED_FLEET` in
locks/agent/__main__.py) only when asked to simulate, so a real agent carries no simulator.

For the demo and for end-to-end tests: the locks are `locks.simulators.ble_lock`
SimulatedLocks in the agent's own process, reached over the in-memory loopback transport, so
every job still travels as encrypted 20-byte chunks through the real client. Everything else
(enrollment, lock report, long-poll, journal, outbox, clock sync) is the normal agent.

Each simulated lock lives in the state directory like a real lock lives on the door::

    simulated/fleet.json         which locks exist: address, name, Nuki ID, PIN
    simulated/<address>.json     the lock's memory (keys, authorizations, codes, log, clock)

so a restarted agent finds the same locks with the same keys and codes. A lock saves its
memory before it answers (its flash write), so even a SIGKILL of the agent never loses what a
lock confirmed. Missing pairings are made at start with the real pairing exchange.

Options for tests: `drift` makes the lock clocks run fast by that fraction (0.5: 1.5 s per
second), so clock sync is visible; `radio_delay` delays every message in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from locks.agent.sessions import DiscoveredLock, pair_lock
from locks.agent.state import (
    StateError,
    StateStore,
    normalize_address,
    read_json,
    write_private_json,
)
from locks.nuki.ble.transport import LoopbackTransport, Message, Transport
from locks.simulators.ble_lock import SimulatedLock
from locks.simulators.ble_lock.persist import restore, snapshot

logger = logging.getLogger(__name__)

NUKI_OUI = "54:D2:72"
"""Nuki Home Solutions' MAC prefix: simulated addresses look like the real ones."""


class DriftingTime:
    """A time source running `1 + rate` times as fast as the host clock from `anchor` on.

    The anchor is stored with the fleet, so the function is the same across restarts and a
    restored lock clock continues where it was."""

    def __init__(self, rate: float, anchor: datetime) -> None:
        self.rate = rate
        self.anchor = anchor

    def __call__(self) -> datetime:
        real = datetime.now(UTC)
        return self.anchor + (real - self.anchor) * (1.0 + self.rate)


class DelayedTransport(Transport):
    """Delays every message sent through `inner` by `delay` seconds (radio latency)."""

    def __init__(self, inner: Transport, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def send(self, characteristic: str, data: bytes) -> None:
        await asyncio.sleep(self.delay)
        await self.inner.send(characteristic, data)

    async def receive(self, timeout: float | None = None) -> Message:
        return await self.inner.receive(timeout)

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class SimulatedIdentity:
    address: str
    name: str
    nuki_id: int
    pin: int


class SimulatedFleet:
    """The simulated locks of one agent, persisted in its state directory."""

    def __init__(
        self,
        store: StateStore,
        count: int,
        *,
        drift: float = 0.0,
        radio_delay: float = 0.0,
        action_seconds: float = 0.5,
    ) -> None:
        if count < 1:
            raise ValueError("--simulate needs at least one lock")
        self.store = store
        self.count = count
        self.drift = drift
        self.radio_delay = radio_delay
        self.action_seconds = action_seconds
        self.locks: dict[str, SimulatedLock] = {}
        self.identities: dict[str, SimulatedIdentity] = {}

    @property
    def directory(self) -> Path:
        return self.store.root / "simulated"

    def lock_path(self, address: str) -> Path:
        return self.directory / f"{normalize_address(address)}.json"

    # -- identities -------------------------------------------------------------------------

    def plan(self) -> tuple[datetime, list[SimulatedIdentity]]:
        """fleet.json, created or grown to `count` locks (never shrunk: a smaller N serves the
        first N and keeps the others' memory)."""
        path = self.directory / "fleet.json"
        data: dict[str, Any] = {}
        with contextlib.suppress(FileNotFoundError):
            data = read_json(path)
        try:
            anchor = datetime.fromisoformat(data["anchor"]) if data else datetime.now(UTC)
            known = [SimulatedIdentity(**item) for item in data.get("locks", [])]
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{path} is damaged ({exc})") from None
        taken = {identity.address for identity in known}
        while len(known) < self.count:
            address = f"{NUKI_OUI}:" + ":".join(f"{b:02X}" for b in secrets.token_bytes(3))
            if address in taken:
                continue
            taken.add(address)
            known.append(
                SimulatedIdentity(
                    address=address,
                    name=f"Simulated lock {len(known) + 1}",
                    nuki_id=secrets.randbits(31) | 1,
                    pin=1000 + secrets.randbelow(9000),
                )
            )
        self.store.ensure_dirs()
        self.directory.mkdir(mode=0o700, exist_ok=True)
        write_private_json(
            path,
            {"anchor": anchor.isoformat(), "locks": [vars(identity) for identity in known]},
        )
        return anchor, known[: self.count]

    # -- the locks --------------------------------------------------------------------------

    def load(self) -> None:
        """Build (or restore) every simulated lock; needs no event loop."""
        anchor, identities = self.plan()
        for identity in identities:
            options: dict[str, Any] = {
                "clock": DriftingTime(self.drift, anchor),
                "action_seconds": self.action_seconds,
                "auto_unlock_cooldown": 0.0,
            }
            path = self.lock_path(identity.address)
            try:
                lock = restore(read_json(path), **options)
            except FileNotFoundError:
                lock = SimulatedLock(
                    name=identity.name, pin=identity.pin, nuki_id=identity.nuki_id, **options
                )
            except (StateError, KeyError, TypeError, ValueError) as exc:
                raise StateError(f"simulated lock {identity.address} unreadable: {exc}") from None
            lock.on_change = self._saver(identity.address)
            self.locks[identity.address] = lock
            self.identities[identity.address] = identity
            self.save(identity.address)

    def _saver(self, address: str):
        def save(lock: SimulatedLock) -> None:
            self.save(address)

        return save

    def save(self, address: str) -> None:
        write_private_json(self.lock_path(address), snapshot(self.locks[address]))

    async def open(self, address: str) -> Transport:
        """The TransportFactory of the agent: a fresh loopback link to the simulated lock."""
        lock = self.locks.get(normalize_address(address))
        if lock is None:
            raise ConnectionError(f"no simulated lock at {address}")
        if not self.radio_delay:
            return lock.connect()
        client_end, lock_end = LoopbackTransport.pair()
        lock.serve(DelayedTransport(lock_end, self.radio_delay))
        return DelayedTransport(client_end, self.radio_delay)

    async def scan(self) -> list[DiscoveredLock]:
        return [DiscoveredLock(address, lock.config.name) for address, lock in self.locks.items()]

    def _paired(self, address: str) -> bool:
        """The agent holds a key the lock still knows (either side may have been reset)."""
        try:
            record = self.store.load_lock(address)
        except StateError:
            return False
        if record is None:
            return False
        auth = self.locks[address].authorizations.get(record.authorization_id)
        return auth is not None and auth.shared_key == record.shared_key

    async def pair_all(self, *, app_id: int | None = None) -> int:
        """Pair every simulated lock the agent has no working key for (the real exchange, as
        after pressing the button on the lock). Returns how many were paired."""
        paired = 0
        for address, lock in self.locks.items():
            if self._paired(address):
                continue
            lock.enter_pairing_mode()
            await pair_lock(
                self.store,
                self.open,
                address,
                pin=self.identities[address].pin,
                app_id=app_id,
                retry_delay=0.2,
            )
            paired += 1
            logger.info("paired with simulated lock %s", address)
        return paired

    async def close(self) -> None:
        for address, lock in self.locks.items():
            await lock.close()
            with contextlib.suppress(OSError, KeyError):
                self.save(address)
