"""The interface every lock driver implements, in the spirit of healthchecks' transports:
one small class per integration, a common set of methods, and errors that say whether
trying again can help (`permanent`)."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from locks.models import Lock, LockCommand


class Capability(StrEnum):
    CODES = "codes"  # can program keypad codes
    ACTIONS = "actions"  # remote lock / unlock
    STATE = "state"  # reports lock state, battery, door
    LOGS = "logs"  # reads the lock's activity log
    OFFLINE = "offline"  # keeps working without the property's internet
    APP_ACCESS = "app_access"  # can give a person's own Nuki app time-limited access
    SCHEDULES = "schedules"  # carries weekday and time-of-day limits (CodeSpec.limited)


class AccessKind(StrEnum):
    KEYPAD = "keypad"  # a keypad code (Nuki authorization type 13)
    APP = "app"  # the holder's own Nuki app (authorization type 0 for a Nuki account user)


EVERY_DAY = 127  # weekday bitmask, Monday = 64 ... Sunday = 1 (Nuki's; 0 also means every day)


def weekdays_normal(value: int) -> int:
    """0 and 127 both mean every day; compare them as one."""
    return EVERY_DAY if value in (0, EVERY_DAY) else value


@dataclass(frozen=True)
class CodeSpec:
    """A code (or app access) as it should be on the lock.

    The optional recurring limits narrow the date window, as Nuki's authorizations do:
    `weekdays` is a bitmask (Monday = 64 ... Sunday = 1; 127 or 0 = every day), and
    `from_minute` / `until_minute` are minutes after midnight in the lock's (the property's)
    local time, both 0 meaning the whole day. `kind` = "app" asks for access in the holder's
    own Nuki app, identified by `account_email` (then `code` is empty).
    """

    code: str
    name: str
    valid_from: dt.datetime
    valid_until: dt.datetime
    weekdays: int = EVERY_DAY
    from_minute: int = 0
    until_minute: int = 0
    kind: str = AccessKind.KEYPAD
    account_email: str = ""

    @property
    def limited(self) -> bool:
        """True when weekdays or times narrow the window: only locks with the `schedules`
        capability (which carry them to the lock and report them back) may take it."""
        return weekdays_normal(self.weekdays) != EVERY_DAY or bool(
            self.from_minute or self.until_minute
        )


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
    weekdays: int = EVERY_DAY
    from_minute: int = 0
    until_minute: int = 0
    kind: str = AccessKind.KEYPAD
    account_email: str = ""  # app access: the Nuki account it is for, where the lock says

    def matches(self, spec: CodeSpec) -> bool:
        """Same digits (or Nuki account), window to the second (clouds drop sub-second parts),
        weekdays and times."""
        if self.kind != spec.kind:
            return False
        if spec.kind == AccessKind.APP:
            same_holder = (
                not self.account_email or self.account_email.lower() == spec.account_email.lower()
            )
        else:
            same_holder = self.code == spec.code
        return (
            same_holder
            and _seconds(self.valid_from) == _seconds(spec.valid_from)
            and _seconds(self.valid_until) == _seconds(spec.valid_until)
            and weekdays_normal(self.weekdays) == weekdays_normal(spec.weekdays)
            and (self.from_minute, self.until_minute) == (spec.from_minute, spec.until_minute)
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
    """A driver call failed. `reason` and `fix` are shown to the manager as written.

    `retry_after`: the cloud or device is rate-limited (a 429, or no token left in its budget,
    locks/budgets.py): try again in that many seconds. The lock itself is fine, so the runner
    neither counts the attempt nor calls the lock unreachable."""

    def __init__(
        self,
        reason: str,
        *,
        fix: str = "",
        permanent: bool = False,
        detail: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.fix = fix
        self.permanent = permanent
        self.detail = detail or reason
        self.retry_after = retry_after


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


class AwaitingDevice(Exception):
    """The driver handed work to a device that answers in its own time (an on-site agent):
    the runner parks the command as `waiting` until `deadline` and returns at once, so no
    worker slot waits for a tenant's device. The device's answer resumes the command; the
    sweep handles one that did not come (`Driver.wait_expired`)."""

    def __init__(self, *, deadline: dt.datetime):
        super().__init__("waiting for the device")
        self.deadline = deadline


@dataclass
class CommandContext:
    """The command a driver call belongs to, and how many device steps this run has taken
    (a resumed run replays the answered steps from the job journal in the same order)."""

    command: LockCommand
    steps: int = 0


_running: contextvars.ContextVar[CommandContext | None] = contextvars.ContextVar(
    "latchkey_running_command", default=None
)


@contextlib.contextmanager
def command_context(command: LockCommand) -> Iterator[CommandContext]:
    """Mark driver calls inside as part of `command` (the runner does this)."""
    context = CommandContext(command=command)
    token = _running.set(context)
    try:
        yield context
    finally:
        _running.reset(token)


def running_command() -> CommandContext | None:
    """The command the current driver call runs for, or None (a direct call: CLI, tests)."""
    return _running.get()


class Driver:
    kind: ClassVar[str]
    capabilities: ClassVar[frozenset[str]] = frozenset()
    # The Celery channel its commands run on (settings.LATCHKEY_CHANNELS): work that waits on
    # the same thing shares a queue, so a silent bridge or agent never holds the others' slots.
    queue: ClassVar[str] = "codes"

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

    def find_before_add(self, spec: CodeSpec) -> bool:
        """Whether the runner must look for the code on the lock before adding it. A driver
        whose add itself notices (and adopts) a copy left by an earlier attempt says no."""
        return True

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

    # Asynchronous devices ------------------------------------------------------------------
    def park(self, command: LockCommand, *, claimed_at: dt.datetime, deadline: dt.datetime) -> bool:
        """The runner's side of AwaitingDevice: the running command waits for the device's
        answer until `deadline` (only drivers that raise AwaitingDevice get here)."""
        raise NotImplementedError(f"{self.kind} hands no work to a device")

    def wait_expired(self, command: LockCommand) -> DriverError:
        """The error for a command whose device did not answer by its deadline (only drivers
        that raise AwaitingDevice get here); the runner retries or fails it with this."""
        return DriverError(
            "The lock did not answer in time.", fix="Nothing to do: the portal retries."
        )
