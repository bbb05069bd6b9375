"""Handlers for keypad codes: add, list, update, remove (each change logged if asked)."""

from __future__ import annotations

from locks.nuki.ble import commands as c
from locks.nuki.ble.errors import NukiErrorCode
from locks.nuki.ble.values import keypad_code_problem

from ..core import LockCore
from ..errors import Refused
from ..model import Authorization, KeypadCodeEntry
from ..session import Session
from .common import Handler, checked_window, complete, is_flag

CODE_ADDED, CODE_UPDATED, CODE_REMOVED = 1, 2, 3
"""The change byte of a LOG_TYPE_KEYPAD_CODE_CHANGE entry."""


def check_code(lock: LockCore, code: int, *, except_id: int | None = None) -> None:
    problem = keypad_code_problem(code)
    if problem:
        raise Refused(NukiErrorCode.K_ERROR_CODE_INVALID, problem)
    if any(e.code == code and e.code_id != except_id for e in lock.codes.values()):
        raise Refused(NukiErrorCode.K_ERROR_CODE_ALREADY_EXISTS)


async def add_keypad_code(
    lock: LockCore, session: Session, auth: Authorization, command: c.AddKeypadCode
) -> list[c.Command]:
    """Checks in this order: code format (0x2B), duplicate (0x2A), capacity (0x29)."""
    check_code(lock, command.code)
    if len(lock.codes) >= lock.capacity:
        raise Refused(NukiErrorCode.K_ERROR_TOO_MANY_ENTRIES)
    window = checked_window(command)
    code_id, lock.next_code_id = lock.next_code_id, lock.next_code_id + 1
    entry = KeypadCodeEntry(
        code_id=code_id,
        code=command.code,
        name=command.name,
        date_created=lock.stamp(),
        window=window,
    )
    lock.codes[code_id] = entry
    lock.code_change_log(auth, CODE_ADDED, code_id)
    return [c.KeypadCodeId(code_id=code_id, date_created=entry.date_created), complete()]


async def request_keypad_codes(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestKeypadCodes
) -> list[c.Command]:
    """Keypad Code Count (all codes), the entries asked for, then Status COMPLETE."""
    ordered = [lock.codes[k] for k in sorted(lock.codes)]
    selected = ordered[command.offset : command.offset + command.count]
    always = lock.always_send_keypad_time_fields
    return [
        c.KeypadCodeCount(count=len(ordered)),
        *(e.to_command(always_time_fields=always) for e in selected),
        complete(),
    ]


async def update_keypad_code(
    lock: LockCore, session: Session, auth: Authorization, command: c.UpdateKeypadCode
) -> list[c.Command]:
    entry = lock.codes.get(command.code_id)
    if entry is None:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "no such code id")
    check_code(lock, command.code, except_id=command.code_id)
    if not is_flag(command.enabled):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "enabled flag")
    entry.window = checked_window(command)
    entry.code = command.code
    entry.name = command.name
    entry.enabled = bool(command.enabled)
    lock.code_change_log(auth, CODE_UPDATED, entry.code_id)
    return [complete()]


async def remove_keypad_code(
    lock: LockCore, session: Session, auth: Authorization, command: c.RemoveKeypadCode
) -> list[c.Command]:
    if lock.codes.pop(command.code_id, None) is None:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "no such code id")
    lock.code_change_log(auth, CODE_REMOVED, command.code_id)
    return [complete()]


HANDLERS: dict[type[c.Command], Handler] = {
    c.AddKeypadCode: add_keypad_code,
    c.RequestKeypadCodes: request_keypad_codes,
    c.UpdateKeypadCode: update_keypad_code,
    c.RemoveKeypadCode: remove_keypad_code,
}
