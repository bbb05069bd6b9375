"""Typed commands of Nuki BLE spec v1.10 and the keypad-code commands 0x0041-0x0047.

Each command is a frozen dataclass whose fields, in wire order, carry their codec (see
`values.py`); `encode()` and `decode()` are generic over that list, so a layout is written once
and read and written by the same code. Field names are the spec's names in snake_case.

Layout rules the generic code knows about:

* Fields in an optional *group* are all present or all absent, and present exactly when bytes
  are left at the group's position. That expresses both "the following fields are appended only
  if time limited is set" (Authorization Entry, Keypad Code; some firmware always sends them)
  and the short Nuki States the spec's own example shows (15 of the 18 listed bytes).
* A trailing `extra` field keeps whatever later firmware appends to an answer, so a newer lock
  does not break decoding; it is empty for spec-sized messages.
* Answers that later firmware lengthened (Config, Nuki States, Advanced Config, Battery Report,
  Log Entry Count) carry the later fields as optional groups, None on firmware that stops at
  the v1.10 layout. Their layouts are Nuki's Smart Lock API v2.2.1 as the open-source clients
  (NukiBleEsp32, pyNukiBT) implement it; fields after v2.2.1 are named as those clients name
  them and are *unconfirmed* (docs/design.md, "The simulated BLE lock").
* The security PIN is the last field and is 2 bytes (v1.10) or 4 bytes (newer locks).

Decoding raises only `ProtocolError` (and subclasses); encoding a malformed object raises
`ValueError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, Self

from .constants import CommandId
from .errors import LengthError, ProtocolError, UnknownCommandError
from .values import (
    AUTHENTICATOR,
    DATE,
    F32,
    KEY,
    NAME20,
    NAME32,
    NONCE,
    PIN,
    REST,
    S8,
    S16,
    TIME,
    U8,
    U16,
    U32,
    UUID,
    VERSION2,
    VERSION3,
    Codec,
    NukiDateTime,
    NukiTime,
    Reader,
    SecurityPin,
)


def wire(codec: Codec | None, *, group: str | None = None) -> dict[str, Any]:
    """Field metadata saying how a field travels: use as `field(metadata=wire(U16))`.

    `group` marks the field optional (give it `default=None`) and ties it to the other fields
    of the same group. A codec of None means the class encodes that field itself.
    """
    return {"codec": codec, "group": group}


def _wire_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    return tuple(f for f in dataclasses.fields(cls) if "codec" in f.metadata)


def _read_fields(
    cls: type, fields: tuple[dataclasses.Field[Any], ...], reader: Reader
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    present: dict[str, bool] = {}
    for f in fields:
        group = f.metadata["group"]
        if group is not None:
            if group not in present:
                present[group] = reader.remaining > 0
            if not present[group]:
                values[f.name] = None
                continue
        try:
            values[f.name] = f.metadata["codec"].read(reader)
        except LengthError as exc:
            raise LengthError(f"{cls.__name__}.{f.name}: {exc}") from None
    return values


def _write_fields(obj: Any, fields: tuple[dataclasses.Field[Any], ...]) -> bytes:
    name = type(obj).__name__
    out: list[bytes] = []
    absent_group: str | None = None
    groups: dict[str, list[Any]] = {}
    for f in fields:
        if f.metadata["group"] is not None:
            groups.setdefault(f.metadata["group"], []).append(getattr(obj, f.name))
    for f in fields:
        value = getattr(obj, f.name)
        group = f.metadata["group"]
        if group is not None:
            members = groups[group]
            if all(v is None for v in members):
                absent_group = absent_group or group
                continue
            if any(v is None for v in members):
                raise ValueError(f"{name}: the fields of group {group!r} go together")
            if absent_group is not None and absent_group != group:
                raise ValueError(
                    f"{name}.{f.name} is set but the earlier optional group "
                    f"{absent_group!r} is missing"
                )
        elif f.metadata["codec"] is REST and value and absent_group is not None:
            raise ValueError(
                f"{name}.{f.name} is set but optional group {absent_group!r} is missing"
            )
        try:
            out.append(f.metadata["codec"].write(value))
        except ValueError as exc:
            raise ValueError(f"{name}.{f.name}: {exc}") from None
    return b"".join(out)


class Struct:
    """A dataclass whose fields are declared with `wire()`; generic encode and decode."""

    def problem(self) -> str | None:
        """Cross-field rule the layout alone cannot express; None when the object is valid."""
        return None

    def encode(self) -> bytes:
        """The payload bytes; ValueError if a field does not fit its wire form."""
        issue = self.problem()
        if issue:
            raise ValueError(f"{type(self).__name__}: {issue}")
        return _write_fields(self, _wire_fields(type(self)))

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        """Parse a payload of exactly this layout; raises ProtocolError otherwise."""
        reader = Reader(payload)
        values = _read_fields(cls, _wire_fields(cls), reader)
        return cls._finish(values, reader)

    @classmethod
    def _finish(cls, values: dict[str, Any], reader: Reader) -> Self:
        if reader.remaining:
            raise LengthError(f"{cls.__name__}: {reader.remaining} unexpected trailing bytes")
        try:
            obj = cls(**values)
        except (TypeError, ValueError) as exc:  # pragma: no cover - codecs produce valid values
            raise ProtocolError(f"{cls.__name__}: {exc}") from exc
        issue = obj.problem()
        if issue:
            raise ProtocolError(f"{cls.__name__}: {issue}")
        return obj

    @classmethod
    def fixed_size(cls) -> int | None:
        """Payload size if every field has one fixed size, else None."""
        total = 0
        for f in _wire_fields(cls):
            codec = f.metadata["codec"]
            if codec is None or codec.size is None or f.metadata["group"] is not None:
                return None
            total += codec.size
        return total


COMMANDS: dict[int, type[Command]] = {}
"""Registry: command identifier -> command class."""


class Command(Struct):
    """A command of the protocol; subclasses set COMMAND_ID and NAME (the spec's title)."""

    COMMAND_ID: ClassVar[int]
    NAME: ClassVar[str]
    PIN_PROTECTED: ClassVar[bool] = False
    """True when the payload ends with nonce n_K and the security PIN (challenge first)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "COMMAND_ID" in cls.__dict__:
            if cls.COMMAND_ID in COMMANDS:
                raise TypeError(f"command 0x{cls.COMMAND_ID:04X} defined twice")
            COMMANDS[cls.COMMAND_ID] = cls


def _time_group_problem(obj: Any) -> str | None:
    if obj.time_limited and obj.allowed_from_date is None:
        return "time limited is set but the allowed dates and times are missing"
    return None


# -- pairing ----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestData(Command):
    """Ask the lock to send the command `command_identifier` (public key, challenge, states)."""

    COMMAND_ID = CommandId.REQUEST_DATA
    NAME = "Request Data"
    command_identifier: int = field(metadata=wire(U16))
    additional_data: bytes = field(default=b"", metadata=wire(REST))


@dataclass(frozen=True, kw_only=True)
class PublicKey(Command):
    COMMAND_ID = CommandId.PUBLIC_KEY
    NAME = "Public Key"
    public_key: bytes = field(metadata=wire(KEY))


@dataclass(frozen=True, kw_only=True)
class Challenge(Command):
    COMMAND_ID = CommandId.CHALLENGE
    NAME = "Challenge"
    nonce_k: bytes = field(metadata=wire(NONCE))


@dataclass(frozen=True, kw_only=True)
class AuthorizationAuthenticator(Command):
    """h1(public key A | public key K | n_K): only the authenticator travels."""

    COMMAND_ID = CommandId.AUTHORIZATION_AUTHENTICATOR
    NAME = "Authorization Authenticator"
    authenticator: bytes = field(metadata=wire(AUTHENTICATOR))


@dataclass(frozen=True, kw_only=True)
class AuthorizationData(Command):
    """The new authorization's identity; the authenticator also covers n_K (not sent)."""

    COMMAND_ID = CommandId.AUTHORIZATION_DATA
    NAME = "Authorization Data"
    authenticator: bytes = field(metadata=wire(AUTHENTICATOR))
    id_type: int = field(metadata=wire(U8))
    app_id: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME32))
    nonce_abf: bytes = field(metadata=wire(NONCE))


