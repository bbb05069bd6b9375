"""What the simulated lock stores: authorizations, keypad codes, time control entries, config.

Plain mutable dataclasses (the lock changes them in place); each knows how to turn itself into
the wire command the lock sends when asked for a listing, using the protocol library's typed
commands so the simulator and the client share one definition of every layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import (
    TIMEZONE_ID_NONE,
    AdvertisingMode,
    BatteryType,
    ButtonPressAction,
    DstMode,
    FobAction,
    LockAction,
    LockState,
)
from locks.nuki.ble.values import ALL_WEEKDAY_BITS, NukiDateTime, NukiTime, weekdays_allow

# -- time windows ---------------------------------------------------------------------------


def _date_problem(value: NukiDateTime, what: str) -> str | None:
    if value.is_unset:
        return None
    try:
        value.to_datetime(None)
    except ValueError:
        return f"{what} {value.isoformat()} is not a real date"
    return None


def _time_problem(value: NukiTime, what: str) -> str | None:
    if value.hour > 23 or value.minute > 59:
        return f"{what} {value.isoformat()} is not a time of day"
    return None


@dataclass
class TimeWindow:
    """The allowed-* fields shared by authorizations and keypad codes.

    Rules of the simulator (the spec is silent on the details): an unset (all-zero) date leaves
    that side open; the until date is inclusive; equal from/until times of day (00:00/00:00
    included) mean the whole day; a from time after the until time spans midnight; the until
    time of day is exclusive (08:00-18:00 admits 17:59, not 18:00); weekday mask 0 = every day.
    """

    time_limited: bool = False
    allowed_from_date: NukiDateTime = field(default_factory=NukiDateTime.unset)
    allowed_until_date: NukiDateTime = field(default_factory=NukiDateTime.unset)
    allowed_weekdays: int = 0
    allowed_from_time: NukiTime = field(default_factory=lambda: NukiTime(0, 0))
    allowed_until_time: NukiTime = field(default_factory=lambda: NukiTime(0, 0))

    @classmethod
    def from_command(cls, command: Any) -> TimeWindow:
        """From any command carrying the six allowed-* fields and time_limited."""
        return cls(
            time_limited=bool(command.time_limited),
            allowed_from_date=command.allowed_from_date,
            allowed_until_date=command.allowed_until_date,
            allowed_weekdays=command.allowed_weekdays,
            allowed_from_time=command.allowed_from_time,
            allowed_until_time=command.allowed_until_time,
        )

    def problem(self) -> str | None:
        """Why the lock would answer K_ERROR_BAD_PARAMETER, or None."""
        for issue in (
            _date_problem(self.allowed_from_date, "allowed from date"),
            _date_problem(self.allowed_until_date, "allowed until date"),
            _time_problem(self.allowed_from_time, "allowed from time"),
            _time_problem(self.allowed_until_time, "allowed until time"),
        ):
            if issue:
                return issue
        if self.allowed_weekdays & ~ALL_WEEKDAY_BITS:
            return "weekday mask uses bit 7"
        both = not self.allowed_from_date.is_unset and not self.allowed_until_date.is_unset
        if (
            self.time_limited
            and both
            and self.allowed_from_date.to_datetime(None) > self.allowed_until_date.to_datetime(None)
        ):
            return "allowed from date is after allowed until date"
        return None

    def allows(self, now: datetime) -> bool:
        """Whether the lock's wall-clock time `now` (naive) falls inside the window."""
        if not self.time_limited:
            return True
        if not self.allowed_from_date.is_unset and now < self.allowed_from_date.to_datetime(None):
            return False
        if not self.allowed_until_date.is_unset and now > self.allowed_until_date.to_datetime(None):
            return False
        if not weekdays_allow(self.allowed_weekdays, now.date()):
            return False
        start, end = self.allowed_from_time.minutes, self.allowed_until_time.minutes
        if start == end:
            return True
        minute = now.hour * 60 + now.minute
        if start < end:
            return start <= minute < end
        return minute >= start or minute < end

    def wire_fields(self) -> dict[str, Any]:
        return {
            "time_limited": int(self.time_limited),
            "allowed_from_date": self.allowed_from_date,
            "allowed_until_date": self.allowed_until_date,
            "allowed_weekdays": self.allowed_weekdays,
            "allowed_from_time": self.allowed_from_time,
            "allowed_until_time": self.allowed_until_time,
        }


# -- authorizations and codes -----------------------------------------------------------------


@dataclass
class Authorization:
    """A paired app, bridge or fob (or an invited one) with its shared key."""

    authorization_id: int
    id_type: int
    app_id: int
    name: str
    shared_key: bytes = field(repr=False)
    date_created: NukiDateTime
    enabled: bool = True
    remote_allowed: bool = False
    window: TimeWindow = field(default_factory=TimeWindow)
    date_last_active: NukiDateTime = field(default_factory=NukiDateTime.unset)
    lock_count: int = 0

    def to_entry(self, *, always_time_fields: bool) -> c.AuthorizationEntry:
        """Authorization Entry (0x000A): the allowed-* fields only when time limited (spec
        v1.10), or always (`always_time_fields`: firmware with keypad support, 75 bytes)."""
        if always_time_fields or self.window.time_limited:
            window = self.window.wire_fields()
        else:
            window = {"time_limited": 0}
        return c.AuthorizationEntry(
            authorization_id=self.authorization_id,
            id_type=self.id_type,
            name=self.name,
            enabled=int(self.enabled),
            remote_allowed=int(self.remote_allowed),
            date_created=self.date_created,
            date_last_active=self.date_last_active,
            lock_count=self.lock_count & 0xFFFF,
            **window,
        )


