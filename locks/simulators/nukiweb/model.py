"""The data of the simulated Nuki Web account: smartlocks, authorizations, log entries.

Pure data and validation, no threads and no HTTP. Field names and value ranges follow Nuki's
published OpenAPI description of the Web API (schemas Smartlock, SmartlockConfig,
SmartlockAdvancedConfig, SmartlockState, SmartlockAuth, SmartlockAuthCreate/Update, SmartlockLog,
DecentralWebhook) and FACTS.md; where that is silent the choice is ours and says so.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

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
_CODE = re.compile(r"[1-9]{6}")


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


# Authorizations ------------------------------------------------------------------------------

AUTH_OPTIONAL_FIELDS = (
    "accountUserId",
    "code",
    "allowedFromDate",
    "allowedUntilDate",
    "lastActiveDate",
    "smartActionsEnabled",
)


def auth_json(record: dict[str, Any], operation_id: str | None = None) -> dict[str, Any]:
    """A stored authorization as the API shows it (absent optional fields left out)."""
    data = {key: value for key, value in record.items() if value is not None}
    if operation_id:
        data["operationId"] = operation_id
    return data


def _int(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid(f"'{name}' must be an integer")
    if not low <= value <= high:
        raise Invalid(f"'{name}' must be between {low} and {high}")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"'{name}' must be true or false")
    return value


def keypad_code(value: Any) -> int:
    """A keypad code: 6 digits 1-9, not starting with 12 (an int, or a string of digits)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Invalid("'code' must be a 6-digit number")
    text = str(value).strip()
    if not _CODE.fullmatch(text):
        raise Invalid("'code' must have 6 digits, each 1-9 (no 0)")
    if text.startswith("12"):
        raise Invalid("'code' must not start with 12")
    return int(text)