@dataclass(frozen=True, kw_only=True)
class AuthorizationId(Command):
    """The lock's answer; its authenticator also covers n_A/B/F (not sent)."""

    COMMAND_ID = CommandId.AUTHORIZATION_ID
    NAME = "Authorization-ID"
    authenticator: bytes = field(metadata=wire(AUTHENTICATOR))
    authorization_id: int = field(metadata=wire(U32))
    uuid: bytes = field(metadata=wire(UUID))
    nonce_k: bytes = field(metadata=wire(NONCE))


@dataclass(frozen=True, kw_only=True)
class AuthorizationIdConfirmation(Command):
    """h1(authorization id | n_K) followed by the authorization id."""

    COMMAND_ID = CommandId.AUTHORIZATION_ID_CONFIRMATION
    NAME = "Authorization-ID Confirmation"
    authenticator: bytes = field(metadata=wire(AUTHENTICATOR))
    authorization_id: int = field(metadata=wire(U32))


# -- authorizations ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RemoveAuthorizationEntry(Command):
    COMMAND_ID = CommandId.REMOVE_AUTHORIZATION_ENTRY
    NAME = "Remove Authorization Entry"
    PIN_PROTECTED = True
    authorization_id: int = field(metadata=wire(U32))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestAuthorizationEntries(Command):
    COMMAND_ID = CommandId.REQUEST_AUTHORIZATION_ENTRIES
    NAME = "Request Authorization Entries"
    PIN_PROTECTED = True
    offset: int = field(metadata=wire(U16))
    count: int = field(metadata=wire(U16))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class AuthorizationEntry(Command):
    """One authorization; the allowed-* fields follow only if time limited (or always, on some
    firmware), so they are None when absent."""

    COMMAND_ID = CommandId.AUTHORIZATION_ENTRY
    NAME = "Authorization Entry"
    authorization_id: int = field(metadata=wire(U32))
    id_type: int = field(metadata=wire(U8))
    name: str = field(metadata=wire(NAME32))
    enabled: int = field(metadata=wire(U8))
    remote_allowed: int = field(metadata=wire(U8))
    date_created: NukiDateTime = field(metadata=wire(DATE))
    date_last_active: NukiDateTime = field(metadata=wire(DATE))
    lock_count: int = field(metadata=wire(U16))
    time_limited: int = field(metadata=wire(U8))
    allowed_from_date: NukiDateTime | None = field(default=None, metadata=wire(DATE, group="time"))
    allowed_until_date: NukiDateTime | None = field(default=None, metadata=wire(DATE, group="time"))
    allowed_weekdays: int | None = field(default=None, metadata=wire(U8, group="time"))
    allowed_from_time: NukiTime | None = field(default=None, metadata=wire(TIME, group="time"))
    allowed_until_time: NukiTime | None = field(default=None, metadata=wire(TIME, group="time"))

    def problem(self) -> str | None:
        return _time_group_problem(self)