@dataclass
class KeypadCodeEntry:
    """A stored keypad code. The code itself stays out of `repr` (codes never go to logs)."""

    code_id: int
    code: int = field(repr=False)
    name: str
    date_created: NukiDateTime
    enabled: bool = True
    window: TimeWindow = field(default_factory=TimeWindow)
    date_last_active: NukiDateTime = field(default_factory=NukiDateTime.unset)
    lock_count: int = 0

    def to_command(self, *, always_time_fields: bool) -> c.KeypadCode:
        """Keypad Code (0x0045). Some firmware always sends the allowed-* fields, some only
        for time-limited codes (FACTS.md); `always_time_fields` picks which one to imitate."""
        if always_time_fields or self.window.time_limited:
            window = self.window.wire_fields()
        else:
            window = {"time_limited": 0}
        return c.KeypadCode(
            code_id=self.code_id,
            code=self.code,
            name=self.name,
            enabled=int(self.enabled),
            date_created=self.date_created,
            date_last_active=self.date_last_active,
            lock_count=self.lock_count & 0xFFFF,
            **window,
        )


@dataclass
class TimeControlRecord:
    entry_id: int
    weekdays: int
    time: NukiTime
    lock_action: int
    enabled: bool = True

    def to_command(self) -> c.TimeControlEntry:
        return c.TimeControlEntry(
            entry_id=self.entry_id,
            enabled=int(self.enabled),
            weekdays=self.weekdays,
            time=self.time,
            lock_action=self.lock_action,
        )


# -- configuration ----------------------------------------------------------------------------


def _flag(value: int) -> bool:
    return value in (0, 1)


@dataclass
class LockConfiguration:
    """The fields of Config (0x0015) that Set Config (0x0013) can change, plus has_fob, and
    the settings later firmware reports (single lock, advertising mode, time zone id)."""

    name: str
    latitude: float = 0.0
    longitude: float = 0.0
    auto_unlatch: int = 0
    pairing_enabled: int = 1
    button_enabled: int = 1
    led_enabled: int = 1
    led_brightness: int = 3
    timezone_offset: int = 0
    dst_mode: int = DstMode.EUROPEAN
    has_fob: int = 0
    fob_action_1: int = FobAction.UNLOCK
    fob_action_2: int = FobAction.LOCK
    fob_action_3: int = FobAction.NO_ACTION
    single_lock: int = 0
    advertising_mode: int = AdvertisingMode.AUTOMATIC
    timezone_id: int = TIMEZONE_ID_NONE

    @staticmethod
    def problem_of(command: c.SetConfig) -> str | None:
        if not (math.isfinite(command.latitude) and -90.0 <= command.latitude <= 90.0):
            return "latitude out of range"
        if not (math.isfinite(command.longitude) and -180.0 <= command.longitude <= 180.0):
            return "longitude out of range"
        flags = (
            command.auto_unlatch,
            command.pairing_enabled,
            command.button_enabled,
            command.led_flash_enabled,
        )
        if not all(_flag(v) for v in flags):
            return "a flag is neither 0 nor 1"
        if not 0 <= command.led_brightness <= 5:
            return "LED brightness outside 0..5"
        if command.dst_mode not in tuple(DstMode):
            return "unknown DST mode"
        if not -720 <= command.timezone_offset <= 840:
            return "timezone offset outside -12 h..+14 h"
        fobs = (command.fob_action_1, command.fob_action_2, command.fob_action_3)
        if any(v not in tuple(FobAction) for v in fobs):
            return "unknown fob action"
        return None

    def apply(self, command: c.SetConfig) -> None:
        self.name = command.name
        self.latitude = command.latitude
        self.longitude = command.longitude
        self.auto_unlatch = command.auto_unlatch
        self.pairing_enabled = command.pairing_enabled
        self.button_enabled = command.button_enabled
        self.led_enabled = command.led_flash_enabled
        self.led_brightness = command.led_brightness
        self.timezone_offset = command.timezone_offset
        self.dst_mode = command.dst_mode
        self.fob_action_1 = command.fob_action_1
        self.fob_action_2 = command.fob_action_2
        self.fob_action_3 = command.fob_action_3