def validate_auth(
    body: Any, *, existing: dict[str, Any] | None = None, require_name: bool = True
) -> dict[str, Any]:
    """Check a SmartlockAuthCreate (existing is None) or SmartlockAuthUpdate body.

    Returns the fields to store (for an update: only the ones that change, None clears an
    optional date). Raises Invalid for anything the API answers 400 to. Following the
    published schema: `name` is required in both, `remoteAllowed` when creating, and
    `accountUserId` when creating anything but a keypad code (type 13)."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    creating = existing is None
    out: dict[str, Any] = {}

    if "name" in body or require_name:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("'name' is required")
        if len(name) > MAX_AUTH_NAME:
            raise Invalid(f"'name' must be at most {MAX_AUTH_NAME} characters")
        out["name"] = name

    if creating:
        auth_type = body.get("type", AUTH_APP)
        if isinstance(auth_type, bool) or auth_type not in CREATABLE_AUTH_TYPES:
            raise Invalid("'type' must be 0 (app), 2 (fob) or 13 (keypad code)")
        out["type"] = auth_type
    else:
        auth_type = existing["type"]
        if "type" in body and body["type"] != auth_type:
            raise Invalid("'type' of an authorization cannot be changed")

    if "accountUserId" in body and body["accountUserId"] is not None:
        out["accountUserId"] = _int(body["accountUserId"], "accountUserId", 1, 2**31 - 1)
    elif creating and auth_type != AUTH_KEYPAD_CODE:
        raise Invalid("'accountUserId' is required unless type is 13 (keypad code)")

    if auth_type == AUTH_KEYPAD_CODE:
        if "code" in body:
            out["code"] = keypad_code(body["code"])
        elif creating:
            raise Invalid("'code' is required for a keypad code (type 13)")
    elif body.get("code") is not None:
        raise Invalid("'code' is only for keypad codes (type 13)")

    if "remoteAllowed" in body:
        out["remoteAllowed"] = _bool(body["remoteAllowed"], "remoteAllowed")
    elif creating:
        raise Invalid("'remoteAllowed' is required")

    for name in ("enabled", "smartActionsEnabled"):
        if name in body and body[name] is not None:
            out[name] = _bool(body[name], name)

    for name in ("allowedFromDate", "allowedUntilDate"):
        if name in body:
            out[name] = None if body[name] is None else normalize_iso(body[name], name)

    if body.get("allowedWeekDays") is not None:
        out["allowedWeekDays"] = _int(body["allowedWeekDays"], "allowedWeekDays", 0, 127)
    for name in ("allowedFromTime", "allowedUntilTime"):
        if body.get(name) is not None:
            out[name] = _int(body[name], name, 0, MINUTES_PER_DAY - 1)

    merged = {**(existing or {}), **out}
    start, end = merged.get("allowedFromDate"), merged.get("allowedUntilDate")
    if start and end and parse_iso(start, "allowedFromDate") >= parse_iso(end, "allowedUntilDate"):
        raise Invalid("'allowedFromDate' must be before 'allowedUntilDate'")

    if not creating:
        out = {key: value for key, value in out.items() if existing.get(key) != value}
    return out


def new_auth_record(
    auth_id: str, smartlock_id: int, fields: dict[str, Any], now: float
) -> dict[str, Any]:
    """A full stored authorization from validated create fields (authId set when applied)."""
    record: dict[str, Any] = {
        "id": auth_id,
        "smartlockId": smartlock_id,
        "authId": None,
        "type": fields["type"],
        "name": fields["name"],
        "enabled": fields.get("enabled", True),
        "remoteAllowed": fields.get("remoteAllowed", False),
        "lockCount": 0,
        "allowedWeekDays": fields.get("allowedWeekDays", 127),
        "allowedFromTime": fields.get("allowedFromTime", 0),
        "allowedUntilTime": fields.get("allowedUntilTime", 0),
        "creationDate": iso(now),
        "updateDate": iso(now),
    }
    for name in AUTH_OPTIONAL_FIELDS:
        record[name] = fields.get(name)
    return record


def auth_allows(record: dict[str, Any], when: float, tz: str = "UTC") -> bool:
    """Whether an authorization lets its holder in at `when`. The dates are instants (UTC);
    the weekday bitmask (Monday=64 ... Sunday=1, 0 or 127 every day) and the from/until times
    (minutes after midnight, 0/0 the whole day) are read on the lock's own clock, in its
    timezone `tz` (IANA name; our choice of how the stand-in names a lock's timezone)."""
    if not record.get("enabled", True):
        return False
    start, end = record.get("allowedFromDate"), record.get("allowedUntilDate")
    if start and when < parse_iso(start, "allowedFromDate"):
        return False
    if end and when > parse_iso(end, "allowedUntilDate"):
        return False
    moment = dt.datetime.fromtimestamp(when, tz=ZoneInfo(tz))
    days = record.get("allowedWeekDays") or 127
    if not days & (64 >> moment.weekday()):
        return False
    start_min, end_min = record.get("allowedFromTime") or 0, record.get("allowedUntilTime") or 0
    if start_min or end_min:
        minute = moment.hour * 60 + moment.minute
        if not start_min <= minute <= (end_min or MINUTES_PER_DAY - 1):
            return False
    return True


# Account users -------------------------------------------------------------------------------

ACCOUNT_USER_LANGUAGES = frozenset({"en", "de", "es", "fr", "it", "nl", "cs", "sk"})
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def validate_account_user(body: Any, *, creating: bool) -> dict[str, Any]:
    """AccountUserCreate / AccountUserUpdate: email and name required when creating (400
    "Invalid E-Mail address or name supplied" otherwise), language one of Nuki's codes,
    type 0 user / 1 company."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    out: dict[str, Any] = {}
    if "email" in body or creating:
        email = body.get("email")
        if not isinstance(email, str) or not _EMAIL.fullmatch(email.strip()):
            raise Invalid("Invalid E-Mail address or name supplied")
        out["email"] = email.strip()
    if "name" in body or creating:
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise Invalid("Invalid E-Mail address or name supplied")
        out["name"] = name.strip()
    if body.get("language") is not None:
        if body["language"] not in ACCOUNT_USER_LANGUAGES:
            raise Invalid("'language' must be one of " + ", ".join(sorted(ACCOUNT_USER_LANGUAGES)))
        out["language"] = body["language"]
    if body.get("type") is not None:
        out["type"] = _int(body["type"], "type", 0, 1)
    return out


# Logs ----------------------------------------------------------------------------------------


def log_entry(
    *,
    log_id: str,
    lock: SimSmartlock,
    action: int,
    trigger: int,
    when: float,
    name: str,
    auth: dict[str, Any] | None = None,
    state: int = LOG_SUCCESS,
    source: int = SOURCE_DEFAULT,
    account_user_id: int | None = None,
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": log_id,
        "smartlockId": lock.smartlock_id,
        "deviceType": 2 if lock.type == TYPE_OPENER else 0,
        "name": name,
        "action": action,
        "trigger": trigger,
        "state": state,
        "autoUnlock": False,
        "date": iso(when),
        "source": source,
    }
    if auth is not None:
        entry["authId"] = auth["id"]
        if auth.get("accountUserId"):
            entry["accountUserId"] = auth["accountUserId"]
    if account_user_id is not None:
        entry["accountUserId"] = account_user_id
    return entry


def filter_logs(entries: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    """GET .../log filters on entries stored oldest first; answers newest first."""
    try:
        limit = int(params.get("limit", DEFAULT_LOG_LIMIT))
    except ValueError:
        raise Invalid("'limit' must be an integer") from None
    if not 1 <= limit <= MAX_LOG_LIMIT:
        raise Invalid(f"'limit' must be between 1 and {MAX_LOG_LIMIT}")
    start = parse_iso(params["fromDate"], "fromDate") if params.get("fromDate") else None
    end = parse_iso(params["toDate"], "toDate") if params.get("toDate") else None
    action = None
    if params.get("action"):
        try:
            action = int(params["action"])
        except ValueError:
            raise Invalid("'action' must be an integer") from None
    account_user = None
    if params.get("accountUserId"):
        try:
            account_user = int(params["accountUserId"])
        except ValueError:
            raise Invalid("'accountUserId' must be an integer") from None
    auth_id, older_than = params.get("authId"), params.get("id")

    out = []
    for entry in reversed(entries):
        if older_than and entry["id"] >= older_than:
            continue
        when = parse_iso(entry["date"], "date")
        if start is not None and when < start:
            continue
        if end is not None and when > end:
            continue
        if action is not None and entry["action"] != action:
            continue
        if auth_id and entry.get("authId") != auth_id:
            continue
        if account_user is not None and entry.get("accountUserId") != account_user:
            continue
        out.append(entry)
        if len(out) >= limit:
            break
    return out