@dataclass(frozen=True, kw_only=True)
class AuthorizationDataInvite(Command):
    COMMAND_ID = CommandId.AUTHORIZATION_DATA_INVITE
    NAME = "Authorization Data (Invite)"
    PIN_PROTECTED = True
    name: str = field(metadata=wire(NAME32))
    id_type: int = field(metadata=wire(U8))
    shared_key: bytes = field(metadata=wire(KEY))
    remote_allowed: int = field(metadata=wire(U8))
    time_limited: int = field(metadata=wire(U8))
    allowed_from_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_until_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_weekdays: int = field(metadata=wire(U8))
    allowed_from_time: NukiTime = field(metadata=wire(TIME))
    allowed_until_time: NukiTime = field(metadata=wire(TIME))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class AuthorizationIdInvite(Command):
    COMMAND_ID = CommandId.AUTHORIZATION_ID_INVITE
    NAME = "Authorization-ID (Invite)"
    authorization_id: int = field(metadata=wire(U32))
    date_created: NukiDateTime = field(metadata=wire(DATE))


@dataclass(frozen=True, kw_only=True)
class UpdateAuthorizationEntry(Command):
    COMMAND_ID = CommandId.UPDATE_AUTHORIZATION_ENTRY
    NAME = "Update Authorization Entry"
    PIN_PROTECTED = True
    authorization_id: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME32))
    enabled: int = field(metadata=wire(U8))
    remote_allowed: int = field(metadata=wire(U8))
    time_limited: int = field(metadata=wire(U8))
    allowed_from_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_until_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_weekdays: int = field(metadata=wire(U8))
    allowed_from_time: NukiTime = field(metadata=wire(TIME))
    allowed_until_time: NukiTime = field(metadata=wire(TIME))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class AuthorizationEntryCount(Command):
    COMMAND_ID = CommandId.AUTHORIZATION_ENTRY_COUNT
    NAME = "Authorization Entry Count"
    count: int = field(metadata=wire(U16))


# -- state and actions ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class NukiStates(Command):
    """Keyturner states. The spec lists 18 bytes; its own example (and older firmware) sends
    15, stopping after the lock 'n' go timer, so the last five fields are each optional and
    anything beyond the 18 bytes (newer firmware) lands in `extra`."""

    COMMAND_ID = CommandId.NUKI_STATES
    NAME = "Nuki States"
    nuki_state: int = field(metadata=wire(U8))
    lock_state: int = field(metadata=wire(U8))
    trigger: int = field(metadata=wire(U8))
    current_time: NukiDateTime = field(metadata=wire(DATE))
    timezone_offset: int = field(metadata=wire(S16))
    critical_battery_state: int = field(metadata=wire(U8))
    config_update_count: int | None = field(
        default=None, metadata=wire(U8, group="config_update_count")
    )
    lock_n_go_timer: int | None = field(default=None, metadata=wire(U8, group="lock_n_go_timer"))
    last_lock_action: int | None = field(default=None, metadata=wire(U8, group="last_lock_action"))
    last_lock_action_trigger: int | None = field(
        default=None, metadata=wire(U8, group="last_lock_action_trigger")
    )
    last_lock_action_completion_status: int | None = field(
        default=None, metadata=wire(U8, group="last_lock_action_completion_status")
    )
    door_sensor_state: int | None = field(
        default=None, metadata=wire(U8, group="door_sensor_state")
    )
    night_mode_active: int | None = field(
        default=None, metadata=wire(U8, group="night_mode_active")
    )
    accessory_battery_state: int | None = field(
        default=None, metadata=wire(U8, group="accessory_battery_state")
    )
    extra: bytes = field(default=b"", metadata=wire(REST))


KeyturnerStates = NukiStates
"""The name later spec versions use for command 0x000C."""


@dataclass(frozen=True, kw_only=True)
class LockAction(Command):
    COMMAND_ID = CommandId.LOCK_ACTION
    NAME = "Lock Action"
    lock_action: int = field(metadata=wire(U8))
    app_id: int = field(metadata=wire(U32))
    flags: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))


