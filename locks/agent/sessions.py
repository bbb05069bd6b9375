"""BLE sessions with the paired locks, and pairing itself.

A lock handles one command at a time and one connection per app, so the agent keeps to one
session at a time per lock (an asyncio lock per address). Where the bytes go is a
`TransportFactory`: `bleak_transport_factory()` for a real radio, anything else in tests (the
simulated lock's loopback). Every session builds a fresh `NukiClient` from the stored
credentials; the shared key is read from disk here and goes nowhere but into the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from locks.nuki.ble import commands as c
from locks.nuki.ble.bleak_transport import BleakTransport, RetryPolicy
from locks.nuki.ble.client import NukiClient
from locks.nuki.ble.constants import IdType, LockState
from locks.nuki.ble.errors import NukiErrorReport, ProtocolError
from locks.nuki.ble.gatt import (
    INITIALIZATION_SERVICE,
    OPENER,
    SMART_LOCK,
    ULTRA_PAIRING_SERVICE,
)
from locks.nuki.ble.transport import Transport
from locks.nuki.ble.values import SecurityPin

from .state import LockRecord, StateStore, normalize_address

logger = logging.getLogger(__name__)

TransportFactory = Callable[[str], Awaitable[Transport]]
"""Opens a connected transport to the lock at an address; raises ConnectionError if it
cannot."""

AUTHORIZATION_NAME = "Latchkey agent"
"""How the agent appears in the lock's list of authorizations (Nuki app: Manage users)."""


class NotPaired(Exception):
    """The agent holds no key for this address: pair it first (`python -m locks.agent pair`)."""


def bleak_transport_factory(
    *, connect_attempts: int = 3, connect_timeout: float = 10.0, idle_timeout: float = 20.0
) -> TransportFactory:
    """Production transports: bleak, connected before use, with BleakTransport's own retries
    (exponential backoff with jitter: onboard Raspberry Pi radios are flaky)."""

    async def open_transport(address: str) -> Transport:
        transport = BleakTransport(
            address,
            retry=RetryPolicy(attempts=connect_attempts, initial_delay=1.0, jitter=0.3),
            connect_timeout=connect_timeout,
            idle_timeout=idle_timeout,
        )
        await transport.connect()
        return transport

    return open_transport


# -- what the portal is told about a lock ------------------------------------------------------


def state_name(lock_state: int | None) -> str | None:
    """The lock state as the portal sees it: LockState's name in lower case ("locked",
    "unlocked", "unlocked_lock_n_go", "motor_blocked", ...), or "unknown_0xNN"."""
    if lock_state is None:
        return None
    try:
        return LockState(lock_state).name.lower()
    except ValueError:
        return f"unknown_0x{lock_state & 0xFF:02X}"


def battery_of(critical_battery_state: int) -> tuple[bool, int | None]:
    """(critical, percent) from Nuki States' battery byte.

    Spec v1.10 only defines bit 0 (critical). Later firmware (as read by pyNukiBT; not in our
    reference, so *unconfirmed*) puts the charge in bits 2-7 as percent / 2 and charging in
    bit 1. No charge bits at all means an older lock: the percent is unknown, not 0.
    """
    critical = bool(critical_battery_state & 0x01)
    charge_bits = critical_battery_state & 0xFC
    return critical, (charge_bits >> 1) if charge_bits else None


@dataclass(frozen=True)
class LockStatus:
    """What the agent last saw of a lock, for the lock report and events."""

    state: str | None
    battery_critical: bool | None
    battery_percent: int | None
    lock_time: str | None
    observed_at: float
    """time.monotonic() when it was seen."""

    @classmethod
    def from_states(cls, states: c.NukiStates) -> LockStatus:
        critical, percent = battery_of(states.critical_battery_state)
        lock_time = None if states.current_time.is_unset else states.current_time.isoformat()
        return cls(
            state=state_name(states.lock_state),
            battery_critical=critical,
            battery_percent=percent,
            lock_time=lock_time,
            observed_at=time.monotonic(),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "battery_critical": self.battery_critical,
            "battery_percent": self.battery_percent,
            "lock_time": self.lock_time,
        }


