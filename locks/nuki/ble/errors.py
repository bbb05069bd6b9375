"""Exceptions of the Nuki BLE library.

Two families, kept apart on purpose because callers react to them differently:

* `ProtocolError`: bytes that do not form a valid message (bad CRC, wrong length, failed
  decryption, unknown command, a reply that makes no sense at this point of an exchange).
  Every decoder raises this type and nothing else, so one `except ProtocolError` is enough to
  survive a weak radio link; the usual reaction is to retry or reconnect.
* `NukiErrorReport`: the lock understood us and refused (Error Report 0x0012). The error code
  says why, and retrying is only useful for a few codes (busy, CRC errors on a weak link).
"""

from __future__ import annotations

from enum import IntEnum


class NukiBleError(Exception):
    """Base class of everything this package raises on purpose."""


class ProtocolError(NukiBleError):
    """A frame or payload could not be decoded, or broke the protocol's rules."""


class CrcError(ProtocolError):
    """The CRC of an unencrypted message (or of decrypted PDATA) does not match."""


class LengthError(ProtocolError):
    """A frame or payload is shorter or longer than its layout allows."""


class DecryptionError(ProtocolError):
    """An encrypted frame failed authentication: wrong shared key or tampered bytes."""


class UnknownCommandError(ProtocolError):
    """The command identifier is not one this library knows."""

    def __init__(self, command_id: int) -> None:
        super().__init__(f"unknown command identifier 0x{command_id:04X}")
        self.command_id = command_id


class UnexpectedMessageError(ProtocolError):
    """A well-formed message arrived that the current exchange does not allow."""


class AuthenticationError(ProtocolError):
    """An authenticator received during pairing does not match our own calculation."""


class NukiErrorCode(IntEnum):
    """Error codes of Error Report (0x0012): spec v1.10 plus the later keypad codes."""

    # General error codes
    ERROR_BAD_CRC = 0xFD
    ERROR_BAD_LENGTH = 0xFE
    ERROR_UNKNOWN = 0xFF
    # Pairing service error codes
    P_ERROR_NOT_PAIRING = 0x10
    P_ERROR_BAD_AUTHENTICATOR = 0x11
    P_ERROR_BAD_PARAMETER = 0x12
    P_ERROR_MAX_USER = 0x13
    # Keyturner service error codes
    K_ERROR_NOT_AUTHORIZED = 0x20
    K_ERROR_BAD_PIN = 0x21
    K_ERROR_BAD_NONCE = 0x22
    K_ERROR_BAD_PARAMETER = 0x23
    K_ERROR_INVALID_AUTH_ID = 0x24
    K_ERROR_DISABLED = 0x25
    K_ERROR_REMOTE_NOT_ALLOWED = 0x26
    K_ERROR_TIME_NOT_ALLOWED = 0x27
    K_ERROR_TOO_MANY_PIN_ATTEMPTS = 0x28
    # Later spec versions (keypad codes); see FACTS.md
    K_ERROR_TOO_MANY_ENTRIES = 0x29
    K_ERROR_CODE_ALREADY_EXISTS = 0x2A
    K_ERROR_CODE_INVALID = 0x2B
    K_ERROR_AUTO_UNLOCK_TOO_RECENT = 0x40
    K_ERROR_POSITION_UNKNOWN = 0x41
    K_ERROR_MOTOR_BLOCKED = 0x42
    K_ERROR_CLUTCH_FAILURE = 0x43
    K_ERROR_MOTOR_TIMEOUT = 0x44
    K_ERROR_BUSY = 0x45


# Codes where the same request may succeed a moment later: the lock was busy, or the radio
# garbled the message (FACTS.md: weak links give CRC errors).
_RETRYABLE = frozenset(
    {NukiErrorCode.K_ERROR_BUSY, NukiErrorCode.ERROR_BAD_CRC, NukiErrorCode.ERROR_BAD_LENGTH}
)


def error_name(code: int) -> str:
    """Return the spec name of an error code, or a stable placeholder for unknown codes."""
    try:
        return NukiErrorCode(code).name
    except ValueError:
        return f"UNKNOWN_ERROR_0x{code & 0xFF:02X}"


class NukiErrorReport(NukiBleError):
    """The lock answered with Error Report (0x0012).

    `error_code` is the raw byte (0..255) so that codes newer than this library survive;
    `name` resolves it to the spec name.
    """

    def __init__(self, error_code: int, command_identifier: int | None = None) -> None:
        self.error_code = error_code
        self.command_identifier = command_identifier
        self.name = error_name(error_code)
        where = "" if command_identifier is None else f" for command 0x{command_identifier:04X}"
        super().__init__(f"lock reported {self.name} (0x{error_code:02X}){where}")

    @property
    def retryable(self) -> bool:
        """True when repeating the same request later may succeed."""
        return self.error_code in _RETRYABLE