@dataclass(frozen=True, kw_only=True)
class Status(Command):
    COMMAND_ID = CommandId.STATUS
    NAME = "Status"
    status: int = field(metadata=wire(U8))


@dataclass(frozen=True, kw_only=True)
class MostRecentCommand(Command):
    COMMAND_ID = CommandId.MOST_RECENT_COMMAND
    NAME = "Most Recent Command"
    command_identifier: int = field(metadata=wire(U16))


@dataclass(frozen=True, kw_only=True)
class OpeningsClosingsSummary(Command):
    COMMAND_ID = CommandId.OPENINGS_CLOSINGS_SUMMARY
    NAME = "Openings Closings Summary"
    openings_total: int = field(metadata=wire(U16))
    closings_total: int = field(metadata=wire(U16))
    openings_since_boot: int = field(metadata=wire(U16))
    closings_since_boot: int = field(metadata=wire(U16))


@dataclass(frozen=True, kw_only=True)
class BatteryReport(Command):
    """Battery report; firmware with keypad support appends the last action's measurements
    (group "details", v2.2.1); anything later lands in `extra`."""

    COMMAND_ID = CommandId.BATTERY_REPORT
    NAME = "Battery Report"
    battery_drain: int = field(metadata=wire(U16))
    battery_voltage: int = field(metadata=wire(U16))
    critical_battery_state: int = field(metadata=wire(U8))
    lock_action: int | None = field(default=None, metadata=wire(U8, group="details"))
    start_voltage: int | None = field(default=None, metadata=wire(U16, group="details"))
    lowest_voltage: int | None = field(default=None, metadata=wire(U16, group="details"))
    lock_distance: int | None = field(default=None, metadata=wire(U16, group="details"))
    start_temperature: int | None = field(default=None, metadata=wire(S8, group="details"))
    max_turn_current: int | None = field(default=None, metadata=wire(U16, group="details"))
    battery_resistance: int | None = field(default=None, metadata=wire(U16, group="details"))
    extra: bytes = field(default=b"", metadata=wire(REST))


@dataclass(frozen=True, kw_only=True)
class ErrorReport(Command):
    """The spec types the error code as sint8 but lists it as bytes 0x10..0xFF, so it is kept
    unsigned here (see `errors.NukiErrorCode`)."""

    COMMAND_ID = CommandId.ERROR_REPORT
    NAME = "Error Report"
    error_code: int = field(metadata=wire(U8))
    command_identifier: int = field(metadata=wire(U16))


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class SetConfig(Command):
    COMMAND_ID = CommandId.SET_CONFIG
    NAME = "Set Config"
    PIN_PROTECTED = True
    name: str = field(metadata=wire(NAME32))
    latitude: float = field(metadata=wire(F32))
    longitude: float = field(metadata=wire(F32))
    auto_unlatch: int = field(metadata=wire(U8))
    pairing_enabled: int = field(metadata=wire(U8))
    button_enabled: int = field(metadata=wire(U8))
    led_flash_enabled: int = field(metadata=wire(U8))
    led_brightness: int = field(metadata=wire(U8))
    timezone_offset: int = field(metadata=wire(S16))
    dst_mode: int = field(metadata=wire(U8))
    fob_action_1: int = field(metadata=wire(U8))
    fob_action_2: int = field(metadata=wire(U8))
    fob_action_3: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestConfig(Command):
    """Needs a challenge nonce but no PIN."""

    COMMAND_ID = CommandId.REQUEST_CONFIG
    NAME = "Request Config"
    nonce_k: bytes = field(metadata=wire(NONCE))


