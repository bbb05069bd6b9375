"""What every command handler shares: its signature and the small answers and checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import StatusCode
from locks.nuki.ble.errors import NukiErrorCode

from ..core import LockCore
from ..errors import Refused
from ..model import Authorization, TimeWindow
from ..session import Session

Handler = Callable[[LockCore, Session, Authorization, Any], Awaitable[list[c.Command]]]
"""A keyturner command handler: (lock, session, sender's authorization, command) -> the
answers, encrypted for the sender. Raises `Refused` for an Error Report."""


def complete() -> c.Status:
    return c.Status(status=StatusCode.COMPLETE)


def is_flag(value: int) -> bool:
    return value in (0, 1)


def checked_window(command: Any) -> TimeWindow:
    """The allowed-* fields of a command as a TimeWindow; K_ERROR_BAD_PARAMETER if invalid."""
    window = TimeWindow.from_command(command)
    problem = window.problem()
    if problem:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem)
    return window
