"""CRC-CCITT as the Nuki BLE spec defines it.

Polynomial 0x1021 ("normal" representation), initial remainder 0xFFFF, no reflection and no
final XOR (the variant often called CRC-16/CCITT-FALSE). The CRC covers every preceding byte of
the unencrypted message (PDATA) and is appended little-endian like every other integer.
"""

from __future__ import annotations

from .errors import CrcError, LengthError

POLYNOMIAL = 0x1021
INITIAL = 0xFFFF
CRC_SIZE = 2


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ POLYNOMIAL) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return tuple(table)


_TABLE = _make_table()


def crc_ccitt(data: bytes, initial: int = INITIAL) -> int:
    """Return the 16-bit CRC-CCITT of `data`."""
    crc = initial
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[((crc >> 8) ^ byte) & 0xFF]
    return crc


def append_crc(data: bytes) -> bytes:
    """Return `data` followed by its CRC, little-endian."""
    return data + crc_ccitt(data).to_bytes(CRC_SIZE, "little")


def strip_crc(message: bytes) -> bytes:
    """Check the trailing CRC of `message` and return the bytes it covers.

    Raises `CrcError` on a mismatch and `LengthError` if there is no room for a CRC.
    """
    if len(message) < CRC_SIZE:
        raise LengthError(f"message of {len(message)} bytes has no room for a CRC")
    body, received = message[:-CRC_SIZE], int.from_bytes(message[-CRC_SIZE:], "little")
    expected = crc_ccitt(body)
    if received != expected:
        raise CrcError(f"CRC mismatch: received 0x{received:04X}, computed 0x{expected:04X}")
    return body


def has_valid_crc(message: bytes) -> bool:
    """True if `message` ends with the CRC of the bytes before it."""
    return len(message) >= CRC_SIZE and crc_ccitt(message[:-CRC_SIZE]) == int.from_bytes(
        message[-CRC_SIZE:], "little"
    )