@dataclass(frozen=True, kw_only=True)
class Config(Command):
    """The lock's configuration: 63 bytes in spec v1.10, ending at fob action 3.

    Firmware with keypad support (Smart Lock 1.0 from firmware 1.7 on, 2.0, 3.0, 4.0) appends
    the "keypad_firmware" group (v2.2.1: single lock .. time zone id, 74 bytes in all); Smart
    Lock 3.0 and later append device type, capabilities and has keypad v2 (77 bytes), 4.0
    Matter status and product variant (79). Each later field is optional on its own; anything
    beyond lands in `extra`."""

    COMMAND_ID = CommandId.CONFIG
    NAME = "Config"
    nuki_id: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME32))
    latitude: float = field(metadata=wire(F32))
    longitude: float = field(metadata=wire(F32))
    auto_unlatch: int = field(metadata=wire(U8))
    pairing_enabled: int = field(metadata=wire(U8))
    button_enabled: int = field(metadata=wire(U8))
    led_enabled: int = field(metadata=wire(U8))
    led_brightness: int = field(metadata=wire(U8))
    current_time: NukiDateTime = field(metadata=wire(DATE))
    timezone_offset: int = field(metadata=wire(S16))
    dst_mode: int = field(metadata=wire(U8))
    has_fob: int = field(metadata=wire(U8))
    fob_action_1: int = field(metadata=wire(U8))
    fob_action_2: int = field(metadata=wire(U8))
    fob_action_3: int = field(metadata=wire(U8))
    single_lock: int | None = field(default=None, metadata=wire(U8, group="keypad_firmware"))
    advertising_mode: int | None = field(default=None, metadata=wire(U8, group="keypad_firmware"))
    has_keypad: int | None = field(default=None, metadata=wire(U8, group="keypad_firmware"))
    firmware_version: bytes | None = field(
        default=None, metadata=wire(VERSION3, group="keypad_firmware")
    )
    hardware_revision: bytes | None = field(
        default=None, metadata=wire(VERSION2, group="keypad_firmware")
    )
    homekit_status: int | None = field(default=None, metadata=wire(U8, group="keypad_firmware"))
    timezone_id: int | None = field(default=None, metadata=wire(U16, group="keypad_firmware"))
    device_type: int | None = field(default=None, metadata=wire(U8, group="device_type"))
    capabilities: int | None = field(default=None, metadata=wire(U8, group="capabilities"))
    has_keypad_v2: int | None = field(default=None, metadata=wire(U8, group="has_keypad_v2"))
    matter_status: int | None = field(default=None, metadata=wire(U8, group="matter_status"))
    product_variant: int | None = field(default=None, metadata=wire(U8, group="product_variant"))
    extra: bytes = field(default=b"", metadata=wire(REST))

    @property
    def firmware(self) -> str | None:
        """The firmware version as text ("3.8.2"), None on v1.10 firmware."""
        if self.firmware_version is None:
            return None
        return ".".join(str(part) for part in self.firmware_version)

    @property
    def hardware(self) -> str | None:
        """The hardware revision as text ("7.1"), None on v1.10 firmware."""
        if self.hardware_revision is None:
            return None
        return ".".join(str(part) for part in self.hardware_revision)


@dataclass(frozen=True, kw_only=True)
class SetSecurityPin(Command):
    """New PIN then the current one; both have the same width (2 bytes, 4 on newer locks)."""

    COMMAND_ID = CommandId.SET_SECURITY_PIN
    NAME = "Set Security PIN"
    PIN_PROTECTED = True
    pin: SecurityPin = field(metadata=wire(None))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))

    def problem(self) -> str | None:
        if not isinstance(self.pin, SecurityPin):
            return "pin must be a SecurityPin"
        if not isinstance(self.security_pin, SecurityPin):
            return "security_pin must be a SecurityPin"
        if self.pin.width != self.security_pin.width:
            return "the new and the current PIN must have the same width"
        return None

    def encode(self) -> bytes:
        issue = self.problem()
        if issue:
            raise ValueError(f"SetSecurityPin: {issue}")
        return PIN.write(self.pin) + _write_fields(self, _wire_fields(type(self))[1:])

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        if len(payload) not in (2 + 32 + 2, 4 + 32 + 4):
            raise LengthError(f"SetSecurityPin: payload of {len(payload)} bytes")
        width = (len(payload) - 32) // 2
        reader = Reader(payload)
        pin = SecurityPin(int.from_bytes(reader.take(width), "little"), width)
        values = _read_fields(cls, _wire_fields(cls)[1:], reader)
        return cls._finish({"pin": pin, **values}, reader)

    @classmethod
    def fixed_size(cls) -> int | None:
        return None


@dataclass(frozen=True, kw_only=True)
class VerifySecurityPin(Command):
    COMMAND_ID = CommandId.VERIFY_SECURITY_PIN
    NAME = "Verify Security PIN"
    PIN_PROTECTED = True
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestCalibration(Command):
    COMMAND_ID = CommandId.REQUEST_CALIBRATION
    NAME = "Request Calibration"
    PIN_PROTECTED = True
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestReboot(Command):
    COMMAND_ID = CommandId.REQUEST_REBOOT
    NAME = "Request Reboot"
    PIN_PROTECTED = True
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class UpdateTime(Command):
    COMMAND_ID = CommandId.UPDATE_TIME
    NAME = "Update Time"
    PIN_PROTECTED = True
    time: NukiDateTime = field(metadata=wire(DATE))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestDisconnect(Command):
    COMMAND_ID = CommandId.REQUEST_DISCONNECT
    NAME = "Request Disconnect"


@dataclass(frozen=True, kw_only=True)
class SetAdvancedConfig(Command):
    COMMAND_ID = CommandId.SET_ADVANCED_CONFIG
    NAME = "Set Advanced Config"
    PIN_PROTECTED = True
    unlocked_position_offset_degrees: int = field(metadata=wire(S16))
    locked_position_offset_degrees: int = field(metadata=wire(S16))
    single_locked_position_offset_degrees: int = field(metadata=wire(S16))
    unlocked_to_locked_transition_offset_degrees: int = field(metadata=wire(S16))
    lock_n_go_timeout: int = field(metadata=wire(U8))
    single_button_press_action: int = field(metadata=wire(U8))
    double_button_press_action: int = field(metadata=wire(U8))
    detached_cylinder: int = field(metadata=wire(U8))
    battery_type: int = field(metadata=wire(U8))
    automatic_battery_type_detection: int = field(metadata=wire(U8))
    unlatch_duration: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestAdvancedConfig(Command):
    """Needs a challenge nonce but no PIN."""

    COMMAND_ID = CommandId.REQUEST_ADVANCED_CONFIG
    NAME = "Request Advanced Config"
    nonce_k: bytes = field(metadata=wire(NONCE))


