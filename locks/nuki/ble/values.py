"""Wire representation of every field value, in one place.

The commands of the spec are built from a handful of value shapes: little-endian integers,
IEEE floats, fixed byte strings, NUL-padded UTF-8 names, 7-byte dates, 2-byte times of day,
the weekday bitmask and the security PIN. Each shape has a *codec* here (read from a `Reader`,
write to bytes, validate), so `commands.py` only lists fields and never packs bytes itself,
and a date or a name is encoded the same way in every command.

Decoding is deliberately lenient about *values* (a lock sends 0000-00-00 for "never active",
a name may be cut inside a UTF-8 sequence by another app) but strict about *lengths*, which is
what keeps garbled radio frames from being taken for real data.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, tzinfo
from enum import IntFlag
from typing import Any, ClassVar

from .errors import LengthError


class Reader:
    """Sequential reader over a payload that raises `LengthError` instead of running short."""

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    @property
    def remaining(self) -> int:
        """Bytes not consumed yet."""
        return len(self._data) - self._pos

    def take(self, size: int) -> bytes:
        """Consume exactly `size` bytes."""
        if size > self.remaining:
            raise LengthError(f"needed {size} more bytes, only {self.remaining} left")
        chunk = self._data[self._pos : self._pos + size]
        self._pos += size
        return chunk

    def rest(self) -> bytes:
        """Consume everything that is left."""
        return self.take(self.remaining)


class Codec:
    """How one field travels. `size` is None for the variable-length codecs."""

    size: int | None = None
    kind: str = "value"
    """A short tag tests and the CLI use to pick a generator or a JSON form."""

    def read(self, reader: Reader) -> Any:
        raise NotImplementedError

    def write(self, value: Any) -> bytes:
        raise NotImplementedError


class IntCodec(Codec):
    """A little-endian integer of a fixed width, signed or not."""

    kind = "int"

    def __init__(self, fmt: str) -> None:
        self._struct = struct.Struct("<" + fmt)
        self.size = self._struct.size
        self.signed = fmt.islower()
        bits = 8 * self.size
        self.min = -(1 << (bits - 1)) if self.signed else 0
        self.max = (1 << (bits - 1)) - 1 if self.signed else (1 << bits) - 1

    def read(self, reader: Reader) -> int:
        return int(self._struct.unpack(reader.take(self._struct.size))[0])

    def write(self, value: Any) -> bytes:
        if not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
        if not self.min <= value <= self.max:
            raise ValueError(f"{value} outside {self.min}..{self.max}")
        return self._struct.pack(value)


class FloatCodec(Codec):
    """IEEE 754 single precision (the spec's `float`, used for latitude and longitude)."""

    kind = "float"
    size = 4

    def read(self, reader: Reader) -> float:
        return float(struct.unpack("<f", reader.take(4))[0])

    def write(self, value: Any) -> bytes:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {type(value).__name__}")
        try:
            return struct.pack("<f", value)
        except OverflowError as exc:
            raise ValueError(f"{value} does not fit a 32-bit float") from exc


class BytesCodec(Codec):
    """A fixed-size byte string: keys, nonces, authenticators, UUIDs."""

    kind = "bytes"

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, reader: Reader) -> bytes:
        return reader.take(self.size)

    def write(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray) or len(value) != self.size:
            raise ValueError(f"expected {self.size} bytes")
        return bytes(value)


class RestCodec(Codec):
    """All remaining bytes (Request Data's additional data, later firmware's extra fields)."""

    kind = "rest"

    def read(self, reader: Reader) -> bytes:
        return reader.rest()

    def write(self, value: Any) -> bytes:
        if not isinstance(value, bytes | bytearray):
            raise ValueError("expected bytes")
        return bytes(value)


# -- names ------------------------------------------------------------------------------------


def encode_name(text: str, width: int) -> bytes:
    """UTF-8 encode `text` and pad it with NUL to `width` bytes.

    Raises ValueError rather than cutting silently: a lock would show the truncated name, and
    the portal must decide how to shorten (see `fit_name`).
    """
    if not isinstance(text, str):
        raise ValueError("a name must be text")
    if "\x00" in text:
        raise ValueError("a name cannot contain NUL, which the lock reads as its end")
    raw = text.encode("utf-8")
    if len(raw) > width:
        raise ValueError(f"name is {len(raw)} bytes in UTF-8, the field holds {width}")
    return raw.ljust(width, b"\x00")


def decode_name(raw: bytes) -> str:
    """Text up to the first NUL.

    Invalid UTF-8 is dropped, not fatal: a name another app cut inside a multi-byte character
    must not make a whole listing unreadable. Dropping (rather than inserting U+FFFD, which is
    3 bytes) also guarantees the decoded name fits its field again when sent back.
    """
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="ignore")


def fit_name(text: str, width: int) -> str:
    """The longest prefix of `text` (without NULs) whose UTF-8 form fits `width` bytes."""
    text = text.replace("\x00", "")
    raw = text.encode("utf-8")[:width]
    return raw.decode("utf-8", errors="ignore")


