"""Time for the simulated lock: an injectable time source and the lock's own settable clock.

Two notions of time, kept apart on purpose:

* the *time source* (`clock=` of `SimulatedLock`): a callable returning an aware UTC
  `datetime`. It drives everything that measures elapsed time: the pairing-mode timeout, the
  security-PIN lock-out, the auto-unlock cooldown. Tests pass a `ManualClock` and move it with
  `advance()` instead of sleeping.
* the *lock clock* (`LockClock`): the wall-clock time the lock believes it is, which Update
  Time (0x0021) sets. It runs at the pace of the time source from the moment it was set. It is
  what Nuki States, Config, log entries and the allowed-from/until windows use. Setting it never
  shortens a lock-out, exactly because lock-outs are measured on the time source.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

TimeSource = Callable[[], datetime]
"""Returns the current instant as an aware datetime (UTC)."""


def system_time() -> datetime:
    """The default time source: the host's clock."""
    return datetime.now(UTC)


class ManualClock:
    """A time source that only moves when told to; call it to read the time."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._now = start.astimezone(UTC)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        """Move forward by `seconds` (plus any `timedelta` keywords: minutes=, hours=, days=)."""
        step = timedelta(seconds=seconds, **kwargs)
        if step < timedelta(0):
            raise ValueError("a clock does not run backwards; use set() for that")
        self._now += step
        return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("pass an aware datetime")
        self._now = when.astimezone(UTC)


class LockClock:
    """The lock's wall clock: `source()` plus an offset that Update Time changes.

    `now()` is naive: the lock's wire format has no timezone, and the simulator treats the value
    it was given as UTC (the client's `update_time` sends UTC unless told otherwise).
    """

    def __init__(self, source: TimeSource, initial: datetime | None = None) -> None:
        self.source = source
        self._offset = timedelta(0)
        if initial is not None:
            self.set(initial)

    def instant(self) -> datetime:
        """The time source's reading (aware UTC): for elapsed-time measurements."""
        return self.source().astimezone(UTC)

    def now(self) -> datetime:
        """The lock's wall-clock time (naive)."""
        return (self.instant() + self._offset).replace(tzinfo=None, microsecond=0)

    def set(self, wall: datetime) -> None:
        """Make `now()` read `wall` (naive, or aware and then converted to UTC) from here on."""
        if wall.tzinfo is not None:
            wall = wall.astimezone(UTC).replace(tzinfo=None)
        self._offset = wall - self.instant().replace(tzinfo=None)