@dataclass(frozen=True, kw_only=True)
class AdvancedConfig(Command):
    """Advanced configuration: 17 bytes in spec v1.10; firmware with keypad support appends
    auto lock and night mode (group "auto_lock", v2.2.1, 31 bytes); later fields land in
    `extra`."""

    COMMAND_ID = CommandId.ADVANCED_CONFIG
    NAME = "Advanced Config"
    total_degrees: int = field(metadata=wire(U16))
    unlocked_position_offset_degrees: int = field(metadata=wire(S16))
    locked_position_offset_degrees: int = field(metadata=wire(S16))
    single_locked_position_offset_degrees: int = field(metadata=wire(S16))
    unlocked_to_locked_transition_offset_degrees: int = field(metadata=wire(S16))
    lock_n_go_timeout: int = field(metadata=wire(U8))
    single_button_press_action: int = field(metadata=wire(U8))
    double_button_press_action: int = field(metadata=wire(U8))
    detached_cylinder: int = field(metadata=wire(U8))
    battery_type: int = field(metadata=wire(U8))
    automatic_battery_type_detection: int = field(metadata=wire(U8))
    unlatch_duration: int = field(metadata=wire(U8))
    auto_lock_timeout: int | None = field(default=None, metadata=wire(U16, group="auto_lock"))
    auto_unlock_disabled: int | None = field(default=None, metadata=wire(U8, group="auto_lock"))
    night_mode_enabled: int | None = field(default=None, metadata=wire(U8, group="auto_lock"))
    night_mode_start_time: NukiTime | None = field(
        default=None, metadata=wire(TIME, group="auto_lock")
    )
    night_mode_end_time: NukiTime | None = field(
        default=None, metadata=wire(TIME, group="auto_lock")
    )
    night_mode_auto_lock_enabled: int | None = field(
        default=None, metadata=wire(U8, group="auto_lock")
    )
    night_mode_auto_unlock_disabled: int | None = field(
        default=None, metadata=wire(U8, group="auto_lock")
    )
    night_mode_immediate_lock_on_start: int | None = field(
        default=None, metadata=wire(U8, group="auto_lock")
    )
    auto_lock_enabled: int | None = field(default=None, metadata=wire(U8, group="auto_lock"))
    immediate_auto_lock_enabled: int | None = field(
        default=None, metadata=wire(U8, group="auto_lock")
    )
    auto_update_enabled: int | None = field(default=None, metadata=wire(U8, group="auto_lock"))
    extra: bytes = field(default=b"", metadata=wire(REST))


# -- log --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class RequestLogEntries(Command):
    COMMAND_ID = CommandId.REQUEST_LOG_ENTRIES
    NAME = "Request Log Entries"
    PIN_PROTECTED = True
    start_index: int = field(metadata=wire(U32))
    count: int = field(metadata=wire(U16))
    sort_order: int = field(metadata=wire(U8))
    total_count: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class LoggingEnabledLogData(Struct):
    """Data of log entry type 0x01. Firmware with keypad support pads every log entry's data
    to 5 bytes (as pyNukiBT reads real locks); the padding is kept, not interpreted."""

    logging_enabled: int = field(metadata=wire(U8))
    padding: bytes = field(default=b"", metadata=wire(REST))


@dataclass(frozen=True, kw_only=True)
class LockActionLogData(Struct):
    """Data of log entry type 0x02 (padded to 5 bytes by firmware with keypad support)."""

    lock_action: int = field(metadata=wire(U8))
    trigger: int = field(metadata=wire(U8))
    auto_unlock_flag: int = field(metadata=wire(U8))
    completion_status: int = field(metadata=wire(U8))
    padding: bytes = field(default=b"", metadata=wire(REST))


@dataclass(frozen=True, kw_only=True)
class RawLogData(Struct):
    """Data of a log entry type this library does not know (later firmware): kept as bytes."""

    raw: bytes = field(metadata=wire(REST))


LogEntryData = LoggingEnabledLogData | LockActionLogData | RawLogData
LOG_DATA_TYPES: dict[int, type[LoggingEnabledLogData] | type[LockActionLogData]] = {
    0x01: LoggingEnabledLogData,
    0x02: LockActionLogData,
}


