"""What the simulated lock is and keeps: its settings, memory and bookkeeping, without the wire.

`LockCore` holds everything the command handlers (handlers/) read and change: authorizations,
keypad codes, time control entries, config, the log, the lock state and its counters, the
challenges, pairing mode, the open sessions and the motor. `SimulatedLock` (lock.py) adds the
connections and the dispatch of frames on top. It is also the pairing exchange's store and the
motor's host (see `PairingStore` and `MotorHost`).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import (
    CompletionStatus,
    IdType,
    LockActionFlags,
    LockState,
    LogEntryType,
    NukiState,
    Trigger,
)
from locks.nuki.ble.crypto import KeyPair, RandomSource, random_bytes
from locks.nuki.ble.gatt import SMART_LOCK, NukiProfile
from locks.nuki.ble.values import NukiDateTime, SecurityPin

from .clock import LockClock, TimeSource, system_time
from .firmware import SMART_LOCK_3, Firmware
from .model import (
    AdvancedConfiguration,
    Authorization,
    Counters,
    KeypadCodeEntry,
    LockConfiguration,
    TimeControlRecord,
    TimeWindow,
)
from .motor import Motor
from .session import Session

LOG_TYPE_KEYPAD_ACTION = 0x05
"""Log entry type of a keypad use in later spec versions. Data (5 bytes, as we understand the
later spec; *unconfirmed*): lock action u8, source u8 (1 = code), completion status u8,
code id u16."""

LOG_TYPE_KEYPAD_CODE_CHANGE = 0xF0
"""Simulator-only log entry type (real firmware is not known to log code changes): data is
change u8 (1 added, 2 updated, 3 removed) and code id u16. The client reads it as RawLogData."""

KEYPAD_SOURCE_CODE = 0x01

LOG_DATA_SIZE = 5
"""Bytes of a log entry's data on firmware with keypad support (padded with zeros)."""

DOOR_SENSOR_DEACTIVATED = 0x01
"""Nuki States' door sensor state when no door sensor is set up (0 would mean unavailable)."""


