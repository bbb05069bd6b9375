"""The data of the simulated Nuki Web account: its constants, dates and ids, and smartlocks.

Authorizations, account users and log entries are in records.py. Pure data, no threads and no
HTTP. Field names and value ranges follow Nuki's published OpenAPI description of the Web API
(schemas Smartlock, SmartlockConfig, SmartlockAdvancedConfig, SmartlockState, SmartlockAuth,
SmartlockAuthCreate/Update, SmartlockLog, DecentralWebhook) and FACTS.md; where that is silent
the choice is ours and says so.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# Smartlock types (Smartlock.type).
TYPE_KEYTURNER, TYPE_BOX, TYPE_OPENER, TYPE_SMARTDOOR, TYPE_SMARTLOCK3 = 0, 1, 2, 3, 4

# Lock states (SmartlockState.state, type 0/3/4).
UNCALIBRATED, LOCKED, UNLOCKING, UNLOCKED, LOCKING, UNLATCHED, UNLOCKED_LNG, UNLATCHING = range(8)
MOTOR_BLOCKED, UNDEFINED = 254, 255

# Door sensor states (SmartlockState.doorState).
DOOR_UNAVAILABLE, DOOR_DEACTIVATED, DOOR_CLOSED, DOOR_OPENED, DOOR_UNKNOWN = 0, 1, 2, 3, 4

# Lock actions (SmartlockAction.action and SmartlockLog.action).
ACTION_UNLOCK, ACTION_LOCK, ACTION_UNLATCH, ACTION_LNG, ACTION_LNG_UNLATCH = 1, 2, 3, 4, 5
LOG_DOOR_OPENED, LOG_DOOR_CLOSED = 240, 241

# Triggers (SmartlockLog.trigger / SmartlockState.trigger).
TRIGGER_SYSTEM, TRIGGER_MANUAL, TRIGGER_BUTTON, TRIGGER_AUTOMATIC, TRIGGER_WEB = 0, 1, 2, 3, 4
TRIGGER_APP, TRIGGER_AUTO_LOCK, TRIGGER_ACCESSORY, TRIGGER_KEYPAD = 5, 6, 7, 255

# Log completion states (SmartlockLog.state). 224 for a wrong keypad code is our choice: the
# log schema has no value for it, the lock state list uses 224 for "wrong entry code".
LOG_SUCCESS, LOG_WRONG_CODE = 0, 224
SOURCE_DEFAULT, SOURCE_KEYPAD = 0, 1

# Authorization types (SmartlockAuth.type); the Web API creates 0, 2 and 13.
AUTH_APP, AUTH_BRIDGE, AUTH_FOB, AUTH_KEYPAD, AUTH_KEYPAD_CODE = 0, 1, 2, 3, 13
CREATABLE_AUTH_TYPES = frozenset({AUTH_APP, AUTH_FOB, AUTH_KEYPAD_CODE})

# Server states (Smartlock.serverState).
SERVER_OK, SERVER_OFFLINE = 0, 4

WEBHOOK_FEATURES = (
    "DEVICE_STATUS",
    "DEVICE_MASTERDATA",
    "DEVICE_CONFIG",
    "DEVICE_LOGS",
    "DEVICE_AUTHS",
    "ACCOUNT_USER",
)

MAX_AUTH_NAME = 32
MAX_LOG_LIMIT = 50
DEFAULT_LOG_LIMIT = 20
MINUTES_PER_DAY = 24 * 60


class Invalid(ValueError):
    """A request field is invalid: the API answers 400 with this message."""


# Times -------------------------------------------------------------------------------------


def iso(when: float) -> str:
    """Nuki's date format: UTC with milliseconds and Z, e.g. 2024-05-01T14:00:00.000Z."""
    moment = dt.datetime.fromtimestamp(when, tz=dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: Any, name: str) -> float:
    """An RFC 3339 date-time with an explicit offset (Z or +hh:mm) as a POSIX timestamp."""
    if not isinstance(value, str):
        raise Invalid(f"'{name}' must be an ISO 8601 date-time string")
    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise Invalid(f"'{name}' is not an ISO 8601 date-time: {value!r}") from None
    if moment.tzinfo is None:
        raise Invalid(f"'{name}' needs a UTC offset (e.g. 2024-05-01T14:00:00.000Z)")
    return moment.timestamp()


def normalize_iso(value: Any, name: str) -> str:
    return iso(parse_iso(value, name))


# Identifiers -------------------------------------------------------------------------------