@dataclass(frozen=True, kw_only=True)
class LogEntry(Command):
    """One log entry; `data` is typed by `type` (RawLogData for unknown types)."""

    COMMAND_ID = CommandId.LOG_ENTRY
    NAME = "Log Entry"
    index: int = field(metadata=wire(U32))
    timestamp: NukiDateTime = field(metadata=wire(DATE))
    auth_id: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME32))
    type: int = field(metadata=wire(U8))
    data: LogEntryData = field(metadata=wire(None))

    def problem(self) -> str | None:
        expected = LOG_DATA_TYPES.get(self.type, RawLogData)
        if not isinstance(self.data, expected):
            return f"log entry type {self.type} carries {expected.__name__}"
        return None

    def encode(self) -> bytes:
        issue = self.problem()
        if issue:
            raise ValueError(f"LogEntry: {issue}")
        return _write_fields(self, _wire_fields(type(self))[:-1]) + self.data.encode()

    @classmethod
    def decode(cls, payload: bytes) -> Self:
        reader = Reader(payload)
        values = _read_fields(cls, _wire_fields(cls)[:-1], reader)
        data_cls = LOG_DATA_TYPES.get(values["type"], RawLogData)
        try:
            values["data"] = data_cls.decode(reader.rest())
        except ProtocolError as exc:
            raise type(exc)(f"LogEntry type {values['type']}: {exc}") from None
        return cls._finish(values, reader)

    @classmethod
    def fixed_size(cls) -> int | None:
        return None


@dataclass(frozen=True, kw_only=True)
class LogEntryCount(Command):
    """3 bytes in spec v1.10; firmware with keypad support adds the door sensor's two flags."""

    COMMAND_ID = CommandId.LOG_ENTRY_COUNT
    NAME = "Log Entry Count"
    logging_enabled: int = field(metadata=wire(U8))
    count: int = field(metadata=wire(U16))
    door_sensor_enabled: int | None = field(default=None, metadata=wire(U8, group="door_sensor"))
    door_sensor_logging_enabled: int | None = field(
        default=None, metadata=wire(U8, group="door_sensor")
    )
    extra: bytes = field(default=b"", metadata=wire(REST))


@dataclass(frozen=True, kw_only=True)
class EnableLogging(Command):
    COMMAND_ID = CommandId.ENABLE_LOGGING
    NAME = "Enable Logging"
    PIN_PROTECTED = True
    enabled: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


# -- time control ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class AddTimeControlEntry(Command):
    COMMAND_ID = CommandId.ADD_TIME_CONTROL_ENTRY
    NAME = "Add Time Control Entry"
    PIN_PROTECTED = True
    weekdays: int = field(metadata=wire(U8))
    time: NukiTime = field(metadata=wire(TIME))
    lock_action: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class TimeControlEntryId(Command):
    COMMAND_ID = CommandId.TIME_CONTROL_ENTRY_ID
    NAME = "Time Control Entry ID"
    entry_id: int = field(metadata=wire(U8))


@dataclass(frozen=True, kw_only=True)
class RemoveTimeControlEntry(Command):
    COMMAND_ID = CommandId.REMOVE_TIME_CONTROL_ENTRY
    NAME = "Remove Time Control Entry"
    PIN_PROTECTED = True
    entry_id: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class RequestTimeControlEntries(Command):
    COMMAND_ID = CommandId.REQUEST_TIME_CONTROL_ENTRIES
    NAME = "Request Time Control Entries"
    PIN_PROTECTED = True
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class TimeControlEntryCount(Command):
    COMMAND_ID = CommandId.TIME_CONTROL_ENTRY_COUNT
    NAME = "Time Control Entry Count"
    count: int = field(metadata=wire(U8))


@dataclass(frozen=True, kw_only=True)
class TimeControlEntry(Command):
    COMMAND_ID = CommandId.TIME_CONTROL_ENTRY
    NAME = "Time Control Entry"
    entry_id: int = field(metadata=wire(U8))
    enabled: int = field(metadata=wire(U8))
    weekdays: int = field(metadata=wire(U8))
    time: NukiTime = field(metadata=wire(TIME))
    lock_action: int = field(metadata=wire(U8))


@dataclass(frozen=True, kw_only=True)
class UpdateTimeControlEntry(Command):
    COMMAND_ID = CommandId.UPDATE_TIME_CONTROL_ENTRY
    NAME = "Update Time Control Entry"
    PIN_PROTECTED = True
    entry_id: int = field(metadata=wire(U8))
    enabled: int = field(metadata=wire(U8))
    weekdays: int = field(metadata=wire(U8))
    time: NukiTime = field(metadata=wire(TIME))
    lock_action: int = field(metadata=wire(U8))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


# -- keypad codes (later spec versions; layouts from FACTS.md) ---------------------------------


@dataclass(frozen=True, kw_only=True)
class AddKeypadCode(Command):
    COMMAND_ID = CommandId.ADD_KEYPAD_CODE
    NAME = "Add Keypad Code"
    PIN_PROTECTED = True
    code: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME20))
    time_limited: int = field(metadata=wire(U8))
    allowed_from_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_until_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_weekdays: int = field(metadata=wire(U8))
    allowed_from_time: NukiTime = field(metadata=wire(TIME))
    allowed_until_time: NukiTime = field(metadata=wire(TIME))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))

    def __repr__(self) -> str:  # keypad codes never go to logs (docs/design.md, invariant 5)
        return f"AddKeypadCode(name={self.name!r}, code=<hidden>)"