class LockCore:
    """The lock's settings and memory (see SimulatedLock for the options and their meaning)."""

    def __init__(
        self,
        *,
        name: str = "Simulated Lock",
        pin: int = 0,
        pin_width: int = 2,
        capacity: int = 100,
        max_authorizations: int = 100,
        max_time_control_entries: int = 20,
        clock: TimeSource | None = None,
        action_seconds: float = 0.0,
        pairing_timeout: float = 300.0,
        max_pin_attempts: int = 3,
        pin_lockout_seconds: float = 300.0,
        auto_unlock_cooldown: float = 30.0,
        idle_timeout: float | None = None,
        always_send_keypad_time_fields: bool = True,
        log_code_changes: bool = True,
        windows_in_local_time: bool = False,
        initial_state: LockState = LockState.LOCKED,
        nuki_id: int | None = None,
        profile: NukiProfile = SMART_LOCK,
        firmware: Firmware = SMART_LOCK_3,
        has_keypad: bool = True,
        random: RandomSource = random_bytes,
    ) -> None:
        self.random = random
        self.profile = profile
        self.firmware = firmware
        self.has_keypad = has_keypad and firmware.keypad_support
        """A keypad is paired (Config's has keypad); only firmware with keypad support."""
        self.clock = LockClock(clock or system_time)
        self.keys = KeyPair.generate(random)
        self.uuid = random(16)
        self.nuki_id = nuki_id if nuki_id is not None else int.from_bytes(random(4), "little")
        self.config = LockConfiguration(name=name)
        self.advanced_config = AdvancedConfiguration()
        self.config_update_count = 0
        self.security_pin = SecurityPin(pin, pin_width)

        self.capacity = capacity
        self.max_authorizations = max_authorizations
        self.max_time_control_entries = max_time_control_entries
        self.action_seconds = action_seconds
        self.pairing_timeout = pairing_timeout
        self.max_pin_attempts = max_pin_attempts
        self.pin_lockout_seconds = pin_lockout_seconds
        self.auto_unlock_cooldown = auto_unlock_cooldown
        self.idle_timeout = idle_timeout
        self.always_send_keypad_time_fields = always_send_keypad_time_fields
        self.log_code_changes = log_code_changes
        self.windows_in_local_time = windows_in_local_time

        self.authorizations: dict[int, Authorization] = {}
        self.codes: dict[int, KeypadCodeEntry] = {}
        self.time_controls: dict[int, TimeControlRecord] = {}
        self.log: list[c.LogEntry] = []
        self.logging_enabled = True
        self.battery_critical = False
        self.failures: list[BaseException] = []
        self.garbled_messages = 0
        self.on_change: Callable[[LockCore], None] | None = None
        """Called with the lock after anything it keeps changed and before it answers (its
        flash write): `locks.agent.simulate` persists the lock there, so a crash never loses
        what the lock already confirmed."""
        self.time_updates: list[tuple[datetime, float]] = []
        """Update Time commands received: (time source instant, seconds the lock clock was
        off, positive = ahead), the last 100."""

        self._state: int = initial_state
        self.trigger: int = Trigger.SYSTEM
        self.last_action: int = 0
        self.last_action_trigger: int = Trigger.SYSTEM
        self.last_action_status: int = CompletionStatus.SUCCESS
        self.most_recent_command = 0
        self.counters = Counters()
        self.next_auth_id = 1
        self.next_code_id = 1
        self.next_log_index = 1
        self.challenges: dict[int, bytes] = {}
        """The last challenge issued to each authorization: good for one command."""
        self.wrong_pins = 0
        self.pin_locked_until: datetime | None = None
        self.last_auto_unlock: datetime | None = None
        self._pairing_until: datetime | None = None
        self.sessions: list[Session] = []
        self.message_lock = asyncio.Lock()
        """Held while one message is handled: the lock answers one command at a time."""
        self.motor = Motor(self)

    # == state ===================================================================================

    @property
    def state(self) -> LockState:
        """The current lock state (LockState; plain int for values the enum lacks)."""
        try:
            return LockState(self._state)
        except ValueError:  # pragma: no cover - only for states set by hand
            return self._state  # type: ignore[return-value]

    @state.setter
    def state(self, value: LockState) -> None:
        """Set the lock state by hand (someone turned the key)."""
        self.set_state(value, Trigger.MANUAL)

    def set_state(self, state: int, trigger: int) -> None:
        self._state = state
        self.trigger = trigger

    @property
    def pin(self) -> int:
        return self.security_pin.value

    def now(self) -> datetime:
        """The lock's wall-clock time (naive; what Update Time set, running since)."""
        return self.clock.now()

    def stamp(self) -> NukiDateTime:
        """The lock clock now, as dates go on the wire."""
        return NukiDateTime.from_datetime(self.now())

    def window_time(self, now: datetime) -> datetime:
        """The time allowed-from/until windows are compared with (one place decides)."""
        if self.windows_in_local_time:
            return now + timedelta(minutes=self.config.timezone_offset)
        return now

    @property
    def busy(self) -> bool:
        """A lock action or calibration is running."""
        return self.motor.busy

    def nuki_states(self) -> c.NukiStates:
        """The Nuki States (0x000C) the lock would send now: 18 bytes on v1.10 firmware, 21
        (door sensor, night mode, accessory battery) with keypad support."""
        in_lock_n_go = self._state == LockState.UNLOCKED_LOCK_N_GO
        later: dict[str, int] = {}
        if self.firmware.keypad_support:
            later = {
                "door_sensor_state": DOOR_SENSOR_DEACTIVATED,
                "night_mode_active": 0,
                "accessory_battery_state": 0,
            }
        return c.NukiStates(
            nuki_state=NukiState.PAIRING_MODE if self.in_pairing_mode else NukiState.DOOR_MODE,
            lock_state=self._state,
            trigger=self.trigger,
            current_time=self.stamp(),
            timezone_offset=self.config.timezone_offset,
            critical_battery_state=int(self.battery_critical),
            config_update_count=self.config_update_count,
            lock_n_go_timer=self.advanced_config.lock_n_go_timeout if in_lock_n_go else 0,
            last_lock_action=self.last_action,
            last_lock_action_trigger=self.last_action_trigger,
            last_lock_action_completion_status=self.last_action_status,
            **later,
        )

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def config_changed(self) -> None:
        self.config_update_count = (self.config_update_count + 1) & 0xFF

    # == pairing mode and authorizations (the pairing exchange's store) =========================

    @property
    def in_pairing_mode(self) -> bool:
        if self._pairing_until is None:
            return False
        if self.clock.instant() >= self._pairing_until:
            self._pairing_until = None
            return False
        return True

    def enter_pairing_mode(self, duration: float | None = None) -> bool:
        """Hold the button: pairing mode for `duration` seconds of the time source (default
        `pairing_timeout`). False, and nothing changes, if Set Config disabled pairing."""
        if not self.config.pairing_enabled:
            return False
        seconds = self.pairing_timeout if duration is None else duration
        self._pairing_until = self.clock.instant() + timedelta(seconds=seconds)
        return True

    def leave_pairing_mode(self) -> None:
        self._pairing_until = None

    def add_authorization(
        self,
        *,
        name: str,
        shared_key: bytes,
        id_type: int = IdType.APP,
        app_id: int = 0,
        window: TimeWindow | None = None,
    ) -> Authorization:
        """Store an authorization directly (as if paired earlier); returns it with its id."""
        auth = self.store_paired_authorization(
            authorization_id=self.allocate_authorization_id(),
            id_type=id_type,
            app_id=app_id,
            name=name,
            shared_key=shared_key,
            leave_pairing_mode=False,
        )
        if window is not None:
            auth.window = window
        return auth

    def has_room_for_authorization(self, *, replacing_bridge: bool = False) -> bool:
        count = len(self.authorizations)
        if replacing_bridge:
            count -= sum(1 for a in self.authorizations.values() if a.id_type == IdType.BRIDGE)
        return count < self.max_authorizations

    def allocate_authorization_id(self) -> int:
        auth_id, self.next_auth_id = self.next_auth_id, self.next_auth_id + 1
        return auth_id

    def store_paired_authorization(
        self,
        *,
        authorization_id: int,
        id_type: int,
        app_id: int,
        name: str,
        shared_key: bytes,
        leave_pairing_mode: bool = True,
    ) -> Authorization:
        """Keep a new authorization (pairing's last step). Pairing a bridge unregisters the
        previous bridge, as on the real lock (FACTS.md)."""
        if id_type == IdType.BRIDGE:
            for old in [a for a in self.authorizations.values() if a.id_type == IdType.BRIDGE]:
                self.forget_authorization(old.authorization_id)
        auth = Authorization(
            authorization_id=authorization_id,
            id_type=id_type,
            app_id=app_id,
            name=name,
            shared_key=shared_key,
            date_created=self.stamp(),
        )
        self.authorizations[authorization_id] = auth
        if leave_pairing_mode:
            self.leave_pairing_mode()
        return auth

    def forget_authorization(self, authorization_id: int) -> None:
        self.authorizations.pop(authorization_id, None)
        self.challenges.pop(authorization_id, None)

    # == log =====================================================================================

    def append_log(self, auth_id: int, name: str, entry_type: int, data: Any) -> None:
        """Keep a log entry; firmware with keypad support pads its data to 5 bytes."""
        if not self.logging_enabled and entry_type != LogEntryType.LOGGING_ENABLED:
            return
        if self.firmware.keypad_support and hasattr(data, "padding"):
            data = dataclasses.replace(
                data, padding=bytes(max(0, LOG_DATA_SIZE - len(data.encode())))
            )
        self.log.append(
            c.LogEntry(
                index=self.next_log_index,
                timestamp=self.stamp(),
                auth_id=auth_id,
                name=name,
                type=entry_type,
                data=data,
            )
        )
        self.next_log_index += 1

    def keypad_log(self, action: int, status: int, code_id: int, name: str) -> None:
        raw = bytes((action, KEYPAD_SOURCE_CODE, status)) + code_id.to_bytes(2, "little")
        self.append_log(0, name, LOG_TYPE_KEYPAD_ACTION, c.RawLogData(raw=raw))

    def code_change_log(self, auth: Authorization, change: int, code_id: int) -> None:
        if self.log_code_changes:
            raw = bytes((change,)) + code_id.to_bytes(2, "little")
            self.append_log(
                auth.authorization_id, auth.name, LOG_TYPE_KEYPAD_CODE_CHANGE, c.RawLogData(raw=raw)
            )

    # == what a finished motion leaves (the motor's host) =======================================

    def finish_action(
        self, action: int, trigger: int, status: int, steps: tuple[LockState, ...], ok: bool
    ) -> None:
        self.last_action, self.last_action_trigger = action, trigger
        self.last_action_status = status
        if not ok or not steps:
            return
        counters = self.counters
        if any(s in (LockState.UNLOCKING, LockState.UNLATCHING) for s in steps):
            counters.openings_total += 1
            counters.openings_since_boot += 1
        if steps[-1] == LockState.LOCKED:
            counters.closings_total += 1
            counters.closings_since_boot += 1

    def log_action(
        self,
        auth: Authorization | None,
        action: int,
        trigger: int,
        flags: int,
        status: int,
        keypad_entry: KeypadCodeEntry | None,
    ) -> None:
        if keypad_entry is not None:
            self.keypad_log(action, status, keypad_entry.code_id, keypad_entry.name)
            return
        data = c.LockActionLogData(
            lock_action=action,
            trigger=trigger,
            auto_unlock_flag=int(bool(flags & LockActionFlags.AUTO_UNLOCK)),
            completion_status=status,
        )
        auth_id = auth.authorization_id if auth is not None else 0
        name = auth.name if auth is not None else ""
        self.append_log(auth_id, name, LogEntryType.LOCK_ACTION, data)
