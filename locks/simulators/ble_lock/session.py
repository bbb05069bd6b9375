"""One connection to the simulated lock: its transport, and the framing and crypto on it.

A `Session` is what a BLE link is on the real device: the transport, whether a bridge
forwards it (remote access), its own pairing exchange, and the way answers go out (plain
frames on the pairing characteristic, frames encrypted with an authorization's shared key on
the user-specific one). The helpers below turn undecodable frames into the error codes the
lock answers with.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from locks.nuki.ble import commands as c
from locks.nuki.ble.crypto import RandomSource
from locks.nuki.ble.errors import (
    CrcError,
    LengthError,
    NukiErrorCode,
    ProtocolError,
    UnknownCommandError,
)
from locks.nuki.ble.frames import COMMAND_SIZE, frame_encrypted, frame_plain
from locks.nuki.ble.gatt import NukiProfile
from locks.nuki.ble.transport import Transport

from .model import Authorization
from .pairing import PairingExchange


@dataclass(eq=False)
class Session:
    """One connection to the lock (what a BLE link is on the real device)."""

    transport: Transport
    via_bridge: bool
    pairing: PairingExchange
    profile: NukiProfile
    random: RandomSource
    task: asyncio.Task[None] | None = None

    async def send_plain(self, characteristic: str, command: c.Command) -> None:
        await self.transport.send(characteristic, frame_plain(command))

    async def send_encrypted(self, auth: Authorization, *answers: c.Command) -> None:
        """Answers on the user-specific characteristic, encrypted with `auth`'s shared key."""
        for answer in answers:
            frame = frame_encrypted(
                answer, auth.shared_key, auth.authorization_id, random=self.random
            )
            await self.transport.send(self.profile.usdio, frame)

    async def drop(self) -> None:
        """Close the link (the lock hanging up); a link already gone is fine."""
        with contextlib.suppress(Exception):
            await self.transport.close()


def error_report(code: int, command_id: int) -> c.ErrorReport:
    return c.ErrorReport(error_code=code, command_identifier=command_id & 0xFFFF)


def command_id_of(data: bytes) -> int:
    """The command identifier of an unencrypted frame, 0 if there is none."""
    return int.from_bytes(data[:COMMAND_SIZE], "little") if len(data) >= COMMAND_SIZE else 0


def protocol_error_code(exc: ProtocolError, *, pairing: bool = False) -> int:
    """The error code for a frame that could not be decoded."""
    if isinstance(exc, CrcError):
        return NukiErrorCode.ERROR_BAD_CRC
    if isinstance(exc, LengthError):
        return NukiErrorCode.ERROR_BAD_LENGTH
    if isinstance(exc, UnknownCommandError):
        return NukiErrorCode.ERROR_UNKNOWN
    if pairing:
        return NukiErrorCode.P_ERROR_BAD_PARAMETER
    return NukiErrorCode.K_ERROR_BAD_PARAMETER