class NameCodec(Codec):
    """A NUL-padded UTF-8 name of fixed width (32 bytes for users and locks, 20 for codes)."""

    kind = "name"

    def __init__(self, size: int) -> None:
        self.size = size

    def read(self, reader: Reader) -> str:
        return decode_name(reader.take(self.size))

    def write(self, value: Any) -> bytes:
        return encode_name(value, self.size)


# -- dates and times -------------------------------------------------------------------------


@dataclass(frozen=True)
class NukiDateTime:
    """The spec's 7-byte timestamp: year u16, month, day, hour, minute, second (u8 each).

    Kept as raw components rather than a `datetime` because locks send values a datetime cannot
    hold (all zeros for "never"); `to_datetime()` converts when the value is a real instant.
    The wire carries no timezone: see `to_lock_datetime` for the single place that decides.
    """

    year: int
    month: int
    day: int
    hour: int = 0
    minute: int = 0
    second: int = 0

    SIZE: ClassVar[int] = 7
    _STRUCT: ClassVar[struct.Struct] = struct.Struct("<HBBBBB")

    def __post_init__(self) -> None:
        if not isinstance(self.year, int) or not 0 <= self.year <= 0xFFFF:
            raise ValueError("year must fit an unsigned 16-bit integer")
        for name in ("month", "day", "hour", "minute", "second"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must fit an unsigned byte")

    @classmethod
    def unset(cls) -> NukiDateTime:
        """The all-zero value locks use for "no date"."""
        return cls(0, 0, 0)

    @property
    def is_unset(self) -> bool:
        return self == NukiDateTime.unset()

    @classmethod
    def from_datetime(cls, value: datetime) -> NukiDateTime:
        """Components of `value` as they are (an aware value is NOT converted; see
        `to_lock_datetime` for the conversion)."""
        return cls(value.year, value.month, value.day, value.hour, value.minute, value.second)

    def to_datetime(self, tz: tzinfo | None = UTC) -> datetime:
        """A datetime with `tz` attached (UTC by default); ValueError if it is no real instant."""
        return datetime(
            self.year, self.month, self.day, self.hour, self.minute, self.second, tzinfo=tz
        )

    def isoformat(self) -> str:
        """ISO-8601 text without offset, zero-padded even for values that are no real date."""
        return (
            f"{self.year:04d}-{self.month:02d}-{self.day:02d}"
            f"T{self.hour:02d}:{self.minute:02d}:{self.second:02d}"
        )

    def encode(self) -> bytes:
        return self._STRUCT.pack(
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )

    @classmethod
    def decode(cls, raw: bytes) -> NukiDateTime:
        if len(raw) != cls.SIZE:
            raise LengthError(f"a date is {cls.SIZE} bytes, got {len(raw)}")
        return cls(*cls._STRUCT.unpack(raw))


@dataclass(frozen=True)
class NukiTime:
    """Time of day as hour and minute (u8 each): allowed from/until time, time control."""

    hour: int
    minute: int

    SIZE: ClassVar[int] = 2

    def __post_init__(self) -> None:
        for name in ("hour", "minute"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 0xFF:
                raise ValueError(f"{name} must fit an unsigned byte")

    @classmethod
    def from_time(cls, value: time) -> NukiTime:
        return cls(value.hour, value.minute)

    def to_time(self) -> time:
        return time(self.hour, self.minute)

    @classmethod
    def from_minutes(cls, minutes: int) -> NukiTime:
        """From minutes after midnight (the Web API's allowedFromTime form)."""
        return cls(minutes // 60, minutes % 60)

    @property
    def minutes(self) -> int:
        return self.hour * 60 + self.minute

    def isoformat(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    def encode(self) -> bytes:
        return bytes((self.hour, self.minute))

    @classmethod
    def decode(cls, raw: bytes) -> NukiTime:
        if len(raw) != cls.SIZE:
            raise LengthError(f"a time of day is {cls.SIZE} bytes, got {len(raw)}")
        return cls(raw[0], raw[1])


class DateCodec(Codec):
    kind = "date"
    size = NukiDateTime.SIZE

    def read(self, reader: Reader) -> NukiDateTime:
        return NukiDateTime.decode(reader.take(NukiDateTime.SIZE))

    def write(self, value: Any) -> bytes:
        if not isinstance(value, NukiDateTime):
            raise ValueError("expected a NukiDateTime")
        return value.encode()


class TimeCodec(Codec):
    kind = "time"
    size = NukiTime.SIZE

    def read(self, reader: Reader) -> NukiTime:
        return NukiTime.decode(reader.take(NukiTime.SIZE))

    def write(self, value: Any) -> bytes:
        if not isinstance(value, NukiTime):
            raise ValueError("expected a NukiTime")
        return value.encode()


def to_lock_datetime(value: datetime, lock_tz: tzinfo | None = None) -> NukiDateTime:
    """THE conversion from an aware instant to the lock's wall clock.

    FACTS.md leaves open whether keypad validity dates are UTC or lock-local, so every caller
    goes through here: `lock_tz=None` means the lock counts in UTC (what Update Time is fed
    with); pass the lock's zone to send local wall-clock time instead.
    """
    if value.tzinfo is None:
        raise ValueError("pass an aware datetime; naive values are ambiguous")
    return NukiDateTime.from_datetime(value.astimezone(lock_tz or UTC))


def from_lock_datetime(value: NukiDateTime, lock_tz: tzinfo | None = None) -> datetime:
    """Inverse of `to_lock_datetime`: an aware UTC datetime."""
    return value.to_datetime(lock_tz or UTC).astimezone(UTC)


# -- weekdays ---------------------------------------------------------------------------------


class Weekday(IntFlag):
    """Weekday bitmask: bit 6 Monday ... bit 0 Sunday. No bit set (0) means every day."""

    SUNDAY = 1
    SATURDAY = 2
    FRIDAY = 4
    THURSDAY = 8
    WEDNESDAY = 16
    TUESDAY = 32
    MONDAY = 64


EVERY_DAY = 0
ALL_WEEKDAY_BITS = 0x7F


def weekday_bit(day: date | int) -> Weekday:
    """The bit of a date, or of a Python weekday number (Monday = 0 ... Sunday = 6)."""
    number = day.weekday() if isinstance(day, date) else day
    if not isinstance(number, int) or not 0 <= number <= 6:
        raise ValueError("weekday numbers run from 0 (Monday) to 6 (Sunday)")
    return Weekday(64 >> number)


def weekdays_mask(days: Iterable[date | int]) -> int:
    """The bitmask for a set of days; an empty set gives 0, which the lock reads as every day."""
    mask = 0
    for day in days:
        mask |= weekday_bit(day)
    return mask


def weekdays_allow(mask: int, day: date | int) -> bool:
    """Whether `mask` admits `day` (0 admits every day)."""
    return mask & ALL_WEEKDAY_BITS == 0 or bool(mask & weekday_bit(day))


# -- security PIN ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityPin:
    """The security PIN and how wide it travels.

    Spec v1.10 locks use a uint16; Smart Lock Ultra / Go / 5th generation use 4 bytes
    (FACTS.md). The PIN is always the last field, so a decoder tells the width from what is left.
    """

    value: int
    width: int = 2

    def __post_init__(self) -> None:
        if self.width not in (2, 4):
            raise ValueError("a security PIN is 2 or 4 bytes wide")
        if not isinstance(self.value, int) or not 0 <= self.value < (1 << (8 * self.width)):
            raise ValueError(f"PIN does not fit {self.width} bytes")

    def __int__(self) -> int:
        return self.value

    def __repr__(self) -> str:  # keep PINs out of logs and tracebacks
        return f"SecurityPin(width={self.width})"


class PinCodec(Codec):
    kind = "pin"

    def read(self, reader: Reader) -> SecurityPin:
        width = reader.remaining
        if width not in (2, 4):
            raise LengthError(f"security PIN must be 2 or 4 bytes, {width} left")
        return SecurityPin(int.from_bytes(reader.take(width), "little"), width)

    def write(self, value: Any) -> bytes:
        if not isinstance(value, SecurityPin):
            raise ValueError("expected a SecurityPin")
        return value.value.to_bytes(value.width, "little")


# -- the codec instances commands.py uses ------------------------------------------------------

U8 = IntCodec("B")
U16 = IntCodec("H")
U32 = IntCodec("I")
S8 = IntCodec("b")
S16 = IntCodec("h")
F32 = FloatCodec()
DATE = DateCodec()
TIME = TimeCodec()
PIN = PinCodec()
REST = RestCodec()
KEY = BytesCodec(32)
NONCE = BytesCodec(32)
AUTHENTICATOR = BytesCodec(32)
UUID = BytesCodec(16)
NAME32 = NameCodec(32)
NAME20 = NameCodec(20)
VERSION3 = BytesCodec(3)
"""Config's firmware version (major, minor, patch) on locks with keypad support."""
VERSION2 = BytesCodec(2)
"""Config's hardware revision (major, minor)."""


# -- keypad codes -----------------------------------------------------------------------------


def keypad_code_problem(code: int) -> str | None:
    """Why `code` cannot be a keypad code (6 digits 1-9, not starting with 12), or None.

    Checked before anything is sent: the lock would answer K_ERROR_CODE_INVALID, but only after
    a radio round trip, and a rejected code must change nothing.
    """
    if isinstance(code, bool) or not isinstance(code, int):
        return "a keypad code is an integer"
    text = str(code)
    if len(text) != 6:
        return "a keypad code has exactly 6 digits"
    if "0" in text:
        return "keypad codes use the digits 1-9 only"
    if text.startswith("12"):
        return "keypad codes must not start with 12"
    return None
