"""The simulated lock is one firmware generation, and its link has an ATT MTU (issue 15).

Every answer is checked as the bytes the lock put on the link (decrypted with the client's
key), so a layout that drifts from the generation's shows up as a length or a byte, not only
as a field our own parser happens to accept. The MTU tests count the pieces the lock end
really handed to the link.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from locks.nuki.ble.client import NukiClient
from locks.nuki.ble.constants import CommandId, HomeKitStatus, LockAction
from locks.nuki.ble.errors import NukiErrorCode, NukiErrorReport
from locks.nuki.ble.frames import decode_encrypted
from locks.nuki.ble.gatt import SMART_LOCK
from locks.nuki.ble.transport import LoopbackTransport
from locks.simulators.ble_lock import (
    SMART_LOCK_1_V110,
    SMART_LOCK_3,
    Firmware,
    ManualClock,
    SimulatedLock,
)
from locks.simulators.ble_lock.persist import restore, snapshot

PIN = 1234
START = datetime(2024, 6, 30, 12, 0, 0, tzinfo=UTC)
USDIO = SMART_LOCK.usdio

Body = Callable[[SimulatedLock], Awaitable[None]]


def simulate(body: Body, **lock_options: Any) -> SimulatedLock:
    async def main() -> SimulatedLock:
        lock = SimulatedLock(name="Front door", pin=PIN, clock=ManualClock(START), **lock_options)
        async with lock.running():
            await body(lock)
        return lock

    lock = asyncio.run(main())
    assert lock.failures == []
    return lock


async def paired(lock: SimulatedLock, *, mtu: int = 23) -> NukiClient:
    assert lock.enter_pairing_mode()
    client = NukiClient(lock.connect(mtu=mtu), security_pin=PIN, timeout=1.0)
    await client.pair(app_id=1, name="Latchkey agent")
    return client


def lock_end(client: NukiClient) -> LoopbackTransport:
    assert isinstance(client.transport, LoopbackTransport)
    peer = client.transport.peer
    assert peer is not None
    return peer


def payloads(client: NukiClient, command_id: int) -> list[bytes]:
    """The raw payloads of every `command_id` message the lock sent this client."""
    assert client.credentials is not None
    key = client.credentials.shared_key
    frames = [
        decode_encrypted(m.data, key) for m in lock_end(client).sent if m.characteristic == USDIO
    ]
    return [f.payload for f in frames if f.command_id == command_id]


async def exercise(client: NukiClient) -> None:
    """One of every answer the lock sends: config, states, battery, log, codes."""
    await client.request_config()
    await client.request_advanced_config()
    await client.request_nuki_states()
    await client.request_battery_report()
    await client.lock_action(LockAction.UNLOCK)
    await client.enable_logging(True)
    await client.request_log_entries(count=5)  # a lock action and a logging entry
    await client.add_keypad_code(345678, "Guest")
    await client.request_keypad_codes()
    await client.request_authorization_entries()


# -- one generation, in every message ---------------------------------------------------------


def test_the_default_is_a_smart_lock_3_and_its_config_goes_on_after_fob_action_3() -> None:
    async def body(lock: SimulatedLock) -> None:
        assert lock.firmware is SMART_LOCK_3
        client = await paired(lock)
        config = await client.request_config()
        (raw,) = payloads(client, CommandId.CONFIG)
        assert len(raw) == 77
        # after fob action 3 (byte 62): single lock, advertising mode, has keypad, firmware
        # 3.8.2, hardware 7.1, HomeKit disabled, time zone id none, device type 4,
        # capabilities 1, has keypad v2
        assert (
            raw[63:].hex()
            == "00" + "00" + "01" + "030802" + "0701" + "01" + "ffff" + "04" + "01" + "01"
        )
        assert (config.single_lock, config.advertising_mode, config.has_keypad) == (0, 0, 1)
        assert (config.firmware, config.hardware) == ("3.8.2", "7.1")
        assert config.homekit_status == HomeKitStatus.DISABLED
        assert (config.timezone_id, config.device_type, config.has_keypad_v2) == (0xFFFF, 4, 1)
        assert (config.matter_status, config.extra) == (None, b"")
        assert config.nuki_id == lock.nuki_id

    simulate(body)


def test_every_answer_of_the_smart_lock_3_has_that_firmwares_layout() -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock)
        await exercise(client)
        sizes = {
            CommandId.NUKI_STATES: {21},
            CommandId.ADVANCED_CONFIG: {31},
            CommandId.BATTERY_REPORT: {17},
            CommandId.LOG_ENTRY_COUNT: {5},
            CommandId.KEYPAD_CODE: {63},  # always with the time fields
            CommandId.AUTHORIZATION_ENTRY: {75},  # always with the time fields, too
            CommandId.LOG_ENTRY: {53},  # data padded to 5 bytes
        }
        for command_id, expected in sizes.items():
            assert {len(p) for p in payloads(client, command_id)} == expected, command_id
        states = await client.request_nuki_states()
        assert (states.door_sensor_state, states.night_mode_active) == (1, 0)
        advanced = await client.request_advanced_config()
        assert (advanced.auto_lock_timeout, advanced.auto_update_enabled) == (300, 1)
        battery = await client.request_battery_report()
        assert (battery.start_voltage, battery.lowest_voltage) == (5800, 5500)

    simulate(body)


def test_a_v110_lock_sends_the_63_byte_config_and_the_v110_layouts_throughout() -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock)
        config = await client.request_config()
        assert [len(p) for p in payloads(client, CommandId.CONFIG)] == [63]
        assert config.fob_action_3 is not None
        assert (config.single_lock, config.firmware, config.timezone_id) == (None, None, None)
        assert (config.device_type, config.extra) == (None, b"")
        with pytest.raises(NukiErrorReport) as refused:  # no keypad commands on v1.10
            await client.add_keypad_code(345678, "Guest")
        assert refused.value.error_code == NukiErrorCode.ERROR_UNKNOWN
        assert lock.codes == {}
        await client.request_advanced_config()
        await client.request_nuki_states()
        await client.request_battery_report()
        await client.lock_action(LockAction.UNLOCK)
        await client.enable_logging(False)
        await client.request_log_entries(count=5)
        for command_id, size in [
            (CommandId.NUKI_STATES, 18),
            (CommandId.ADVANCED_CONFIG, 17),
            (CommandId.BATTERY_REPORT, 5),
            (CommandId.LOG_ENTRY_COUNT, 3),
        ]:
            assert {len(p) for p in payloads(client, command_id)} == {size}, command_id
        assert (await client.request_nuki_states()).door_sensor_state is None
        # log entry data as v1.10 lists it: lock action 4 bytes (52), logging flag 1 (49)
        assert sorted(len(p) for p in payloads(client, CommandId.LOG_ENTRY)) == [49, 52]

    simulate(body, firmware=SMART_LOCK_1_V110)


def test_a_lock_without_a_keypad_says_so_and_the_generation_survives_a_restart() -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock)
        config = await client.request_config()
        assert (config.has_keypad, config.has_keypad_v2) == (0, 0)

    lock = simulate(body, has_keypad=False)
    assert restore(snapshot(lock)).has_keypad is False
    old = SimulatedLock(name="Old", firmware=SMART_LOCK_1_V110)
    assert restore(snapshot(old)).firmware is SMART_LOCK_1_V110
    assert restore(snapshot(SimulatedLock(name="New"))).firmware is SMART_LOCK_3


# -- the ATT MTU of the link ------------------------------------------------------------------


def test_at_the_default_mtu_every_indication_is_at_most_20_bytes() -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock)
        await exercise(client)
        end = lock_end(client)
        assert end.mtu == 23 and client.transport.mtu == 23  # type: ignore[attr-defined]
        assert max(end.chunk_sizes) == 20  # many answers fill whole indications...
        assert sum(end.chunk_sizes.values()) > 3 * len(end.sent)  # ...and span several
        assert max(client.transport.chunk_sizes) == 20  # type: ignore[attr-defined]

    simulate(body)


@pytest.mark.parametrize(("asked", "agreed"), [(185, 185), (517, 247)])
def test_a_negotiated_mtu_carries_longer_indications_never_above_mtu_minus_3(
    asked: int, agreed: int
) -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock, mtu=asked)
        await exercise(client)
        end = lock_end(client)
        assert end.mtu == agreed
        assert 20 < max(end.chunk_sizes) <= agreed - 3
        # the 77-byte Config travels as 30 + 16 + 4 + 2 + 77 + 2 = 131 bytes: one indication
        assert end.chunk_sizes[131] >= 1

    simulate(body)


def test_the_mtu_can_be_raised_on_a_link_already_in_use() -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock)
        end = lock_end(client)
        before = sum(end.chunk_sizes.values())
        await client.request_config()
        at_23 = sum(end.chunk_sizes.values()) - before
        assert client.transport.exchange_mtu(100) == 100  # type: ignore[attr-defined]
        before = sum(end.chunk_sizes.values())
        config = await client.request_config()
        at_100 = sum(end.chunk_sizes.values()) - before
        # Challenge (86 bytes) then Config (131): 5 + 7 indications at MTU 23, 1 + 2 at 100
        assert (at_23, at_100) == (12, 3)
        assert config.firmware == "3.8.2"

    simulate(body)


def test_a_v110_lock_keeps_the_default_mtu() -> None:
    async def body(lock: SimulatedLock) -> None:
        client = await paired(lock, mtu=185)
        assert lock_end(client).mtu == 23
        await client.request_config()
        assert max(lock_end(client).chunk_sizes) == 20

    simulate(body, firmware=SMART_LOCK_1_V110)


def test_an_mtu_outside_what_att_allows_is_refused() -> None:
    with pytest.raises(ValueError):
        LoopbackTransport(mtu=22)
    with pytest.raises(ValueError):
        LoopbackTransport(mtu=518)
    assert isinstance(SMART_LOCK_3, Firmware) and SMART_LOCK_3.version_text == "3.8.2"
