"""Lock drivers, by kind. The planner and UI ask a driver's capabilities, never its kind."""

from __future__ import annotations

from django.conf import settings

from locks.drivers.base import (
    ACTIONS,
    EVERY_DAY,
    AccessKind,
    Applied,
    AwaitingDevice,
    Capability,
    CodeConflict,
    CodeSpec,
    Driver,
    DriverError,
    LockCode,
    LockFull,
    LockStatus,
    NotFoundOnLock,
    command_context,
    running_command,
)
from locks.drivers.ble_agent import BleAgentDriver
from locks.drivers.bridge_http import BridgeHttpDriver
from locks.drivers.nuki_web import NukiWebDriver
from locks.drivers.virtual import VirtualDriver

_DRIVERS: dict[str, type[Driver]] = {
    VirtualDriver.kind: VirtualDriver,
    BridgeHttpDriver.kind: BridgeHttpDriver,
    NukiWebDriver.kind: NukiWebDriver,
    BleAgentDriver.kind: BleAgentDriver,
}


def register(driver: type[Driver]) -> type[Driver]:
    _DRIVERS[driver.kind] = driver
    return driver


def driver_class(kind: str) -> type[Driver]:
    try:
        return _DRIVERS[kind]
    except KeyError:
        raise DriverError(
            f"The driver {kind!r} is not available in this installation.", permanent=True
        ) from None


def driver_for(lock) -> Driver:
    return driver_class(lock.driver)(lock)


def queue_for(kind: str) -> str:
    """The Celery queue a command for a lock of this driver kind is sent to: the driver's
    channel (`Driver.queue`), named as settings.LATCHKEY_QUEUES says. A kind no longer
    installed goes to the codes queue, where its command fails in plain words."""
    channel = getattr(_DRIVERS.get(kind), "queue", "codes")
    return settings.LATCHKEY_QUEUES.get(channel, settings.CELERY_TASK_DEFAULT_QUEUE)


def available_kinds() -> list[str]:
    return sorted(_DRIVERS)


__all__ = [
    "ACTIONS",
    "EVERY_DAY",
    "AccessKind",
    "Applied",
    "AwaitingDevice",
    "Capability",
    "CodeConflict",
    "CodeSpec",
    "Driver",
    "DriverError",
    "LockCode",
    "LockFull",
    "LockStatus",
    "NotFoundOnLock",
    "available_kinds",
    "command_context",
    "driver_class",
    "driver_for",
    "queue_for",
    "register",
    "running_command",
]