class LockSessions:
    """Opens sessions to paired locks, one at a time per lock, and remembers their status."""

    def __init__(
        self,
        store: StateStore,
        transport_factory: TransportFactory,
        *,
        timeout: float = 3.0,
        action_timeout: float = 30.0,
    ) -> None:
        self.store = store
        self.transport_factory = transport_factory
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.status: dict[str, LockStatus] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock_for(self, address: str) -> asyncio.Lock:
        return self._locks.setdefault(address, asyncio.Lock())

    def record(self, address: str) -> LockRecord:
        """The stored pairing for `address`; NotPaired if there is none."""
        record = self.store.load_lock(address)
        if record is None:
            raise NotPaired(f"this agent is not paired with the lock {address}")
        return record

    @contextlib.asynccontextmanager
    async def session(self, address: str) -> AsyncIterator[NukiClient]:
        """`async with sessions.session(address) as client:` a NukiClient on a fresh
        connection, closed on the way out. Remembers the last Nuki States the lock sent."""
        address = normalize_address(address)
        record = self.record(address)
        async with self._lock_for(address):
            transport = await self.transport_factory(address)
            client = NukiClient(
                transport,
                credentials=record.credentials(),
                security_pin=record.pin(),
                timeout=self.timeout,
                action_timeout=self.action_timeout,
            )
            try:
                yield client
            finally:
                if client.last_states is not None:
                    self.remember(address, client.last_states)
                with contextlib.suppress(Exception):
                    await transport.close()

    def remember(self, address: str, states: c.NukiStates) -> LockStatus:
        status = LockStatus.from_states(states)
        self.status[normalize_address(address)] = status
        return status

    async def refresh_status(self, address: str) -> LockStatus:
        """Connect and read Nuki States (costs the lock a little battery: call sparingly)."""
        async with self.session(address) as client:
            states = await client.request_nuki_states()
        return self.remember(address, states)


# -- pairing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairingOutcome:
    record: LockRecord
    pin_accepted: bool | None
    """True/False when a PIN was given and checked, None when no PIN was given."""


async def pair_lock(
    store: StateStore,
    transport_factory: TransportFactory,
    address: str,
    *,
    pin: int | None = None,
    pin_width: int = 2,
    name: str = "",
    app_id: int | None = None,
    attempts: int = 3,
    retry_delay: float = 2.0,
    timeout: float = 5.0,
) -> PairingOutcome:
    """Pair with a lock in pairing mode as an app (ID type 0) and store its key (mode 0600).

    Pairing as a bridge would unregister a real Nuki Bridge, hence always an app. The key is
    written before anything else is asked of the lock, so it is never lost to a later failure.
    Then the lock's Config gives its Nuki ID and name, and the PIN, if given, is verified
    (a wrong one is not stored: every keypad job would fail with it).
    """
    address = normalize_address(address)
    security_pin = SecurityPin(pin, pin_width) if pin is not None else None
    app_id = app_id if app_id is not None else secrets.randbits(32)
    last: BaseException | None = None
    for attempt in range(1, attempts + 1):
        transport: Transport | None = None
        try:
            transport = await transport_factory(address)
            client = NukiClient(transport, security_pin=security_pin, timeout=timeout)
            creds = await client.pair(app_id=app_id, name=AUTHORIZATION_NAME, id_type=IdType.APP)
            record = LockRecord(
                address=address,
                name=name,
                authorization_id=creds.authorization_id,
                shared_key=creds.shared_key,
                app_id=creds.app_id,
                id_type=creds.id_type,
                pin_width=pin_width,
                lock_public_key=creds.lock_public_key,
                lock_uuid=creds.lock_uuid,
                paired_at=datetime.now(UTC).isoformat(timespec="seconds"),
            )
            store.save_lock(record)
            logger.info("paired with %s as authorization %d", address, creds.authorization_id)
            return await _complete_pairing(store, client, record, security_pin)
        except NukiErrorReport:
            raise  # the lock said no (not in pairing mode, full): trying again will not help
        except (ConnectionError, TimeoutError, ProtocolError) as exc:
            last = exc
            logger.warning("pairing attempt %d with %s failed: %s", attempt, address, exc)
            if attempt < attempts:
                await asyncio.sleep(retry_delay * attempt)
        finally:
            if transport is not None:
                with contextlib.suppress(Exception):
                    await transport.close()
    raise ConnectionError(f"could not pair with {address} after {attempts} attempts: {last}")


