"""The transport interface the client talks through, and an in-memory pair for tests.

A transport moves whole messages: it splits what it sends into writes of at most 20 bytes
(or uses GATT long writes) and reassembles indications into messages before handing them up,
tagged with the characteristic they arrived on. That keeps the client free of radio details,
so the same client runs over bleak on a Raspberry Pi, over a simulator, or over the loopback
below.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

from .errors import ProtocolError
from .frames import Reassembler, split_chunks
from .gatt import ENCRYPTED_CHARACTERISTICS, MAX_CHUNK


@dataclass(frozen=True)
class Message:
    """One whole message received on `characteristic` (a full 128-bit UUID)."""

    characteristic: str
    data: bytes


class Transport(ABC):
    """What the client needs from a BLE connection (or a stand-in for one)."""

    @abstractmethod
    async def send(self, characteristic: str, data: bytes) -> None:
        """Write a whole message to a characteristic (chunking is the transport's business)."""

    @abstractmethod
    async def receive(self, timeout: float | None = None) -> Message:
        """Next whole message from any subscribed characteristic.

        Raises TimeoutError when nothing arrives within `timeout` seconds, ConnectionError when
        the link is gone, and ProtocolError when indications could not be reassembled.
        """

    @abstractmethod
    async def close(self) -> None:
        """Drop the connection; further calls raise ConnectionError."""


class LoopbackTransport(Transport):
    """One end of an in-memory link; make both ends with `LoopbackTransport.pair()`.

    Messages really travel as chunks of `chunk_size` bytes through a `Reassembler` per
    characteristic, so tests exercise the same reassembly a radio link needs. Everything a side
    sent is kept in `sent` for assertions.
    """

    def __init__(
        self,
        *,
        chunk_size: int = MAX_CHUNK,
        encrypted_characteristics: frozenset[str] = ENCRYPTED_CHARACTERISTICS,
    ) -> None:
        self.chunk_size = chunk_size
        self.encrypted_characteristics = encrypted_characteristics
        self.peer: LoopbackTransport | None = None
        self.sent: list[Message] = []
        self.closed = False
        self._inbox: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._reassemblers: dict[str, Reassembler] = {}

    @classmethod
    def pair(cls, *, chunk_size: int = MAX_CHUNK) -> tuple[LoopbackTransport, LoopbackTransport]:
        """Two connected ends (for example client side and lock side)."""
        a, b = cls(chunk_size=chunk_size), cls(chunk_size=chunk_size)
        a.peer, b.peer = b, a
        return a, b

    async def send(self, characteristic: str, data: bytes) -> None:
        if self.closed or self.peer is None or self.peer.closed:
            raise ConnectionError("loopback link is closed")
        self.sent.append(Message(characteristic, bytes(data)))
        for chunk in split_chunks(bytes(data), self.chunk_size):
            self.peer._deliver(characteristic, chunk)

    def _deliver(self, characteristic: str, chunk: bytes) -> None:
        reassembler = self._reassemblers.get(characteristic)
        if reassembler is None:
            reassembler = Reassembler(
                encrypted=characteristic in self.encrypted_characteristics,
                chunk_size=self.chunk_size,
            )
            self._reassemblers[characteristic] = reassembler
        try:
            for message in reassembler.feed(chunk):
                self._inbox.put_nowait(Message(characteristic, message))
        except ProtocolError as exc:
            self._inbox.put_nowait(exc)

    async def receive(self, timeout: float | None = None) -> Message:
        if self.closed:
            raise ConnectionError("loopback link is closed")
        if self._inbox.empty() and (self.peer is None or self.peer.closed):
            raise ConnectionError("peer closed the link")  # every time, not only once
        item = await asyncio.wait_for(self._inbox.get(), timeout)
        if isinstance(item, BaseException):
            raise item
        return item

    def pending(self) -> int:
        """Messages (or errors) waiting to be received."""
        return self._inbox.qsize()

    async def close(self) -> None:
        self.closed = True
        if self.peer is not None and not self.peer.closed:
            with contextlib.suppress(asyncio.QueueFull):
                self.peer._inbox.put_nowait(ConnectionError("peer closed the link"))