@dataclass
class AdvancedConfiguration:
    """The fields of Advanced Config (0x0037); the auto lock and night mode ones are sent by
    firmware with keypad support only (night mode times as minutes after midnight)."""

    total_degrees: int = 720
    unlocked_position_offset_degrees: int = 0
    locked_position_offset_degrees: int = 0
    single_locked_position_offset_degrees: int = 0
    unlocked_to_locked_transition_offset_degrees: int = 0
    lock_n_go_timeout: int = 20
    single_button_press_action: int = ButtonPressAction.INTELLIGENT
    double_button_press_action: int = ButtonPressAction.LOCK_N_GO
    detached_cylinder: int = 0
    battery_type: int = BatteryType.ALKALI
    automatic_battery_type_detection: int = 1
    unlatch_duration: int = 3
    auto_lock_timeout: int = 300
    auto_unlock_disabled: int = 0
    night_mode_enabled: int = 0
    night_mode_start_minutes: int = 22 * 60
    night_mode_end_minutes: int = 6 * 60
    night_mode_auto_lock_enabled: int = 0
    night_mode_auto_unlock_disabled: int = 0
    night_mode_immediate_lock_on_start: int = 0
    auto_lock_enabled: int = 0
    immediate_auto_lock_enabled: int = 0
    auto_update_enabled: int = 1

    _SETTABLE = (
        "unlocked_position_offset_degrees",
        "locked_position_offset_degrees",
        "single_locked_position_offset_degrees",
        "unlocked_to_locked_transition_offset_degrees",
        "lock_n_go_timeout",
        "single_button_press_action",
        "double_button_press_action",
        "detached_cylinder",
        "battery_type",
        "automatic_battery_type_detection",
        "unlatch_duration",
    )

    @staticmethod
    def problem_of(command: c.SetAdvancedConfig) -> str | None:
        actions = (command.single_button_press_action, command.double_button_press_action)
        if any(v not in tuple(ButtonPressAction) for v in actions):
            return "unknown button press action"
        if command.battery_type not in tuple(BatteryType):
            return "unknown battery type"
        if not (
            _flag(command.detached_cylinder) and _flag(command.automatic_battery_type_detection)
        ):
            return "a flag is neither 0 nor 1"
        return None

    def apply(self, command: c.SetAdvancedConfig) -> None:
        for name in self._SETTABLE:
            setattr(self, name, getattr(command, name))

    def to_command(self, *, later_fields: bool) -> c.AdvancedConfig:
        """The answer; `later_fields` for firmware with keypad support (31 bytes, else 17)."""
        later: dict[str, Any] = {}
        if later_fields:
            later = {
                "auto_lock_timeout": self.auto_lock_timeout,
                "auto_unlock_disabled": self.auto_unlock_disabled,
                "night_mode_enabled": self.night_mode_enabled,
                "night_mode_start_time": NukiTime(*divmod(self.night_mode_start_minutes, 60)),
                "night_mode_end_time": NukiTime(*divmod(self.night_mode_end_minutes, 60)),
                "night_mode_auto_lock_enabled": self.night_mode_auto_lock_enabled,
                "night_mode_auto_unlock_disabled": self.night_mode_auto_unlock_disabled,
                "night_mode_immediate_lock_on_start": self.night_mode_immediate_lock_on_start,
                "auto_lock_enabled": self.auto_lock_enabled,
                "immediate_auto_lock_enabled": self.immediate_auto_lock_enabled,
                "auto_update_enabled": self.auto_update_enabled,
            }
        return c.AdvancedConfig(
            total_degrees=self.total_degrees,
            **{name: getattr(self, name) for name in self._SETTABLE},
            **later,
        )


# -- motion ------------------------------------------------------------------------------------

MOTIONS: dict[int, tuple[LockState, ...]] = {
    LockAction.UNLOCK: (LockState.UNLOCKING, LockState.UNLOCKED),
    LockAction.LOCK: (LockState.LOCKING, LockState.LOCKED),
    LockAction.UNLATCH: (LockState.UNLATCHING, LockState.UNLATCHED, LockState.UNLOCKED),
    LockAction.LOCK_N_GO: (
        LockState.UNLOCKING,
        LockState.UNLOCKED_LOCK_N_GO,
        LockState.LOCKING,
        LockState.LOCKED,
    ),
    LockAction.LOCK_N_GO_WITH_UNLATCH: (
        LockState.UNLATCHING,
        LockState.UNLATCHED,
        LockState.UNLOCKED_LOCK_N_GO,
        LockState.LOCKING,
        LockState.LOCKED,
    ),
}
"""The states a lock action passes through; the first is entered at once, each later one after
`action_seconds`."""

CALIBRATION: tuple[LockState, ...] = (
    LockState.UNLOCKING,
    LockState.UNLOCKED,
    LockState.LOCKING,
    LockState.LOCKED,
)

OPENING_ACTIONS = frozenset(
    {LockAction.UNLOCK, LockAction.UNLATCH, LockAction.LOCK_N_GO, LockAction.LOCK_N_GO_WITH_UNLATCH}
)
"""Actions that open the door at some point (counted as openings; refused over a bridge while
the position is unknown)."""


@dataclass
class Counters:
    """Openings and closings, as the lock counts them for Openings Closings Summary."""

    openings_total: int = 0
    closings_total: int = 0
    openings_since_boot: int = 0
    closings_since_boot: int = 0