async def _complete_pairing(
    store: StateStore,
    client: NukiClient,
    record: LockRecord,
    security_pin: SecurityPin | None,
) -> PairingOutcome:
    """After the key is safe on disk: Nuki ID, name and PIN, each optional."""
    updates: dict[str, object] = {}
    try:
        config = await client.request_config()
        updates["nuki_id"] = config.nuki_id
        if not record.name:
            updates["name"] = config.name
    except (NukiErrorReport, ConnectionError, TimeoutError, ProtocolError) as exc:
        logger.warning("paired, but could not read the lock's config: %s", exc)
    pin_accepted: bool | None = None
    if security_pin is not None:
        try:
            pin_accepted = await client.verify_security_pin()
        except (NukiErrorReport, ConnectionError, TimeoutError, ProtocolError) as exc:
            logger.warning("paired, but could not verify the PIN: %s", exc)
        if pin_accepted:
            updates["security_pin"] = security_pin.value
    if updates:
        record = dataclasses.replace(record, **updates)  # type: ignore[arg-type]
        store.save_lock(record)
    return PairingOutcome(record=record, pin_accepted=pin_accepted)


async def set_pin(
    store: StateStore,
    transport_factory: TransportFactory,
    address: str,
    pin: int,
    *,
    pin_width: int = 2,
    timeout: float = 5.0,
) -> bool:
    """Verify `pin` on a paired lock and store it if the lock accepts it."""
    sessions = LockSessions(store, transport_factory, timeout=timeout)
    record = sessions.record(normalize_address(address))
    async with sessions.session(record.address) as client:
        client.security_pin = SecurityPin(pin, pin_width)
        accepted = await client.verify_security_pin()
    if accepted:
        store.save_lock(dataclasses.replace(record, security_pin=pin, pin_width=pin_width))
    return accepted


# -- discovery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveredLock:
    """A Nuki device seen advertising nearby (paired with us or not)."""

    address: str
    name: str


Scanner = Callable[[], Awaitable[list[DiscoveredLock]]]

_NUKI_SERVICES = frozenset(
    {
        SMART_LOCK.pairing_service,
        SMART_LOCK.keyturner_service,
        OPENER.pairing_service,
        OPENER.keyturner_service,
        INITIALIZATION_SERVICE,
        ULTRA_PAIRING_SERVICE,
    }
)
_KEYTURNER_UUID_BYTES = frozenset(
    bytes.fromhex(uuid.replace("-", ""))
    for uuid in (SMART_LOCK.keyturner_service, OPENER.keyturner_service)
)
APPLE_COMPANY_ID = 0x004C


def looks_like_nuki(service_uuids: list[str], manufacturer_data: dict[int, bytes]) -> bool:
    """Nuki devices advertise their services, or (in door mode) an iBeacon whose proximity
    UUID is the keyturner service (as pyNukiBT and NukiHub detect them)."""
    if _NUKI_SERVICES & {u.lower() for u in service_uuids}:
        return True
    beacon = manufacturer_data.get(APPLE_COMPANY_ID, b"")
    return any(uuid in beacon for uuid in _KEYTURNER_UUID_BYTES)


def bleak_scanner(seconds: float = 5.0) -> Scanner:
    """Production discovery with bleak; the result feeds the lock report (paired: false)."""

    async def scan() -> list[DiscoveredLock]:
        from bleak import BleakScanner  # late: only a real radio needs it

        found = await BleakScanner.discover(timeout=seconds, return_adv=True)
        locks = []
        for address, (device, adv) in found.items():
            if looks_like_nuki(list(adv.service_uuids), dict(adv.manufacturer_data)):
                name = adv.local_name or getattr(device, "name", None) or ""
                locks.append(DiscoveredLock(normalize_address(address), name))
        return locks

    return scan
