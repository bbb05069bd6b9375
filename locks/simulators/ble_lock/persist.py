"""A simulated lock's memory as JSON: what a real lock keeps in flash across power cuts.

`snapshot()` turns a `SimulatedLock` into plain JSON; `restore()` builds a lock from it that
our client cannot tell from the one before: same key pair and UUID (so stored pairings stay
valid), authorizations with their shared keys, keypad codes, log, time control, config, PIN,
lock state and counters, and the lock clock (kept running across the gap).

What a real lock loses on reboot is not kept: challenges, pairing mode, a running action.
Dates travel in their wire form (hex) so every field round-trips exactly, unset dates
included. The snapshot holds secrets (the lock's private key, shared keys): store it 0600.
"""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import LockState
from locks.nuki.ble.crypto import KeyPair
from locks.nuki.ble.values import NukiDateTime, NukiTime, SecurityPin, from_lock_datetime

from .firmware import GENERATIONS
from .lock import SimulatedLock
from .model import (
    AdvancedConfiguration,
    Authorization,
    Counters,
    KeypadCodeEntry,
    LockConfiguration,
    TimeControlRecord,
    TimeWindow,
)

VERSION = 1
LOG_KEPT = 1000
"""Log entries kept in a snapshot (the newest); a real lock's log is finite too."""


def _date(value: NukiDateTime) -> str:
    return value.encode().hex()


def _undate(raw: str) -> NukiDateTime:
    return NukiDateTime.decode(bytes.fromhex(raw))


def _time(value: NukiTime) -> str:
    return value.encode().hex()


def _untime(raw: str) -> NukiTime:
    return NukiTime.decode(bytes.fromhex(raw))


def _window(window: TimeWindow) -> dict[str, Any]:
    return {
        "time_limited": window.time_limited,
        "from_date": _date(window.allowed_from_date),
        "until_date": _date(window.allowed_until_date),
        "weekdays": window.allowed_weekdays,
        "from_time": _time(window.allowed_from_time),
        "until_time": _time(window.allowed_until_time),
    }


def _unwindow(data: dict[str, Any]) -> TimeWindow:
    return TimeWindow(
        time_limited=bool(data["time_limited"]),
        allowed_from_date=_undate(data["from_date"]),
        allowed_until_date=_undate(data["until_date"]),
        allowed_weekdays=int(data["weekdays"]),
        allowed_from_time=_untime(data["from_time"]),
        allowed_until_time=_untime(data["until_time"]),
    )


