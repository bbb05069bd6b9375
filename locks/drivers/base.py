"""The interface every lock driver implements, in the spirit of healthchecks' transports:
one small class per integration, a common set of methods, and errors that say whether
trying again can help (`permanent`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from locks.models import Lock


class Capability(StrEnum):
    CODES = "codes"  # can program keypad codes
    ACTIONS = "actions"  # remote lock / unlock
    STATE = "state"  # reports lock state, battery, door
    LOGS = "logs"  # reads the lock's activity log
    OFFLINE = "offline"  # keeps working without the property's internet
    SCHEDULES = "schedules"  # codes limited to weekdays and a daily time range, on the lock


@dataclass(frozen=True)
class CodeSpec:
    """A code as it should be on the lock.

    Optional recurring limits (locks with the `schedules` capability): `weekdays` is Nuki's
    bitmask (Monday = 64 ... Sunday = 1, None = every day), `from_minute` / `until_minute` the
    daily time range in the lock's local time, in minutes after midnight.
    """

    code: str
    name: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    weekdays: int | None = None
    from_minute: int | None = None
    until_minute: int | None = None


def _seconds(value: dt.datetime | None) -> dt.datetime | None:
    return value.replace(microsecond=0) if value is not None else None


@dataclass(frozen=True)
class LockCode:
    """A code as the lock reports it. `code` may be None where the lock hides it."""

    remote_id: str
    code: str | None
    name: str
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None

    def matches(self, spec: CodeSpec) -> bool:
        """Same digits and window, to the second (clouds drop sub-second parts)."""
        return (
            self.code == spec.code
            and _seconds(self.valid_from) == _seconds(spec.valid_from)
            and _seconds(self.valid_until) == _seconds(spec.valid_until)
        )


@dataclass(frozen=True)
class Applied:
    """The result of a write. `confirmed` is False when the lock (or cloud) only queued it;
    the code then stays `setting` until a webhook or a read-back confirms it."""

    remote_id: str
    confirmed: bool = True


ACTIONS = ("unlock", "lock", "unlatch", "lock_n_go")


@dataclass(frozen=True)
class LockStatus:
    """What a lock reports about itself. None means "not reported"."""

    state: str
    battery_percent: int | None = None
    battery_critical: bool | None = None
    door_state: str | None = None


class DriverError(Exception):
    """A driver call failed. `reason` and `fix` are shown to the manager as written."""

    def __init__(self, reason: str, *, fix: str = "", permanent: bool = False, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix
        self.permanent = permanent
        self.detail = detail or reason


class NotFoundOnLock(DriverError):
    """The code is not on the lock (for a removal, that is success)."""

    def __init__(self, remote_id: str):
        super().__init__(f"The lock holds no code with id {remote_id}.", permanent=True)


class LockFull(DriverError):
    """The lock's keypad memory has no free slot."""

    def __init__(self, capacity: int | None = None):
        held = f" ({capacity} codes)" if capacity else ""
        super().__init__(
            f"The lock's keypad memory is full{held}.",
            fix="Remove codes that are no longer needed from this lock.",
            permanent=True,
        )


class CodeConflict(DriverError):
    """The lock already holds these digits in an authorization that is not ours: the holder
    must choose another code."""

    def __init__(self, code: str):
        super().__init__(
            "This keypad code already exists on the lock; a new code is chosen.", permanent=True
        )
        self.code = code


class Driver:
    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, lock: Lock):
        self.lock = lock

    @classmethod
    def capabilities_for(cls, lock: Lock) -> frozenset[str]:
        """What this particular lock can do (a driver may narrow it, e.g. no keypad)."""
        return cls.capabilities

    # Codes ---------------------------------------------------------------------------------
    def list_codes(self) -> list[LockCode]:
        raise DriverError("This lock cannot report its keypad codes.", permanent=True)

    def find_code(self, spec: CodeSpec) -> LockCode | None:
        """A code already on the lock with the same digits and name (adopted after a crash)."""
        for code in self.list_codes():
            if code.code == spec.code and code.name == spec.name:
                return code
        return None

    def add_code(self, spec: CodeSpec) -> Applied:
        raise DriverError("This lock cannot hold keypad codes.", permanent=True)

    def update_code(self, remote_id: str, spec: CodeSpec) -> Applied:
        raise DriverError("This lock cannot hold keypad codes.", permanent=True)

    def remove_code(self, remote_id: str) -> bool | None:
        """Remove a code. False means only queued (confirmed later by a read-back)."""
        raise DriverError("This lock cannot hold keypad codes.", permanent=True)

    # Remote actions and state ------------------------------------------------------------
    def lock_action(self, action: str) -> LockStatus | None:
        raise DriverError("This lock cannot be operated remotely.", permanent=True)

    def read_state(self) -> LockStatus | None:
        return None
