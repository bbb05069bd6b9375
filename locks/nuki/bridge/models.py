"""Typed answers of the Bridge HTTP API (v1.13) and its numeric codes.

Every dataclass keeps the bridge's JSON in `raw`, so fields newer firmware adds are not lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class DeviceType(IntEnum):
    SMARTLOCK = 0  # Smart Lock 1.0/2.0
    OPENER = 2
    SMARTDOOR = 3
    SMARTLOCK3 = 4  # Smart Lock 3.0 (Pro)


class LockAction(IntEnum):
    """/lockAction `action` for smart locks (the opener gives them other meanings)."""

    UNLOCK = 1
    LOCK = 2
    UNLATCH = 3
    LOCK_N_GO = 4
    LOCK_N_GO_UNLATCH = 5


class LockStateCode(IntEnum):
    """Smart lock states (section 4.3)."""

    UNCALIBRATED = 0
    LOCKED = 1
    UNLOCKING = 2
    UNLOCKED = 3
    LOCKING = 4
    UNLATCHED = 5
    UNLOCKED_LOCK_N_GO = 6
    UNLATCHING = 7
    MOTOR_BLOCKED = 254
    UNDEFINED = 255


class DoorSensorState(IntEnum):
    DEACTIVATED = 1
    DOOR_CLOSED = 2
    DOOR_OPENED = 3
    DOOR_STATE_UNKNOWN = 4
    CALIBRATING = 5


def parse_time(value: Any) -> dt.datetime | None:
    """The bridge's timestamps ("2018-10-03T06:49:00+00:00" or "...Z"), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


@dataclass(frozen=True)
class LockState:
    """`lastKnownState` in /list, the /lockState answer and the callback payload.

    Fields the device does not report (door sensor without a sensor, ring action on a lock)
    are None.
    """

    mode: int | None
    state: int | None
    state_name: str
    battery_critical: bool | None = None
    battery_charging: bool | None = None
    battery_charge_state: int | None = None
    keypad_battery_critical: bool | None = None
    doorsensor_state: int | None = None
    doorsensor_state_name: str | None = None
    ringaction_timestamp: dt.datetime | None = None
    ringaction_state: bool | None = None
    timestamp: dt.datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LockState:
        return cls(
            mode=_opt_int(data.get("mode")),
            state=_opt_int(data.get("state")),
            state_name=str(data.get("stateName", "")),
            battery_critical=_opt_bool(data.get("batteryCritical")),
            battery_charging=_opt_bool(data.get("batteryCharging")),
            battery_charge_state=_opt_int(data.get("batteryChargeState")),
            keypad_battery_critical=_opt_bool(data.get("keypadBatteryCritical")),
            doorsensor_state=_opt_int(data.get("doorsensorState")),
            doorsensor_state_name=data.get("doorsensorStateName"),
            ringaction_timestamp=parse_time(data.get("ringactionTimestamp")),
            ringaction_state=_opt_bool(data.get("ringactionState")),
            timestamp=parse_time(data.get("timestamp")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Device:
    """One entry of /list."""

    nuki_id: int
    device_type: int
    name: str
    last_known_state: LockState | None
    firmware_version: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Device:
        state = data.get("lastKnownState")
        return cls(
            # v1.13's field list spells it "nukiid", its example and every bridge "nukiId".
            nuki_id=int(data.get("nukiId", data.get("nukiid", 0))),
            device_type=int(data.get("deviceType", DeviceType.SMARTLOCK)),
            name=str(data.get("name", "")),
            last_known_state=LockState.from_json(state) if isinstance(state, dict) else None,
            firmware_version=data.get("firmwareVersion"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ActionResult:
    """/lockAction, /lock, /unlock. `success` is always True: failures raise BridgeError."""

    success: bool
    battery_critical: bool | None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActionResult:
        return cls(
            success=bool(data.get("success")),
            battery_critical=_opt_bool(data.get("batteryCritical")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ScanResult:
    nuki_id: int
    device_type: int
    name: str
    rssi: int | None
    paired: bool | None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanResult:
        return cls(
            nuki_id=int(data.get("nukiId", 0)),
            device_type=int(data.get("deviceType", DeviceType.SMARTLOCK)),
            name=str(data.get("name", "")),
            rssi=_opt_int(data.get("rssi")),
            paired=_opt_bool(data.get("paired")),
        )


@dataclass(frozen=True)
class BridgeInfo:
    """/info. bridge_type 1 = hardware bridge, 2 = software bridge."""

    bridge_type: int | None
    hardware_id: int | None
    server_id: int | None
    firmware_version: str | None
    wifi_firmware_version: str | None
    app_version: str | None
    uptime: int | None
    current_time: dt.datetime | None
    wlan_connected: bool | None
    server_connected: bool | None
    scan_results: list[ScanResult]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BridgeInfo:
        ids = data.get("ids") if isinstance(data.get("ids"), dict) else {}
        versions = data.get("versions") if isinstance(data.get("versions"), dict) else {}
        scans = data.get("scanResults") if isinstance(data.get("scanResults"), list) else []
        return cls(
            bridge_type=_opt_int(data.get("bridgeType")),
            hardware_id=_opt_int(ids.get("hardwareId")),
            server_id=_opt_int(ids.get("serverId")),
            firmware_version=versions.get("firmwareVersion"),
            wifi_firmware_version=versions.get("wifiFirmwareVersion"),
            app_version=versions.get("appVersion"),
            uptime=_opt_int(data.get("uptime")),
            current_time=parse_time(data.get("currentTime")),
            wlan_connected=_opt_bool(data.get("wlanConnected")),
            server_connected=_opt_bool(data.get("serverConnected")),
            scan_results=[ScanResult.from_json(s) for s in scans if isinstance(s, dict)],
            raw=dict(data),
        )


@dataclass(frozen=True)
class LogEntry:
    """One /log entry. Only `timestamp` and `type` are documented; the rest is in `fields`."""

    timestamp: dt.datetime | None
    type: str
    fields: dict[str, Any]
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogEntry:
        return cls(
            timestamp=parse_time(data.get("timestamp")),
            type=str(data.get("type", "")),
            fields={k: v for k, v in data.items() if k not in ("timestamp", "type")},
            raw=dict(data),
        )


@dataclass(frozen=True)
class Callback:
    """One registered callback URL (/callback/list)."""

    id: int
    url: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Callback:
        return cls(id=int(data["id"]), url=str(data["url"]))


@dataclass(frozen=True)
class CallbackEvent:
    """The JSON a bridge POSTs to a callback URL on every state change."""

    nuki_id: int
    device_type: int
    state: LockState

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallbackEvent:
        return cls(
            nuki_id=int(data.get("nukiId", 0)),
            device_type=int(data.get("deviceType", DeviceType.SMARTLOCK)),
            state=LockState.from_json(data),
        )
