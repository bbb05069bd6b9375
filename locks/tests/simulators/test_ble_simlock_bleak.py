"""`BleakTransport` with bleak's BleakClient replaced by a fake.

A real radio cannot run here (no Bluetooth adapter, no lock), so nothing in this file talks to
hardware: the fake records writes, plays indications into the transport's callback and can
fail connects or drop the link. What is tested is what the transport itself decides: retries
and backoff, long versus chunked writes and the MTU, reassembly of indications, disconnects,
the idle timer, and finally our real client pairing and unlocking the simulated lock through
the transport, with the fake standing in for the radio between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bleak import BleakClient
from bleak.exc import BleakError

from locks.nuki.ble import commands as c
from locks.nuki.ble.bleak_transport import (
    BleakTransport,
    RetryPolicy,
    _default_client_factory,
    write_chunks,
)
from locks.nuki.ble.client import NukiClient
from locks.nuki.ble.constants import LockAction, LockState, StatusCode
from locks.nuki.ble.errors import ProtocolError
from locks.nuki.ble.frames import frame_encrypted, frame_plain, split_chunks
from locks.nuki.ble.gatt import SMART_LOCK
from locks.nuki.ble.transport import Message, Transport
from locks.simulators.ble_lock import ManualClock, SimulatedLock

PAIRING = SMART_LOCK.pairing_gdio
USDIO = SMART_LOCK.usdio


class FakeCharacteristic:
    def __init__(self, uuid: str) -> None:
        self.uuid = uuid


class FakeBleakClient:
    """Just the part of BleakClient the transport uses."""

    def __init__(self, radio: FakeRadio, device: Any, **kwargs: Any) -> None:
        self.radio = radio
        self.device = device
        self.kwargs = kwargs
        self.is_connected = False
        self.mtu_size = radio.mtu
        self.callbacks: dict[str, Callable[[Any, bytearray], None]] = {}
        self.notify_kwargs: dict[str, dict[str, Any]] = {}
        self.writes: list[tuple[str, bytes, bool | None]] = []
        self.disconnects = 0

    async def connect(self) -> None:
        if self.radio.failures_left:
            self.radio.failures_left -= 1
            raise self.radio.failure
        self.is_connected = True

    async def start_notify(self, uuid: str, callback: Any, **kwargs: Any) -> None:
        assert self.is_connected
        self.callbacks[uuid] = callback
        self.notify_kwargs[uuid] = kwargs

    async def write_gatt_char(self, uuid: str, data: bytes, response: bool | None = None) -> None:
        assert self.is_connected
        self.writes.append((uuid, bytes(data), response))
        if self.radio.on_write is not None:
            self.radio.on_write(uuid, bytes(data))

    async def disconnect(self) -> None:
        self.is_connected = False
        self.disconnects += 1

    def indicate(self, uuid: str, chunk: bytes) -> None:
        self.callbacks[uuid](FakeCharacteristic(uuid), bytearray(chunk))

    def drop(self) -> None:
        """The lock (or the radio) ends the link."""
        self.is_connected = False
        self.kwargs["disconnected_callback"](self)


class FakeRadio:
    """The client factory handed to BleakTransport; keeps every client it made."""

    def __init__(self, *, failures: int = 0, failure: BaseException | None = None, mtu: int = 23):
        self.failures_left = failures
        self.failure = failure or BleakError("le-connection-abort-by-local")
        self.mtu = mtu
        self.clients: list[FakeBleakClient] = []
        self.on_write: Callable[[str, bytes], None] | None = None

    def __call__(self, device: Any, **kwargs: Any) -> FakeBleakClient:
        client = FakeBleakClient(self, device, **kwargs)
        self.clients.append(client)
        return client

    @property
    def client(self) -> FakeBleakClient:
        return self.clients[-1]


class Sleeps:
    """Records backoff waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def make(radio: FakeRadio, **options: Any) -> tuple[BleakTransport, Sleeps]:
    sleeps = Sleeps()
    options.setdefault("idle_timeout", None)
    return BleakTransport(
        "AA:BB:CC:DD:EE:FF", client_factory=radio, sleep=sleeps, **options
    ), sleeps


