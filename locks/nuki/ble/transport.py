"""The transport interface the client talks through, and an in-memory pair for tests.

A transport moves whole messages: it splits what it sends into writes of at most MTU - 3 bytes
(or uses GATT long writes) and reassembles indications into messages before handing them up,
tagged with the characteristic they arrived on. That keeps the client free of radio details,
so the same client runs over bleak on a Raspberry Pi, over a simulator, or over the loopback
below.
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass

from .errors import ProtocolError
from .frames import Reassembler, split_chunks
from .gatt import DEFAULT_MTU, ENCRYPTED_CHARACTERISTICS, MAX_MTU, chunk_size_for


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
    """One end of an in-memory link with an ATT MTU; make both ends with `pair()`.

    Like a BLE link, the link has one ATT MTU for both directions: 23 until an MTU exchange
    (`exchange_mtu()`) raises it to what both ends accept (`max_mtu` each). Every message
    really travels as pieces of at most MTU - 3 bytes (indications one way, chunked writes the
    other) through a `Reassembler` per characteristic, so tests exercise the same reassembly a
    radio link needs. Everything a side sent is kept in `sent`, and the sizes of the pieces it
    sent in `chunk_sizes` (size -> count), for assertions.
    """

    def __init__(
        self,
        *,
        mtu: int = DEFAULT_MTU,
        max_mtu: int = MAX_MTU,
        encrypted_characteristics: frozenset[str] = ENCRYPTED_CHARACTERISTICS,
    ) -> None:
        chunk_size_for(mtu)  # validates
        chunk_size_for(max_mtu)
        self.mtu = mtu
        self.max_mtu = max_mtu
        self.encrypted_characteristics = encrypted_characteristics
        self.peer: LoopbackTransport | None = None
        self.sent: list[Message] = []
        self.chunk_sizes: Counter[int] = Counter()
        self.closed = False
        self._inbox: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._reassemblers: dict[str, Reassembler] = {}

    @classmethod
    def pair(
        cls, *, mtu: int = DEFAULT_MTU, max_mtu: int = MAX_MTU, peer_max_mtu: int = MAX_MTU
    ) -> tuple[LoopbackTransport, LoopbackTransport]:
        """Two connected ends (for example client side and lock side) at ATT MTU `mtu`; each
        accepts at most its max_mtu in a later exchange."""
        a, b = cls(mtu=mtu, max_mtu=max_mtu), cls(mtu=mtu, max_mtu=peer_max_mtu)
        a.peer, b.peer = b, a
        return a, b

    @property
    def chunk_size(self) -> int:
        """The largest piece one indication or write carries on this link: MTU - 3."""
        return chunk_size_for(self.mtu)

    def exchange_mtu(self, mtu: int) -> int:
        """ATT Exchange MTU: ask for `mtu`; both ends use the smaller of it and what the peer
        accepts (never below 23). Returns the link's new MTU."""
        peer = self.peer
        if peer is None or self.closed or peer.closed:
            raise ConnectionError("loopback link is closed")
        agreed = max(DEFAULT_MTU, min(mtu, self.max_mtu, peer.max_mtu))
        for end in (self, peer):
            end.mtu = agreed
            for reassembler in end._reassemblers.values():
                reassembler.chunk_size = chunk_size_for(agreed)
        return agreed

    async def send(self, characteristic: str, data: bytes) -> None:
        if self.closed or self.peer is None or self.peer.closed:
            raise ConnectionError("loopback link is closed")
        self.sent.append(Message(characteristic, bytes(data)))
        for chunk in split_chunks(bytes(data), self.chunk_size):
            self.chunk_sizes[len(chunk)] += 1
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