@dataclass(frozen=True, kw_only=True)
class KeypadCodeId(Command):
    COMMAND_ID = CommandId.KEYPAD_CODE_ID
    NAME = "Keypad Code ID"
    code_id: int = field(metadata=wire(U16))
    date_created: NukiDateTime = field(metadata=wire(DATE))


@dataclass(frozen=True, kw_only=True)
class RequestKeypadCodes(Command):
    COMMAND_ID = CommandId.REQUEST_KEYPAD_CODES
    NAME = "Request Keypad Codes"
    PIN_PROTECTED = True
    offset: int = field(metadata=wire(U16))
    count: int = field(metadata=wire(U16))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


@dataclass(frozen=True, kw_only=True)
class KeypadCodeCount(Command):
    COMMAND_ID = CommandId.KEYPAD_CODE_COUNT
    NAME = "Keypad Code Count"
    count: int = field(metadata=wire(U16))


@dataclass(frozen=True, kw_only=True)
class KeypadCode(Command):
    """One stored code. The allowed-* fields are None when the lock left them out (firmware
    that sends them only for time-limited codes); both lengths decode."""

    COMMAND_ID = CommandId.KEYPAD_CODE
    NAME = "Keypad Code"
    code_id: int = field(metadata=wire(U16))
    code: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME20))
    enabled: int = field(metadata=wire(U8))
    date_created: NukiDateTime = field(metadata=wire(DATE))
    date_last_active: NukiDateTime = field(metadata=wire(DATE))
    lock_count: int = field(metadata=wire(U16))
    time_limited: int = field(metadata=wire(U8))
    allowed_from_date: NukiDateTime | None = field(default=None, metadata=wire(DATE, group="time"))
    allowed_until_date: NukiDateTime | None = field(default=None, metadata=wire(DATE, group="time"))
    allowed_weekdays: int | None = field(default=None, metadata=wire(U8, group="time"))
    allowed_from_time: NukiTime | None = field(default=None, metadata=wire(TIME, group="time"))
    allowed_until_time: NukiTime | None = field(default=None, metadata=wire(TIME, group="time"))

    def problem(self) -> str | None:
        return _time_group_problem(self)

    def __repr__(self) -> str:
        return f"KeypadCode(code_id={self.code_id}, name={self.name!r}, code=<hidden>)"


@dataclass(frozen=True, kw_only=True)
class UpdateKeypadCode(Command):
    COMMAND_ID = CommandId.UPDATE_KEYPAD_CODE
    NAME = "Update Keypad Code"
    PIN_PROTECTED = True
    code_id: int = field(metadata=wire(U16))
    code: int = field(metadata=wire(U32))
    name: str = field(metadata=wire(NAME20))
    enabled: int = field(metadata=wire(U8))
    time_limited: int = field(metadata=wire(U8))
    allowed_from_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_until_date: NukiDateTime = field(metadata=wire(DATE))
    allowed_weekdays: int = field(metadata=wire(U8))
    allowed_from_time: NukiTime = field(metadata=wire(TIME))
    allowed_until_time: NukiTime = field(metadata=wire(TIME))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))

    def __repr__(self) -> str:
        return f"UpdateKeypadCode(code_id={self.code_id}, name={self.name!r}, code=<hidden>)"


@dataclass(frozen=True, kw_only=True)
class RemoveKeypadCode(Command):
    COMMAND_ID = CommandId.REMOVE_KEYPAD_CODE
    NAME = "Remove Keypad Code"
    PIN_PROTECTED = True
    code_id: int = field(metadata=wire(U16))
    nonce_k: bytes = field(metadata=wire(NONCE))
    security_pin: SecurityPin = field(metadata=wire(PIN))


# -- registry helpers ----------------------------------------------------------------------------


def command_class(command_id: int) -> type[Command]:
    """The class for a command identifier; `UnknownCommandError` if there is none."""
    try:
        return COMMANDS[command_id]
    except KeyError:
        raise UnknownCommandError(command_id) from None


def command_name(command_id: int) -> str:
    """The spec's title of a command, or a hex placeholder for unknown identifiers."""
    cls = COMMANDS.get(command_id)
    return cls.NAME if cls else f"Unknown 0x{command_id:04X}"


def decode_command(command_id: int, payload: bytes) -> Command:
    """Decode the payload of command `command_id` into its typed object."""
    return command_class(command_id).decode(payload)


def plain_frame_size(command_id: int) -> int | None:
    """Size of a whole unencrypted frame of this command when its layout is fixed, else None.

    Lets a receiver tell where an unencrypted message split over several indications ends.
    """
    cls = COMMANDS.get(command_id)
    size = cls.fixed_size() if cls else None
    return None if size is None else 2 + size + 2


def to_jsonable(value: Any) -> Any:
    """JSON form of a command or field: dates as ISO text, bytes as hex, PINs and enums as
    integers, nested structs as objects, non-finite floats as text."""
    if isinstance(value, Struct):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, NukiDateTime | NukiTime):
        return value.isoformat()
    if isinstance(value, SecurityPin):
        return value.value
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
