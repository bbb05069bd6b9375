"""Handlers for the lock's log: Request Log Entries and Enable Logging."""

from __future__ import annotations

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import LogEntryType, SortOrder
from locks.nuki.ble.errors import NukiErrorCode

from ..core import LockCore
from ..errors import Refused
from ..model import Authorization
from ..session import Session
from .common import Handler, complete, is_flag


async def request_log_entries(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestLogEntries
) -> list[c.Command]:
    """Start index 0: the oldest (ascending) or newest (descending) entries; otherwise from
    that index on in the sort order. The count covers what is available that way."""
    if command.sort_order not in tuple(SortOrder) or not is_flag(command.total_count):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
    ascending = command.sort_order == SortOrder.ASCENDING
    ordered = lock.log if ascending else list(reversed(lock.log))
    if command.start_index:
        start = command.start_index
        ordered = [e for e in ordered if (e.index >= start if ascending else e.index <= start)]
    head: list[c.Command] = []
    if command.total_count:
        door_sensor: dict[str, int] = {}
        if lock.firmware.keypad_support:  # no door sensor: neither it nor its logging is on
            door_sensor = {"door_sensor_enabled": 0, "door_sensor_logging_enabled": 0}
        head.append(
            c.LogEntryCount(
                logging_enabled=int(lock.logging_enabled), count=len(ordered), **door_sensor
            )
        )
    return [*head, *ordered[: command.count], complete()]


async def enable_logging(
    lock: LockCore, session: Session, auth: Authorization, command: c.EnableLogging
) -> list[c.Command]:
    if not is_flag(command.enabled):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
    data = c.LoggingEnabledLogData(logging_enabled=command.enabled)
    if command.enabled:
        lock.logging_enabled = True
        lock.append_log(auth.authorization_id, auth.name, LogEntryType.LOGGING_ENABLED, data)
    else:
        lock.append_log(auth.authorization_id, auth.name, LogEntryType.LOGGING_ENABLED, data)
        lock.logging_enabled = False
    return [complete()]


HANDLERS: dict[type[c.Command], Handler] = {
    c.RequestLogEntries: request_log_entries,
    c.EnableLogging: enable_logging,
}