# -- pure helpers -----------------------------------------------------------------------------


def test_retry_policy_backs_off_exponentially_with_a_cap_and_jitter() -> None:
    policy = RetryPolicy(attempts=5, initial_delay=0.5, factor=2.0, max_delay=3.0)
    assert policy.delays() == [0.5, 1.0, 2.0, 3.0]
    jittered = RetryPolicy(attempts=3, initial_delay=1.0, factor=3.0, jitter=0.1)
    assert jittered.delays(rand=lambda: 1.0) == pytest.approx([1.1, 3.3])
    assert RetryPolicy(attempts=1).delays() == []
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(factor=0.5)


def test_write_chunks_respect_the_mtu_and_the_characteristic_size() -> None:
    data = bytes(range(45))
    assert [len(x) for x in write_chunks(data, mtu=23)] == [20, 20, 5]
    assert [len(x) for x in write_chunks(data, mtu=10)] == [7] * 6 + [3]
    assert [len(x) for x in write_chunks(data, mtu=247)] == [20, 20, 5]
    assert [len(x) for x in write_chunks(data, mtu=247, max_write=244)] == [45]
    assert b"".join(write_chunks(data, mtu=23)) == data


def test_the_default_factory_builds_a_real_bleak_client_without_connecting() -> None:
    def on_disconnect(_: Any) -> None:
        pass

    client = _default_client_factory(
        "AA:BB:CC:DD:EE:FF", disconnected_callback=on_disconnect, timeout=1.0
    )
    assert isinstance(client, BleakClient)
    assert not client.is_connected


# -- connecting -------------------------------------------------------------------------------


def test_connect_retries_with_backoff_then_subscribes_to_indications() -> None:
    async def body() -> None:
        radio = FakeRadio(failures=2)
        transport, sleeps = make(radio, retry=RetryPolicy(attempts=4, initial_delay=0.5))
        await transport.connect()
        assert transport.connected
        assert sleeps.waits == [0.5, 1.0]
        assert len(radio.clients) == 3
        assert [cl.disconnects for cl in radio.clients[:2]] == [1, 1]  # failed tries cleaned up
        client = radio.client
        assert set(client.callbacks) == {PAIRING, USDIO}
        assert client.notify_kwargs[USDIO] == {"bluez": {"use_start_notify": True}}
        assert client.kwargs["services"] == [
            SMART_LOCK.pairing_service,
            SMART_LOCK.keyturner_service,
        ]
        await transport.connect()  # already connected: nothing new
        assert len(radio.clients) == 3

    run(body)


def test_connect_gives_up_after_the_last_attempt_and_does_not_retry_bugs() -> None:
    async def body() -> None:
        radio = FakeRadio(failures=10)
        transport, sleeps = make(radio, retry=RetryPolicy(attempts=3, initial_delay=0.25))
        with pytest.raises(ConnectionError) as error:
            await transport.connect()
        assert isinstance(error.value.__cause__, BleakError)
        assert sleeps.waits == [0.25, 0.5]
        assert len(radio.clients) == 3
        assert not transport.connected

        buggy = FakeRadio(failures=1, failure=ValueError("not a radio problem"))
        transport, sleeps = make(buggy)
        with pytest.raises(ValueError):
            await transport.connect()
        assert sleeps.waits == [] and len(buggy.clients) == 1

    run(body)


# -- writing ----------------------------------------------------------------------------------


def test_long_write_sends_a_whole_message_in_one_write_with_response() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio)
        message = bytes(range(60))
        await transport.send(USDIO, message)  # connects on first use
        assert radio.client.writes == [(USDIO, message, True)]

    run(body)


def test_chunked_writes_follow_the_mtu() -> None:
    async def body() -> None:
        radio = FakeRadio(mtu=17)
        transport, _ = make(radio, write_mode="chunked")
        message = bytes(range(30))
        await transport.send(PAIRING, message)
        writes = radio.client.writes
        assert [len(data) for _, data, _ in writes] == [14, 14, 2]
        assert all(uuid == PAIRING and response is True for uuid, _, response in writes)
        assert b"".join(data for _, data, _ in writes) == message
        with pytest.raises(ValueError):
            make(radio, write_mode="sideways")  # type: ignore[arg-type]

    run(body)


