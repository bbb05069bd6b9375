"""A `Transport` over bleak, for a real Nuki lock on a real Bluetooth adapter.

Thin on purpose: everything protocol-shaped lives elsewhere (framing and reassembly in
`frames`, the exchanges in `client`). This module only

* connects, with retries and exponential backoff (`RetryPolicy`; FACTS.md: pairing may need
  several tries, onboard Raspberry Pi radios are flaky), and subscribes to indications on the
  pairing and user-specific characteristics (bleak's BlueZ backend uses StartNotify, which is
  what indications need);
* writes a whole message with one write-with-response (`write_mode="long"`): the OS stack turns
  anything longer than the ATT MTU into the GATT "Write Long Characteristic Value" procedure the
  spec asks for. `write_mode="chunked"` instead writes pieces of at most MTU - 3 bytes (and at
  most `max_write` = 20, the characteristic's declared size), for stacks that refuse long
  writes;
* reassembles indications into messages with one `Reassembler` per characteristic and queues
  them for `receive()`. A lock sends indications of at most MTU - 3 bytes (20 at the default
  MTU of 23; the spec declares uint8[20]); the reassembler finds message ends from the content
  (the encrypted header's length, a command's fixed size, the CRC) and from indications
  shorter than the link's largest, so it needs no MTU figure, which BlueZ does not always
  report. `indication_size` only bounds one indication (default: the largest ATT allows);
* drops the link after `idle_timeout` seconds without traffic (the lock drops it after about
  20 s anyway) and reconnects on the next `send()`.

Importing this module needs neither a radio nor, until `connect()`, bleak itself. It cannot be
exercised against a lock here (no radio); its tests replace BleakClient by a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as _random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .errors import ProtocolError
from .frames import Reassembler, split_chunks
from .gatt import ATT_HEADER, DEFAULT_MTU, MAX_CHUNK, MAX_INDICATION, SMART_LOCK, NukiProfile
from .transport import Message, Transport

try:  # bleak is a runtime requirement, but the module stays importable without it
    from bleak.exc import BleakError as _BleakError
except ImportError:  # pragma: no cover - bleak is in requirements.txt

    class _BleakError(Exception):  # type: ignore[no-redef]
        pass


logger = logging.getLogger(__name__)

MAX_LONG_WRITE = 512
"""Largest attribute value a write-with-response may carry (bleak's documented limit)."""

RETRYABLE_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    _BleakError,
    TimeoutError,
    OSError,
    EOFError,
)
"""What a flaky radio raises while connecting; anything else is a bug and is not retried."""

