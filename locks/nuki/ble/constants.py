"""Named values of the spec's enumerated fields.

Decoded commands keep these fields as plain integers so that a value newer than this library
(a new lock state, a new trigger) still decodes; compare against these enums, which are
`IntEnum`s and therefore equal to the integers.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class CommandId(IntEnum):
    """Command identifiers of spec v1.10 plus the keypad commands of later versions."""

    REQUEST_DATA = 0x0001
    PUBLIC_KEY = 0x0003
    CHALLENGE = 0x0004
    AUTHORIZATION_AUTHENTICATOR = 0x0005
    AUTHORIZATION_DATA = 0x0006
    AUTHORIZATION_ID = 0x0007
    REMOVE_AUTHORIZATION_ENTRY = 0x0008
    REQUEST_AUTHORIZATION_ENTRIES = 0x0009
    AUTHORIZATION_ENTRY = 0x000A
    AUTHORIZATION_DATA_INVITE = 0x000B
    NUKI_STATES = 0x000C
    LOCK_ACTION = 0x000D
    STATUS = 0x000E
    MOST_RECENT_COMMAND = 0x000F
    OPENINGS_CLOSINGS_SUMMARY = 0x0010
    BATTERY_REPORT = 0x0011
    ERROR_REPORT = 0x0012
    SET_CONFIG = 0x0013
    REQUEST_CONFIG = 0x0014
    CONFIG = 0x0015
    SET_SECURITY_PIN = 0x0019
    REQUEST_CALIBRATION = 0x001A
    REQUEST_REBOOT = 0x001D
    AUTHORIZATION_ID_CONFIRMATION = 0x001E
    AUTHORIZATION_ID_INVITE = 0x001F
    VERIFY_SECURITY_PIN = 0x0020
    UPDATE_TIME = 0x0021
    UPDATE_AUTHORIZATION_ENTRY = 0x0025
    AUTHORIZATION_ENTRY_COUNT = 0x0027
    REQUEST_DISCONNECT = 0x0030
    REQUEST_LOG_ENTRIES = 0x0031
    LOG_ENTRY = 0x0032
    LOG_ENTRY_COUNT = 0x0033
    ENABLE_LOGGING = 0x0034
    SET_ADVANCED_CONFIG = 0x0035
    REQUEST_ADVANCED_CONFIG = 0x0036
    ADVANCED_CONFIG = 0x0037
    ADD_TIME_CONTROL_ENTRY = 0x0039
    TIME_CONTROL_ENTRY_ID = 0x003A
    REMOVE_TIME_CONTROL_ENTRY = 0x003B
    REQUEST_TIME_CONTROL_ENTRIES = 0x003C
    TIME_CONTROL_ENTRY_COUNT = 0x003D
    TIME_CONTROL_ENTRY = 0x003E
    UPDATE_TIME_CONTROL_ENTRY = 0x003F
    ADD_KEYPAD_CODE = 0x0041
    KEYPAD_CODE_ID = 0x0042
    REQUEST_KEYPAD_CODES = 0x0043
    KEYPAD_CODE_COUNT = 0x0044
    KEYPAD_CODE = 0x0045
    UPDATE_KEYPAD_CODE = 0x0046
    REMOVE_KEYPAD_CODE = 0x0047


class IdType(IntEnum):
    """Who an authorization belongs to. Pair as APP: pairing as BRIDGE unregisters a real
    Nuki Bridge (FACTS.md)."""

    APP = 0
    BRIDGE = 1
    FOB = 2


class StatusCode(IntEnum):
    COMPLETE = 0x00
    ACCEPTED = 0x01


class NukiState(IntEnum):
    UNINITIALIZED = 0x00
    PAIRING_MODE = 0x01
    DOOR_MODE = 0x02


class LockState(IntEnum):
    UNCALIBRATED = 0x00
    LOCKED = 0x01
    UNLOCKING = 0x02
    UNLOCKED = 0x03
    LOCKING = 0x04
    UNLATCHED = 0x05
    UNLOCKED_LOCK_N_GO = 0x06
    UNLATCHING = 0x07
    MOTOR_BLOCKED = 0xFE
    UNDEFINED = 0xFF


class Trigger(IntEnum):
    SYSTEM = 0x00
    MANUAL = 0x01
    BUTTON = 0x02


class LockAction(IntEnum):
    UNLOCK = 0x01
    LOCK = 0x02
    UNLATCH = 0x03
    LOCK_N_GO = 0x04
    LOCK_N_GO_WITH_UNLATCH = 0x05
    FOB_ACTION_1 = 0x81
    FOB_ACTION_2 = 0x82
    FOB_ACTION_3 = 0x83


class LockActionFlags(IntFlag):
    AUTO_UNLOCK = 0x01
    FORCE_UNLOCK = 0x02


class CompletionStatus(IntEnum):
    SUCCESS = 0x00
    MOTOR_BLOCKED = 0x01
    CANCELED = 0x02
    TOO_RECENT = 0x03
    BUSY = 0x04
    LOW_MOTOR_VOLTAGE = 0x05
    CLUTCH_FAILURE = 0x06
    MOTOR_POWER_FAILURE = 0x07
    OTHER_ERROR = 0xFE
    UNKNOWN = 0xFF


class DstMode(IntEnum):
    DISABLED = 0x00
    EUROPEAN = 0x01


class FobAction(IntEnum):
    NO_ACTION = 0x00
    UNLOCK = 0x01
    LOCK = 0x02
    LOCK_N_GO = 0x03
    INTELLIGENT = 0x04


class ButtonPressAction(IntEnum):
    NO_ACTION = 0x00
    INTELLIGENT = 0x01
    UNLOCK = 0x02
    LOCK = 0x03
    UNLATCH = 0x04
    LOCK_N_GO = 0x05
    SHOW_STATUS = 0x06


class BatteryType(IntEnum):
    ALKALI = 0x00
    ACCUMULATORS = 0x01
    LITHIUM = 0x02


class AdvertisingMode(IntEnum):
    """Config's advertising mode (firmware with keypad support)."""

    AUTOMATIC = 0x00
    NORMAL = 0x01
    SLOW = 0x02
    SLOWEST = 0x03


class HomeKitStatus(IntEnum):
    """Config's HomeKit status (firmware with keypad support)."""

    NOT_AVAILABLE = 0x00
    DISABLED = 0x01
    ENABLED = 0x02
    ENABLED_AND_PAIRED = 0x03


TIMEZONE_ID_NONE = 0xFFFF
"""Config's time zone id when none is set (ids 0..45 name zones, 37 = Europe/Berlin)."""


class SortOrder(IntEnum):
    ASCENDING = 0x00
    DESCENDING = 0x01


class LogEntryType(IntEnum):
    LOGGING_ENABLED = 0x01
    LOCK_ACTION = 0x02