def test_a_failed_write_drops_the_link_and_the_next_send_reconnects() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio)
        await transport.connect()
        first = radio.client

        async def broken(*_: Any, **__: Any) -> None:
            raise BleakError("Not connected")

        first.write_gatt_char = broken  # type: ignore[method-assign]
        with pytest.raises(ConnectionError):
            await transport.send(USDIO, b"\x01\x02")
        assert not transport.connected and first.disconnects == 1
        await transport.send(USDIO, b"\x03\x04")
        assert radio.client is not first
        assert radio.client.writes == [(USDIO, b"\x03\x04", True)]

    run(body)


# -- indications ------------------------------------------------------------------------------


def test_indications_are_reassembled_per_characteristic() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio)
        await transport.connect()
        key = bytes(range(32))
        encrypted = frame_encrypted(c.Status(status=StatusCode.ACCEPTED), key, 7)
        plain = frame_plain(c.PublicKey(public_key=bytes(range(32))))
        enc_chunks, plain_chunks = split_chunks(encrypted), split_chunks(plain)
        assert len(enc_chunks) > 2 and len(plain_chunks) == 2
        # interleaved: each characteristic has its own reassembler
        radio.client.indicate(USDIO, enc_chunks[0])
        radio.client.indicate(PAIRING, plain_chunks[0])
        for chunk in enc_chunks[1:]:
            radio.client.indicate(USDIO, chunk)
        radio.client.indicate(PAIRING, plain_chunks[1])
        assert await transport.receive(0.1) == Message(USDIO, encrypted)
        assert await transport.receive(0.1) == Message(PAIRING, plain)
        with pytest.raises(TimeoutError):
            await transport.receive(0.01)

        # longer than any indication may be (ATT MTU at most 517): a larger negotiated MTU
        # is fine without the transport knowing it, 515 bytes never are
        radio.client.indicate(USDIO, bytes(515))
        with pytest.raises(ProtocolError):
            await transport.receive(0.1)

    run(body)


def test_a_dropped_link_is_reported_once_and_stale_data_is_discarded() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio)
        await transport.connect()
        first = radio.client
        first.indicate(PAIRING, frame_plain(c.Status(status=0)))  # never read
        first.drop()
        assert not transport.connected
        assert await transport.receive(0.1) == Message(PAIRING, frame_plain(c.Status(status=0)))
        with pytest.raises(ConnectionError):
            await transport.receive(0.1)
        with pytest.raises(ConnectionError):  # nothing queued and no link
            await transport.receive(0.1)

        first.indicate(PAIRING, frame_plain(c.Status(status=1)))  # late, from the dead link
        await transport.send(PAIRING, b"\x01\x00\x03\x00")  # reconnects
        assert radio.client is not first
        with pytest.raises(TimeoutError):
            await transport.receive(0.01)  # the late indication was discarded
        first.indicate(PAIRING, frame_plain(c.Status(status=1)))  # even after reconnecting
        first.drop()  # and a disconnect callback from the old link changes nothing
        assert transport.connected
        with pytest.raises(TimeoutError):
            await transport.receive(0.01)

    run(body)


def test_a_drop_wakes_a_waiting_receive_at_once() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio)
        await transport.connect()
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.create_task(transport.receive(2.0))
        await asyncio.sleep(0.01)
        radio.client.drop()
        with pytest.raises(ConnectionError):
            await waiting
        assert loop.time() - started < 1.0

    run(body)


def test_idle_link_is_dropped_but_never_under_a_waiting_receive() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio, idle_timeout=0.05)
        await transport.connect()
        with pytest.raises(TimeoutError):
            await transport.receive(0.15)  # waiting counts as busy
        assert transport.connected and radio.client.disconnects == 0
        await asyncio.sleep(0.3)
        assert not transport.connected
        assert radio.client.disconnects == 1
        with pytest.raises(ConnectionError):
            await transport.receive(0.01)
        await transport.send(USDIO, b"\x00\x00")  # comes back on demand
        assert transport.connected and len(radio.clients) == 2
        await transport.close()

    run(body)