ClientFactory = Callable[..., Any]
"""Makes a BleakClient-like object: factory(device, disconnected_callback=..., timeout=...)."""
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to try connecting.

    `attempts` tries in all; before try n+1 wait initial_delay * factor**(n-1), capped at
    `max_delay`, each delay stretched by a random factor up to `jitter` (0.1 = up to +10%) so
    several agents do not retry in lockstep.
    """

    attempts: int = 4
    initial_delay: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.initial_delay < 0 or self.factor < 1 or self.max_delay < 0 or self.jitter < 0:
            raise ValueError("delays must be non-negative and the factor at least 1")

    def delays(self, rand: Callable[[], float] = _random.random) -> list[float]:
        """The waits between attempts (attempts - 1 of them)."""
        out = []
        for n in range(self.attempts - 1):
            base = min(self.initial_delay * self.factor**n, self.max_delay)
            out.append(base * (1.0 + self.jitter * rand()))
        return out


def write_chunks(data: bytes, mtu: int, max_write: int = MAX_CHUNK) -> list[bytes]:
    """Pieces for chunked writes: at most MTU - 3 bytes and at most `max_write` each."""
    size = max(1, min(max_write, mtu - ATT_HEADER))
    return split_chunks(bytes(data), size)


def _default_client_factory(device: Any, **kwargs: Any) -> Any:
    from bleak import BleakClient  # imported late: only a real connection needs it

    return BleakClient(device, **kwargs)


class BleakTransport(Transport):
    """One BLE link to one lock. Use `await transport.connect()` first (or let the first
    `send()` connect); `close()` ends it for good."""

    def __init__(
        self,
        device: Any,
        *,
        profile: NukiProfile = SMART_LOCK,
        retry: RetryPolicy | None = None,
        connect_timeout: float = 15.0,
        idle_timeout: float | None = 20.0,
        write_mode: Literal["long", "chunked"] = "long",
        max_write: int = MAX_CHUNK,
        indication_size: int = MAX_INDICATION,
        characteristics: Iterable[str] | None = None,
        client_factory: ClientFactory = _default_client_factory,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if write_mode not in ("long", "chunked"):
            raise ValueError("write_mode is 'long' or 'chunked'")
        self.device = device
        self.profile = profile
        self.retry = retry or RetryPolicy()
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.write_mode = write_mode
        self.max_write = max_write
        self.indication_size = indication_size
        self.characteristics = tuple(
            c.lower() for c in (characteristics or (profile.pairing_gdio, profile.usdio))
        )
        self._factory = client_factory
        self._sleep = sleep
        self._client: Any = None
        self._connected = False
        self._closed = False
        self._queue: asyncio.Queue[Message | BaseException] = asyncio.Queue()
        self._reassemblers: dict[str, Reassembler] = {}
        self._connect_lock = asyncio.Lock()
        self._watchdog: asyncio.Task[None] | None = None
        self._last_activity = 0.0
        self._waiting = 0

    # -- state ----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected and not self._closed

    @property
    def mtu_size(self) -> int:
        """The negotiated ATT MTU (23 when unknown; BlueZ always reports 23)."""
        client = self._client
        try:
            return int(client.mtu_size) if client is not None else DEFAULT_MTU
        except Exception:  # some backends raise before the MTU exchange
            return DEFAULT_MTU

    def _touch(self) -> None:
        self._last_activity = asyncio.get_running_loop().time()

    # -- connecting -----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect and subscribe, retrying per `retry`; ConnectionError when all tries fail."""
        if self._closed:
            raise ConnectionError("transport is closed")
        async with self._connect_lock:
            if self._connected:
                return
            delays = self.retry.delays()
            last: BaseException | None = None
            for attempt in range(self.retry.attempts):
                if attempt:
                    delay = delays[attempt - 1]
                    logger.info("connect attempt %d in %.1f s", attempt + 1, delay)
                    await self._sleep(delay)
                try:
                    await self._connect_once()
                    return
                except RETRYABLE_CONNECT_ERRORS as exc:
                    last = exc
                    logger.warning("connect attempt %d failed: %s", attempt + 1, exc)
            raise ConnectionError(
                f"could not connect after {self.retry.attempts} attempts: {last}"
            ) from last

    async def _connect_once(self) -> None:
        client = self._factory(
            self.device,
            disconnected_callback=self._on_disconnect,
            services=[self.profile.pairing_service, self.profile.keyturner_service],
            timeout=self.connect_timeout,
        )
        self._client = client
        try:
            await client.connect()

            def on_indication(characteristic: Any, data: bytearray) -> None:
                self._on_indication(client, characteristic, data)

            for uuid in self.characteristics:
                await client.start_notify(uuid, on_indication, bluez={"use_start_notify": True})
        except BaseException:
            self._client = None
            with contextlib.suppress(Exception):
                await client.disconnect()
            raise
        self._drain()  # whatever was queued belongs to an earlier link
        self._reassemblers.clear()
        self._connected = True
        self._touch()
        if self.idle_timeout is not None:
            self._watchdog = asyncio.get_running_loop().create_task(self._watch_idle(client))

    def _drain(self) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()

    def _on_disconnect(self, client: Any) -> None:
        """bleak's disconnected_callback; ignores links we already replaced or dropped."""
        if client is not self._client or not self._connected:
            return
        logger.info("lock dropped the connection")
        self._connected = False
        self._reassemblers.clear()
        self._queue.put_nowait(ConnectionError("the lock dropped the connection"))

    async def _disconnect(self) -> None:
        """Drop the link on purpose (idle or close): no error for a later receive()."""
        client, self._client = self._client, None
        self._connected = False
        self._reassemblers.clear()
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        self._watchdog = None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.disconnect()

    async def _watch_idle(self, client: Any) -> None:
        assert self.idle_timeout is not None
        loop = asyncio.get_running_loop()
        while self._client is client and self._connected:
            remaining = self._last_activity + self.idle_timeout - loop.time()
            if self._waiting:  # somebody awaits an answer: never cut them off
                remaining = self.idle_timeout
            if remaining <= 0:
                logger.info("dropping the link after %.0f s idle", self.idle_timeout)
                await self._disconnect()
                return
            await asyncio.sleep(remaining)

    # -- indications ----------------------------------------------------------------------------

    def _on_indication(self, client: Any, characteristic: Any, data: bytearray) -> None:
        """bleak's notification callback (bound to one link: late data of an old one is
        dropped)."""
        if client is not self._client:
            return
        uuid = str(getattr(characteristic, "uuid", characteristic)).lower()
        self._touch()
        reassembler = self._reassemblers.get(uuid)
        if reassembler is None:
            reassembler = Reassembler(
                encrypted=uuid in self.profile.encrypted_characteristics,
                chunk_size=self.indication_size,
            )
            self._reassemblers[uuid] = reassembler
        try:
            for message in reassembler.feed(bytes(data)):
                self._queue.put_nowait(Message(uuid, message))
        except ProtocolError as exc:
            self._queue.put_nowait(exc)

    # -- Transport ------------------------------------------------------------------------------

    async def send(self, characteristic: str, data: bytes) -> None:
        if self._closed:
            raise ConnectionError("transport is closed")
        if not self._connected:
            await self.connect()
        client = self._client
        data = bytes(data)
        self._touch()
        try:
            if self.write_mode == "long" and len(data) <= MAX_LONG_WRITE:
                await client.write_gatt_char(characteristic, data, response=True)
            else:
                for chunk in write_chunks(data, self.mtu_size, self.max_write):
                    await client.write_gatt_char(characteristic, chunk, response=True)
        except (_BleakError, OSError, EOFError) as exc:
            await self._disconnect()
            raise ConnectionError(f"write failed: {exc}") from exc
        self._touch()

    async def receive(self, timeout: float | None = None) -> Message:
        if self._closed:
            raise ConnectionError("transport is closed")
        if not self._connected and self._queue.empty():
            raise ConnectionError("not connected")
        self._waiting += 1
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        finally:
            self._waiting -= 1
            self._touch()
        if isinstance(item, BaseException):
            raise item
        return item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._disconnect()
        self._queue.put_nowait(ConnectionError("transport closed"))