class ObjectIds:
    """24-hex-digit ids like MongoDB ObjectIds (Nuki's auth and log ids look like these):
    a 4-byte timestamp then a counter, so later ids sort after earlier ones as strings."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self) -> str:
        with self._lock:
            return f"{int(time.time()) & 0xFFFFFFFF:08x}{next(self._counter):016x}"


def smartlock_id_for(device_type: int, nuki_id: int) -> int:
    """The Web API's smartlockId: the device type in hex followed by the 8-hex-digit nukiId
    (so a type-0 lock keeps its nukiId, a Smart Lock 3.0/4 with nukiId 0x1A2B3C4D is
    0x41A2B3C4D)."""
    return int(f"{device_type:x}{nuki_id:08x}", 16)


# Smartlocks ----------------------------------------------------------------------------------


@dataclass
class SimSmartlock:
    smartlock_id: int
    nuki_id: int
    name: str
    account_id: int
    owner_auth_id: int  # Smartlock.authId: the account owner's authorization on the lock
    type: int = TYPE_SMARTLOCK3
    state: int = LOCKED
    mode: int = 2
    trigger: int = TRIGGER_SYSTEM
    last_action: int = ACTION_LOCK
    battery_charge: int = 85
    battery_charging: bool = False
    keypad_battery_critical: bool = False
    doorsensor_battery_critical: bool = False
    door_state: int = DOOR_CLOSED
    night_mode: bool = False
    offline: bool = False
    favorite: bool = False
    firmware_version: int = 0x030805  # 3.8.5, an int as in the API
    hardware_version: int = 0x040002
    config: dict[str, Any] = field(default_factory=dict)
    advanced_config: dict[str, Any] = field(default_factory=dict)
    creation_date: float = field(default_factory=time.time)
    update_date: float = field(default_factory=time.time)
    next_lock_auth_id: int = 1  # SmartlockAuth.authId, assigned by the lock
    timezone: str = "UTC"  # IANA name of the lock's clock (weekdays and times are local)

    @property
    def battery_critical(self) -> bool:
        return self.battery_charge <= 20

    @property
    def server_state(self) -> int:
        return SERVER_OFFLINE if self.offline else SERVER_OK

    @property
    def keypad_paired(self) -> bool:
        return bool(self.config.get("keypadPaired") or self.config.get("keypad2Paired"))

    def take_lock_auth_id(self) -> int:
        value = self.next_lock_auth_id
        self.next_lock_auth_id += 1
        return value

    def state_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "state": self.state,
            "trigger": self.trigger,
            "lastAction": self.last_action,
            "batteryCritical": self.battery_critical,
            "batteryCharging": self.battery_charging,
            "batteryCharge": self.battery_charge,
            "keypadBatteryCritical": self.keypad_battery_critical,
            "doorsensorBatteryCritical": self.doorsensor_battery_critical,
            "doorState": self.door_state,
            "ringToOpenTimer": 0,
            "nightMode": self.night_mode,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "smartlockId": self.smartlock_id,
            "accountId": self.account_id,
            "type": self.type,
            "authId": self.owner_auth_id,
            "name": self.name,
            "favorite": self.favorite,
            "config": dict(self.config),
            "advancedConfig": dict(self.advanced_config),
            "state": self.state_json(),
            "firmwareVersion": self.firmware_version,
            "hardwareVersion": self.hardware_version,
            "serverState": self.server_state,
            "adminPinState": 0,
            "virtualDevice": False,
            "creationDate": iso(self.creation_date),
            "updateDate": iso(self.update_date),
        }


def default_config(name: str, *, keypad: bool, device_type: int) -> dict[str, Any]:
    return {
        "name": name,
        "latitude": 48.2082,
        "longitude": 16.3738,
        "autoUnlatch": False,
        "liftUpHandle": False,
        "pairingEnabled": True,
        "buttonEnabled": True,
        "ledEnabled": True,
        "ledBrightness": 3,
        "timezoneOffset": 0,
        "daylightSavingMode": 0,
        "fobPaired": False,
        "fobAction1": 1,
        "fobAction2": 2,
        "fobAction3": 0,
        "singleLock": False,
        "advertisingMode": 0,
        "keypadPaired": keypad,
        "keypad2Paired": False,
        "homekitState": 0,
        "matterState": 0,
        "timezoneId": 37,  # Etc/UTC in Nuki's timezone list (our choice of default)
        "deviceType": device_type,
        "wifiEnabled": False,
    }


def default_advanced_config() -> dict[str, Any]:
    return {
        "lngTimeout": 20,
        "singleButtonPressAction": 1,
        "doubleButtonPressAction": 5,
        "automaticBatteryTypeDetection": True,
        "unlatchDuration": 3,
        "totalDegrees": 900,
        "singleLockedPositionOffsetDegrees": 0,
        "unlockedToLockedTransitionOffsetDegrees": 0,
        "unlockedPositionOffsetDegrees": 0,
        "lockedPositionOffsetDegrees": 0,
        "detachedCylinder": False,
        "batteryType": 0,
        "autoLock": False,
        "autoLockTimeout": 0,
        "autoUpdateEnabled": True,
    }
