"""Handlers for time control entries (stored and listed; the simulator does not run them)."""

from __future__ import annotations

from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.errors import NukiErrorCode

from ..core import LockCore
from ..errors import Refused
from ..model import MOTIONS, Authorization, TimeControlRecord
from ..session import Session
from .common import Handler, complete, is_flag


def check_entry(weekdays: int, time: Any, lock_action: int) -> None:
    if weekdays > 0x7F or time.hour > 23 or time.minute > 59 or lock_action not in MOTIONS:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)


async def add_time_control_entry(
    lock: LockCore, session: Session, auth: Authorization, command: c.AddTimeControlEntry
) -> list[c.Command]:
    check_entry(command.weekdays, command.time, command.lock_action)
    free = [i for i in range(1, 256) if i not in lock.time_controls]
    if len(lock.time_controls) >= lock.max_time_control_entries or not free:
        raise Refused(NukiErrorCode.K_ERROR_TOO_MANY_ENTRIES)
    entry_id = free[0]
    lock.time_controls[entry_id] = TimeControlRecord(
        entry_id, command.weekdays, command.time, command.lock_action
    )
    return [c.TimeControlEntryId(entry_id=entry_id), complete()]


async def request_time_control_entries(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestTimeControlEntries
) -> list[c.Command]:
    entries = [lock.time_controls[k].to_command() for k in sorted(lock.time_controls)]
    return [c.TimeControlEntryCount(count=len(entries)), *entries, complete()]


async def update_time_control_entry(
    lock: LockCore, session: Session, auth: Authorization, command: c.UpdateTimeControlEntry
) -> list[c.Command]:
    entry = lock.time_controls.get(command.entry_id)
    if entry is None or not is_flag(command.enabled):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
    check_entry(command.weekdays, command.time, command.lock_action)
    entry.enabled = bool(command.enabled)
    entry.weekdays, entry.time, entry.lock_action = (
        command.weekdays,
        command.time,
        command.lock_action,
    )
    return [complete()]


async def remove_time_control_entry(
    lock: LockCore, session: Session, auth: Authorization, command: c.RemoveTimeControlEntry
) -> list[c.Command]:
    if lock.time_controls.pop(command.entry_id, None) is None:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
    return [complete()]


HANDLERS: dict[type[c.Command], Handler] = {
    c.AddTimeControlEntry: add_time_control_entry,
    c.RequestTimeControlEntries: request_time_control_entries,
    c.UpdateTimeControlEntry: update_time_control_entry,
    c.RemoveTimeControlEntry: remove_time_control_entry,
}