def test_close_is_final() -> None:
    async def body() -> None:
        radio = FakeRadio()
        transport, _ = make(radio)
        await transport.connect()
        await transport.close()
        assert radio.client.disconnects == 1
        with pytest.raises(ConnectionError):
            await transport.send(USDIO, b"\x00")
        with pytest.raises(ConnectionError):
            await transport.receive(0.01)
        with pytest.raises(ConnectionError):
            await transport.connect()
        await transport.close()  # twice is fine

    run(body)


# -- the real client, through the transport, to the simulated lock ---------------------------


class LockEndOfTheRadio(Transport):
    """The simulated lock's side of the fake radio: whole messages in (long writes),
    indications of `indication_size` bytes out (20, or MTU - 3 on a negotiated link)."""

    def __init__(self, radio: FakeRadio, indication_size: int = 20) -> None:
        self.radio = radio
        self.indication_size = indication_size
        self.indications: list[int] = []
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        radio.on_write = lambda uuid, data: self.inbox.put_nowait(Message(uuid, data))

    async def send(self, characteristic: str, data: bytes) -> None:
        for chunk in split_chunks(data, self.indication_size):
            self.indications.append(len(chunk))
            self.radio.client.indicate(characteristic, chunk)

    async def receive(self, timeout: float | None = None) -> Message:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def close(self) -> None:
        self.radio.client.drop()


def test_client_pairs_and_unlocks_the_simulated_lock_through_bleak_transport() -> None:
    async def body() -> None:
        radio = FakeRadio(failures=1)
        transport, sleeps = make(radio)
        lock = SimulatedLock(name="Front door", pin=1234, clock=ManualClock())
        async with lock.running():
            lock.serve(LockEndOfTheRadio(radio))
            lock.enter_pairing_mode()
            client = NukiClient(transport, security_pin=1234, timeout=1.0)
            credentials = await client.pair(app_id=5, name="agent on a Pi")
            assert lock.authorizations[credentials.authorization_id].shared_key == (
                credentials.shared_key
            )
            result = await client.lock_action(LockAction.UNLOCK)
            assert [s.lock_state for s in result.states] == [
                LockState.UNLOCKING,
                LockState.UNLOCKED,
            ]
            await client.add_keypad_code(345678, "Guest")
            listing = await client.request_keypad_codes()
            assert [e.code for e in listing.entries] == [345678]
            await transport.close()
        assert lock.state == LockState.UNLOCKED
        assert sleeps.waits == [0.5]  # one failed connect, retried
        writes = radio.client.writes
        assert all(response is True for _, _, response in writes)
        assert max(len(data) for _, data, _ in writes) > 20  # long writes, not chunks
        assert lock.failures == []

    run(body)


@pytest.mark.parametrize(("indication_size", "largest"), [(182, 131), (20, 20)])
def test_at_a_negotiated_mtu_of_185_the_transport_reassembles_either_indication_size(
    indication_size: int, largest: int
) -> None:
    """BlueZ may report 23 whatever was negotiated, and a lock may keep to the characteristic's
    declared 20 bytes on a larger MTU: the transport must take 182-byte indications without
    being told the MTU, and 20-byte ones although the MTU is larger."""

    async def body() -> None:
        radio = FakeRadio(mtu=185)
        transport, _ = make(radio)
        lock = SimulatedLock(name="Front door", pin=1234, clock=ManualClock())
        async with lock.running():
            lock_end = LockEndOfTheRadio(radio, indication_size)
            lock.serve(lock_end)
            lock.enter_pairing_mode()
            client = NukiClient(transport, security_pin=1234, timeout=1.0)
            await client.pair(app_id=5, name="agent on a Pi")
            await client.add_keypad_code(345678, "Guest")
            await client.add_keypad_code(456789, "Cleaner")
            listing = await client.request_keypad_codes()
            assert sorted(e.code for e in listing.entries) == [345678, 456789]
            assert (await client.request_config()).firmware == "3.8.2"
            await transport.close()
        assert max(lock_end.indications) == largest  # the Config: 131 bytes, whole or in 20s
        assert lock.failures == []

    run(body)