def _instant(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _uninstant(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def snapshot(lock: SimulatedLock) -> dict[str, Any]:
    """Everything the lock keeps, as JSON-ready data."""
    return {
        "version": VERSION,
        "secret_key": lock.keys.secret_key.hex(),
        "uuid": lock.uuid.hex(),
        "nuki_id": lock.nuki_id,
        "firmware": next((k for k, v in GENERATIONS.items() if v == lock.firmware), None),
        "has_keypad": lock.has_keypad,
        "pin": {"value": lock.pin, "width": lock.security_pin.width},
        "config": dataclasses.asdict(lock.config),
        "advanced_config": dataclasses.asdict(lock.advanced_config),
        "config_update_count": lock.config_update_count,
        "authorizations": [
            {
                "id": a.authorization_id,
                "id_type": a.id_type,
                "app_id": a.app_id,
                "name": a.name,
                "shared_key": a.shared_key.hex(),
                "date_created": _date(a.date_created),
                "enabled": a.enabled,
                "remote_allowed": a.remote_allowed,
                "window": _window(a.window),
                "date_last_active": _date(a.date_last_active),
                "lock_count": a.lock_count,
            }
            for a in lock.authorizations.values()
        ],
        "codes": [
            {
                "code_id": e.code_id,
                "code": e.code,
                "name": e.name,
                "date_created": _date(e.date_created),
                "enabled": e.enabled,
                "window": _window(e.window),
                "date_last_active": _date(e.date_last_active),
                "lock_count": e.lock_count,
            }
            for e in lock.codes.values()
        ],
        "time_controls": [
            {
                "entry_id": t.entry_id,
                "weekdays": t.weekdays,
                "time": _time(t.time),
                "lock_action": t.lock_action,
                "enabled": t.enabled,
            }
            for t in lock.time_controls.values()
        ],
        "log": [entry.encode().hex() for entry in lock.log[-LOG_KEPT:]],
        "logging_enabled": lock.logging_enabled,
        "battery_critical": lock.battery_critical,
        "state": int(lock.state),
        "trigger": lock.trigger,
        "last_action": lock.last_action,
        "last_action_trigger": lock.last_action_trigger,
        "last_action_status": lock.last_action_status,
        "most_recent_command": lock.most_recent_command,
        "counters": dataclasses.asdict(lock.counters),
        "next_auth_id": lock.next_auth_id,
        "next_code_id": lock.next_code_id,
        "next_log_index": lock.next_log_index,
        "wrong_pins": lock.wrong_pins,
        "pin_locked_until": _instant(lock.pin_locked_until),
        "clock": {
            "lock_time": lock.now().isoformat(),
            "saved_at": _instant(lock.clock.instant()),
            "true_time": _instant(datetime.now(UTC)),
        },
        "time_updates": [
            {"at": _instant(at), "off_by_seconds": off_by} for at, off_by in lock.time_updates
        ],
    }


def restore(data: dict[str, Any], **options: Any) -> SimulatedLock:
    """A lock as `snapshot()` left it. `options` are SimulatedLock's keyword arguments for
    behaviour that is not memory (clock source, capacity, action_seconds...).

    The lock clock resumes from its saved reading plus the time the source says has passed
    since (a lock keeps counting while nobody talks to it)."""
    if data.get("version") != VERSION:
        raise ValueError(f"unknown simulated lock snapshot version {data.get('version')!r}")
    pin = data["pin"]
    if data.get("firmware") in GENERATIONS:  # older snapshots: the default generation
        options.setdefault("firmware", GENERATIONS[data["firmware"]])
    options.setdefault("has_keypad", bool(data.get("has_keypad", True)))
    lock = SimulatedLock(
        name=data["config"]["name"],
        pin=int(pin["value"]),
        pin_width=int(pin["width"]),
        nuki_id=int(data["nuki_id"]),
        **options,
    )
    lock.keys = KeyPair.from_secret_key(bytes.fromhex(data["secret_key"]))
    lock.uuid = bytes.fromhex(data["uuid"])
    lock.config = LockConfiguration(**data["config"])
    lock.advanced_config = AdvancedConfiguration(**data["advanced_config"])
    lock.config_update_count = int(data["config_update_count"])
    lock.security_pin = SecurityPin(int(pin["value"]), int(pin["width"]))
    lock.authorizations = {
        int(a["id"]): Authorization(
            authorization_id=int(a["id"]),
            id_type=int(a["id_type"]),
            app_id=int(a["app_id"]),
            name=a["name"],
            shared_key=bytes.fromhex(a["shared_key"]),
            date_created=_undate(a["date_created"]),
            enabled=bool(a["enabled"]),
            remote_allowed=bool(a["remote_allowed"]),
            window=_unwindow(a["window"]),
            date_last_active=_undate(a["date_last_active"]),
            lock_count=int(a["lock_count"]),
        )
        for a in data["authorizations"]
    }
    lock.codes = {
        int(e["code_id"]): KeypadCodeEntry(
            code_id=int(e["code_id"]),
            code=int(e["code"]),
            name=e["name"],
            date_created=_undate(e["date_created"]),
            enabled=bool(e["enabled"]),
            window=_unwindow(e["window"]),
            date_last_active=_undate(e["date_last_active"]),
            lock_count=int(e["lock_count"]),
        )
        for e in data["codes"]
    }
    lock.time_controls = {
        int(t["entry_id"]): TimeControlRecord(
            entry_id=int(t["entry_id"]),
            weekdays=int(t["weekdays"]),
            time=_untime(t["time"]),
            lock_action=int(t["lock_action"]),
            enabled=bool(t["enabled"]),
        )
        for t in data["time_controls"]
    }
    lock.log = [c.LogEntry.decode(bytes.fromhex(raw)) for raw in data["log"]]
    lock.logging_enabled = bool(data["logging_enabled"])
    lock.battery_critical = bool(data["battery_critical"])
    state = data["state"]
    with contextlib.suppress(ValueError):
        state = LockState(state)
    lock.set_state(state, int(data["trigger"]))
    lock.last_action = int(data["last_action"])
    lock.last_action_trigger = int(data["last_action_trigger"])
    lock.last_action_status = int(data["last_action_status"])
    lock.most_recent_command = int(data["most_recent_command"])
    lock.counters = Counters(**data["counters"])
    lock.next_auth_id = int(data["next_auth_id"])
    lock.next_code_id = int(data["next_code_id"])
    lock.next_log_index = int(data["next_log_index"])
    lock.wrong_pins = int(data["wrong_pins"])
    lock.pin_locked_until = _uninstant(data["pin_locked_until"])
    lock.time_updates = [
        (_uninstant(u["at"]), float(u["off_by_seconds"]))  # type: ignore[misc]
        for u in data.get("time_updates", [])
    ]
    clock = data["clock"]
    saved_at = _uninstant(clock["saved_at"])
    elapsed = (lock.clock.instant() - saved_at) if saved_at else timedelta(0)
    lock.clock.set(datetime.fromisoformat(clock["lock_time"]) + max(elapsed, timedelta(0)))
    return lock


def lock_time_error(data: dict[str, Any]) -> float:
    """Seconds the lock clock in a snapshot was ahead of the host's true time when it was
    saved (negative: behind), for tests and tools reading the file."""
    clock = data["clock"]
    lock_time = datetime.fromisoformat(clock["lock_time"]).replace(tzinfo=UTC)
    return (lock_time - datetime.fromisoformat(clock["true_time"])).total_seconds()


def codes_in(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The keypad codes in a snapshot, readable: code id, digits, name, enabled and the
    window as aware UTC datetimes (None when open), for tests and tools reading the file."""

    def instant(raw: str, limited: bool) -> datetime | None:
        value = _undate(raw)
        return None if not limited or value.is_unset else from_lock_datetime(value)

    return [
        {
            "code_id": int(e["code_id"]),
            "code": f"{int(e['code']):06d}",
            "name": e["name"],
            "enabled": bool(e["enabled"]),
            "valid_from": instant(e["window"]["from_date"], e["window"]["time_limited"]),
            "valid_until": instant(e["window"]["until_date"], e["window"]["time_limited"]),
        }
        for e in data["codes"]
    ]
