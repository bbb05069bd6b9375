"""The simulated bridge's data: lock and door states, a paired lock, and how actions move it.

Pure data, no threads and no HTTP. Values follow the Bridge HTTP API v1.13 (FACTS.md).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

# Smart lock states (section 4.3 of the Bridge HTTP API).
UNCALIBRATED, LOCKED, UNLOCKING, UNLOCKED, LOCKING, UNLATCHED, UNLOCKED_LNG, UNLATCHING = range(8)
STATE_NAMES = {
    0: "uncalibrated",
    1: "locked",
    2: "unlocking",
    3: "unlocked",
    4: "locking",
    5: "unlatched",
    6: "unlocked (lock 'n' go)",
    7: "unlatching",
    254: "motor blocked",
    255: "undefined",
}
# Door sensor states (section 4.6).
DOOR_DEACTIVATED, DOOR_CLOSED, DOOR_OPENED, DOOR_UNKNOWN, DOOR_CALIBRATING = 1, 2, 3, 4, 5
DOOR_NAMES = {
    1: "deactivated",
    2: "door closed",
    3: "door opened",
    4: "door state unknown",
    5: "calibrating",
}
ACTION_UNLOCK, ACTION_LOCK, ACTION_UNLATCH, ACTION_LNG, ACTION_LNG_UNLATCH = 1, 2, 3, 4, 5

MAX_CALLBACKS = 3
MAX_CALLBACK_URL = 254
MAX_LOG_ENTRIES = 10_000
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Step = tuple[float, dict[str, int]]
"""(seconds to wait before, the change: state= and/or door=) of one movement."""


def iso(when: float) -> str:
    """A POSIX timestamp as the bridge writes it in /list and /log."""
    return dt.datetime.fromtimestamp(when, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class SimulatedLock:
    """One smart lock paired with the simulated bridge."""

    nuki_id: int
    name: str
    device_type: int = 0
    mode: int = 2
    state: int = LOCKED
    battery_charge: int = 85
    battery_charging: bool = False
    keypad_battery_critical: bool = False
    door: int = DOOR_CLOSED
    knob: bool = False
    offline: bool = False
    firmware_version: str = "2.12.4"
    updated_at: float = field(default_factory=time.time)

    @property
    def battery_critical(self) -> bool:
        return self.battery_charge <= 20

    def state_json(self) -> dict[str, Any]:
        """The state fields shared by /list's lastKnownState, /lockState and callbacks."""
        data: dict[str, Any] = {
            "mode": self.mode,
            "state": self.state,
            "stateName": STATE_NAMES.get(self.state, "undefined"),
            "batteryCritical": self.battery_critical,
            "batteryCharging": self.battery_charging,
            "batteryChargeState": self.battery_charge,
            "keypadBatteryCritical": self.keypad_battery_critical,
        }
        if self.door is not None:
            data["doorsensorState"] = self.door
            data["doorsensorStateName"] = DOOR_NAMES.get(self.door, "door state unknown")
        return data


def action_steps(lock: SimulatedLock, action: int, seconds: float) -> list[Step]:
    """The movements of an action, starting from the lock's state, `seconds` per movement."""
    t = seconds
    sensor = lock.door in (DOOR_CLOSED, DOOR_OPENED, DOOR_UNKNOWN)

    def opened(state: int) -> dict[str, int]:
        return {"state": state, "door": DOOR_OPENED} if sensor else {"state": state}

    closes = [(t / 2, {"door": DOOR_CLOSED})] if sensor else []
    if action == ACTION_UNLOCK:
        if lock.state == UNLOCKED:
            return []
        return [(0, {"state": UNLOCKING}), (t, {"state": UNLOCKED})]
    if action == ACTION_LOCK:
        if lock.state == LOCKED:
            return []
        return [(0, {"state": LOCKING}), (t, {"state": LOCKED})]
    if action == ACTION_UNLATCH:
        return [
            (0, {"state": UNLATCHING}),
            (t, opened(UNLATCHED)),
            (t / 2, {"state": UNLOCKED}),
            *closes,
        ]
    if action == ACTION_LNG:
        return [
            (0, {"state": UNLOCKING}),
            (t, {"state": UNLOCKED_LNG}),
            (t, {"state": LOCKING}),
            (t, {"state": LOCKED}),
        ]
    # ACTION_LNG_UNLATCH
    return [
        (0, {"state": UNLATCHING}),
        (t, opened(UNLATCHED)),
        (t / 2, {"state": UNLOCKED_LNG}),
        *closes,
        (t / 2, {"state": LOCKING}),
        (t, {"state": LOCKED}),
    ]
