"""The exchanges every request is built from (see `client` for the protocol's shape): framing
and encrypting commands, waiting for the answer while skipping what belongs to no exchange,
the nonce (challenge) and security-PIN steps, and listings gathered until Status COMPLETE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import commands as c
from .constants import CommandId, IdType, StatusCode
from .crypto import (
    RandomSource,
    random_bytes,
)
from .errors import NukiErrorReport, UnexpectedMessageError
from .frames import ENCRYPTED_HEADER_SIZE, frame_encrypted, frame_plain, read_encrypted, read_plain
from .gatt import SMART_LOCK, NukiProfile
from .transport import Message, Transport
from .values import (
    SecurityPin,
)

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=c.Command)


@dataclass(frozen=True)
class Credentials:
    """What pairing yields and every later session needs. Store `shared_key` as a secret."""

    authorization_id: int
    shared_key: bytes = field(repr=False)
    app_id: int
    id_type: int = IdType.APP
    lock_public_key: bytes = b""
    lock_uuid: bytes = b""


@dataclass(frozen=True)
class Listing(Generic[T]):
    """Entries of a listing plus the total the lock announced (None if it sent no count)."""

    total: int | None
    entries: list[T]


class Exchange:
    """One lock over one transport: sending and receiving commands, the nonce and PIN
    exchanges, listings. Not safe for concurrent use: one exchange at a time, as the lock
    itself handles one command at a time (an internal lock enforces it)."""

    def __init__(
        self,
        transport: Transport,
        *,
        credentials: Credentials | None = None,
        security_pin: SecurityPin | int | None = None,
        profile: NukiProfile = SMART_LOCK,
        timeout: float = 3.0,
        action_timeout: float = 30.0,
        random: RandomSource = random_bytes,
    ) -> None:
        self.transport = transport
        self.credentials = credentials
        self.security_pin = (
            SecurityPin(security_pin) if isinstance(security_pin, int) else security_pin
        )
        self.profile = profile
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.random = random
        self.last_states: c.NukiStates | None = None
        self._busy = asyncio.Lock()

    # -- sending and receiving ----------------------------------------------------------------

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            raise RuntimeError("not paired: pass credentials or call pair() first")
        return self.credentials

    def _pin(self) -> SecurityPin:
        if self.security_pin is None:
            raise ValueError("this command needs the security PIN (security_pin=...)")
        return self.security_pin

    async def send_plain(self, command: c.Command, characteristic: str | None = None) -> None:
        """Send an unencrypted command (pairing characteristic unless told otherwise)."""
        logger.debug("send %s (plain)", command.NAME)
        await self.transport.send(characteristic or self.profile.pairing_gdio, frame_plain(command))

    async def send_encrypted(self, command: c.Command) -> None:
        """Send a command encrypted with our shared key on the user-specific characteristic."""
        creds = self._credentials()
        logger.debug("send %s (encrypted)", command.NAME)
        frame = frame_encrypted(
            command, creds.shared_key, creds.authorization_id, random=self.random
        )
        await self.transport.send(self.profile.usdio, frame)

    def _decode(self, message: Message) -> c.Command:
        encrypted = (
            message.characteristic in self.profile.encrypted_characteristics
            and len(message.data) >= ENCRYPTED_HEADER_SIZE
        )
        if not encrypted:
            return read_plain(message.data)
        creds = self._credentials()
        auth_id, command = read_encrypted(message.data, creds.shared_key)
        if auth_id != creds.authorization_id:
            raise UnexpectedMessageError(
                f"message for authorization {auth_id}, we are {creds.authorization_id}"
            )
        return command

    async def receive_command(self, timeout: float | None = None) -> c.Command:
        """Next decoded command; an Error Report is raised as `NukiErrorReport`."""
        message = await self.transport.receive(self.timeout if timeout is None else timeout)
        command = self._decode(message)
        logger.debug("received %s", command.NAME)
        if isinstance(command, c.ErrorReport):
            raise NukiErrorReport(command.error_code, command.command_identifier)
        return command

    async def expect(self, *types: type[c.Command], timeout: float | None = None) -> c.Command:
        """Wait for a command of one of `types`, skipping unrelated ones, within `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.timeout if timeout is None else timeout)
        names = ", ".join(t.NAME for t in types)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"no {names} from the lock in time")
            try:
                command = await self.receive_command(remaining)
            except TimeoutError:
                raise TimeoutError(f"no {names} from the lock in time") from None
            if isinstance(command, types):
                return command
            if isinstance(command, c.NukiStates):
                self.last_states = command
            logger.debug("skipping %s while waiting for %s", command.NAME, names)

    async def _expect_complete(self, *, long_running: bool = False) -> None:
        """Wait for Status COMPLETE; after ACCEPTED allow `action_timeout` for completion."""
        timeout = self.action_timeout if long_running else self.timeout
        while True:
            status = await self.expect(c.Status, timeout=timeout)
            assert isinstance(status, c.Status)
            if status.status == StatusCode.COMPLETE:
                return
            if status.status == StatusCode.ACCEPTED:
                timeout = self.action_timeout
                continue
            raise UnexpectedMessageError(f"unknown status 0x{status.status:02X}")

    async def challenge(self) -> bytes:
        """Request Data(Challenge) and return the lock's nonce n_K."""
        await self.send_encrypted(c.RequestData(command_identifier=CommandId.CHALLENGE))
        answer = await self.expect(c.Challenge)
        assert isinstance(answer, c.Challenge)
        return answer.nonce_k

    async def request_data(self, answer: type[T]) -> T:
        """Request Data(answer's command) and return the answer (states, battery report...)."""
        async with self._busy:
            await self.send_encrypted(c.RequestData(command_identifier=answer.COMMAND_ID))
            result = await self.expect(answer)
        assert isinstance(result, answer)
        return result

    async def _pin_command(self, cls: type[c.Command], **fields: Any) -> None:
        nonce = await self.challenge()
        await self.send_encrypted(cls(**fields, nonce_k=nonce, security_pin=self._pin()))

    async def _collect(
        self,
        entry_type: type[T],
        count_type: type[c.Command] | None,
        requested: int,
        offset: int = 0,
    ) -> Listing[T]:
        """Gather entries until Status COMPLETE. If the lock goes quiet instead, return what
        arrived as long as it is everything that was asked for or announced."""
        total: int | None = None
        entries: list[T] = []
        types: Sequence[type[c.Command]] = (entry_type, c.Status) + (
            (count_type,) if count_type else ()
        )
        while True:
            try:
                answer = await self.expect(*types)
            except TimeoutError:
                everything_asked = len(entries) >= requested
                everything_announced = total is not None and offset + len(entries) >= total
                if everything_asked or everything_announced:
                    return Listing(total, entries)
                raise
            if count_type is not None and isinstance(answer, count_type):
                total = answer.count  # type: ignore[attr-defined]
            elif isinstance(answer, entry_type):
                entries.append(answer)
            elif isinstance(answer, c.Status) and answer.status == StatusCode.COMPLETE:
                return Listing(total, entries)
