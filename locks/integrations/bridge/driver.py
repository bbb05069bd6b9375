"""Driver for locks behind a Nuki Bridge on the LAN (HTTP API v1.13).

The bridge can act on locks and report their state and log, but cannot program keypad codes:
codes for bridged locks go through Nuki Web or an on-site BLE agent. One request at a time per
bridge across every process: the client takes a Redis lock (or a file lock without Redis)."""

from __future__ import annotations

import functools

from django.conf import settings

from locks.budgets import bridge_budget
from locks.integrations.base import Capability, Driver, DriverError, LockStatus
from locks.nuki.bridge import (
    BridgeClient,
    BridgeError,
    FileBridgeLock,
    LockAction,
    LockState,
    RedisBridgeLock,
)
from portal.netguard import UnsafeURL, check_lan_host

ACTION_CODES = {
    "unlock": LockAction.UNLOCK,
    "lock": LockAction.LOCK,
    "unlatch": LockAction.UNLATCH,
    "lock_n_go": LockAction.LOCK_N_GO,
}


@functools.cache
def bridge_lock_factory():
    """Redis locks where Redis is configured (production, CI), file locks otherwise (demo)."""
    url = settings.LATCHKEY_LOCK_REDIS_URL or (
        settings.CELERY_BROKER_URL if settings.CELERY_BROKER_URL.startswith("redis") else ""
    )
    if url:
        return RedisBridgeLock.from_url(url)
    return FileBridgeLock(str(settings.VAR_DIR / "locks"))


def client_for(bridge) -> BridgeClient:
    """A client for the bridge, connecting to the address checked just now: the host a tenant
    typed is checked again at every connection (its DNS may have changed since it was saved)
    and the client is pinned to the checked address, so no second lookup can differ."""
    try:
        checked = check_lan_host(bridge.host, bridge.port)
    except UnsafeURL as exc:
        raise BridgeError(
            str(exc),
            fix="Change the bridge's address to its address on your local network.",
            permanent=True,
        ) from None
    ip = min(checked, key=lambda a: (a.version, int(a)))  # the same one every time
    return BridgeClient(
        f"[{ip}]" if ip.version == 6 else str(ip),
        bridge.token or None,
        port=bridge.port,
        token_mode=bridge.token_mode,
        lock_factory=bridge_lock_factory(),
        budget=bridge_budget(host=str(ip), port=bridge.port),  # within the bridge's limit
    )


def as_driver_error(exc: BridgeError) -> DriverError:
    return DriverError(
        exc.message,
        fix=exc.fix,
        permanent=exc.permanent,
        detail=str(exc),
        retry_after=exc.retry_after,
    )


def status_from(state: LockState) -> LockStatus:
    return LockStatus(
        state=state.state_name or "unknown",
        battery_percent=state.battery_charge_state,
        battery_critical=state.battery_critical,
        door_state=state.doorsensor_state_name,
    )


class BridgeHttpDriver(Driver):
    kind = "bridge_http"
    queue = "bridge"  # a silent bridge holds a worker slot until its timeout
    capabilities = frozenset({Capability.ACTIONS, Capability.STATE, Capability.LOGS})

    def _client(self) -> BridgeClient:
        bridge = self.lock.bridge
        if bridge is None or self.lock.nuki_id is None:
            raise DriverError(
                "This lock is no longer connected to a bridge.",
                fix="Add the bridge again and import its locks.",
                permanent=True,
            )
        try:
            return client_for(bridge)
        except BridgeError as exc:
            raise as_driver_error(exc) from None

    def lock_action(self, action: str) -> LockStatus | None:
        client = self._client()
        try:
            result = client.lock_action(
                self.lock.nuki_id, ACTION_CODES[action], self.lock.device_type
            )
        except BridgeError as exc:
            raise as_driver_error(exc) from None
        finally:
            client.close()
        if not result.success:
            raise DriverError(
                "The bridge could not reach the lock.",
                fix="Check that the lock is in range of the bridge and its batteries are fine.",
            )
        return None  # the new state arrives by callback, or at the next /list

    def read_state(self) -> LockStatus | None:
        client = self._client()
        try:
            devices = client.list_devices()
        except BridgeError as exc:
            raise as_driver_error(exc) from None
        finally:
            client.close()
        for device in devices:
            if device.nuki_id == self.lock.nuki_id and device.last_known_state:
                return status_from(device.last_known_state)
        return None
