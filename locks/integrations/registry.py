"""The driver registry: which lock driver serves each kind. The planner and UI ask a driver's
capabilities, never its kind.

Drivers register at app start-up (LocksConfig.ready() calls `load`), so nothing here imports
an integration: the engine and the models ask the registry, and no integration's import pulls
the engine back in."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.utils.module_loading import import_string

from locks.integrations.base import Driver, DriverError

# One entry per integration folder (locks/integrations/<kind>/driver.py), loaded by dotted
# path at start-up.
BUILTIN_DRIVERS = (
    "locks.integrations.virtual.driver.VirtualDriver",
    "locks.integrations.bridge.driver.BridgeHttpDriver",
    "locks.integrations.nuki_web.driver.NukiWebDriver",
    "locks.integrations.ble_agent.driver.BleAgentDriver",
)

_DRIVERS: dict[str, type[Driver]] = {}


def register(driver: type[Driver]) -> type[Driver]:
    """Make `driver` serve locks of its `kind` (a later registration of a kind replaces it)."""
    _DRIVERS[driver.kind] = driver
    return driver


def unregister(kind: str) -> None:
    """Forget the driver of `kind` (tests that register a stand-in put the original back)."""
    _DRIVERS.pop(kind, None)


def load(paths: Iterable[str] = BUILTIN_DRIVERS) -> None:
    """Register the drivers named by dotted path (LocksConfig.ready)."""
    for path in paths:
        register(import_string(path))


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
