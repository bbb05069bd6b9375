"""The client against the spec's own exchanges (byte for byte) and against a small fake lock.

Everything runs over `LoopbackTransport`, which really splits messages into 20-byte chunks and
reassembles them, so reassembly is exercised on every exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from locks.nuki.ble import commands as c
from locks.nuki.ble.client import Credentials, NukiClient
from locks.nuki.ble.constants import CommandId, LockAction, LockState, StatusCode
from locks.nuki.ble.crypto import KeyPair, authenticators_equal, shared_key
from locks.nuki.ble.errors import AuthenticationError, NukiErrorCode, NukiErrorReport
from locks.nuki.ble.frames import (
    frame_encrypted,
    frame_plain,
    peek_authorization_id,
    read_encrypted,
    read_plain,
)
from locks.nuki.ble.gatt import SMART_LOCK
from locks.nuki.ble.pairing import (
    authorization_authenticator,
    authorization_data_authenticator,
    authorization_id_authenticator,
    authorization_id_confirmation_authenticator,
)
from locks.nuki.ble.transport import LoopbackTransport, Message
from locks.nuki.ble.values import NukiDateTime, SecurityPin

from .test_ble_vectors import CLIENT_SK, ENC, MSG, SHARED_KEY, H, expected_command

PAIRING = SMART_LOCK.pairing_gdio
USDIO = SMART_LOCK.usdio


def nonces(*values: bytes) -> Callable[[int], bytes]:
    """A random source that hands out the given values in order (sizes checked)."""
    it: Iterator[bytes] = iter(values)

    def take(size: int) -> bytes:
        value = next(it)
        assert len(value) == size
        return value

    return take


# -- the spec's examples, replayed through the real client ----------------------------------------


def test_pairing_reproduces_the_spec_exchange() -> None:
    async def scenario() -> None:
        client_side, lock_side = LoopbackTransport.pair()
        client = NukiClient(
            client_side, random=nonces(bytes(range(32))), timeout=2.0
        )  # n_A: the spec does not print its own

        async def lock() -> None:
            async def expect(frame_hex: str) -> None:
                message = await lock_side.receive(2.0)
                assert message.characteristic == PAIRING
                assert message.data == H(frame_hex)

            await expect(MSG[0]["frame"])
            await lock_side.send(PAIRING, H(MSG[1]["frame"]))
            await expect(MSG[2]["frame"])
            await lock_side.send(PAIRING, H(MSG[3]["frame"]))
            await expect(MSG[4]["frame"])
            await lock_side.send(PAIRING, H(MSG[5]["frame"]))
            raw = (await lock_side.receive(2.0)).data
            # byte offsets from the spec's Authorization Data table, independent of the decoder
            assert raw[:2] == b"\x06\x00" and len(raw) == 2 + 101 + 2
            assert raw[34] == 0  # ID type: app
            assert raw[35:39] == (4711).to_bytes(4, "little")
            assert raw[39:71] == b"Latchkey agent".ljust(32, b"\x00")
            assert raw[71:103] == bytes(range(32))  # n_A
            data = read_plain(raw)
            assert isinstance(data, c.AuthorizationData)
            assert (data.id_type, data.app_id, data.name) == (0, 4711, "Latchkey agent")
            nonce_k2 = H(MSG[5]["frame"])[2:34]
            assert data.authenticator == authorization_data_authenticator(
                SHARED_KEY, 0, 4711, "Latchkey agent", bytes(range(32)), nonce_k2
            )
            await lock_side.send(PAIRING, H(MSG[6]["frame"]))
            await expect(MSG[7]["frame"])
            await lock_side.send(PAIRING, H(MSG[8]["frame"]))

        task = asyncio.create_task(lock())
        credentials = await client.pair(
            app_id=4711,
            name="Latchkey agent",
            keypair=KeyPair.from_secret_key(CLIENT_SK),
            verify_lock_authenticator=False,  # needs the spec's n_A, which it does not print
        )
        await task
        assert credentials.authorization_id == 2
        assert credentials.shared_key == SHARED_KEY
        assert credentials.lock_uuid == H(MSG[6]["frame"])[38:54]

    asyncio.run(scenario())


def test_pairing_checks_the_lock_authenticator() -> None:
    """With verification on, the example's Authorization-ID (made for another n_A) is refused."""

    async def scenario() -> None:
        client_side, lock_side = LoopbackTransport.pair()
        client = NukiClient(client_side, random=nonces(bytes(range(32))), timeout=2.0)

        async def lock() -> None:
            for reply in (1, 3, 5, 6):
                await lock_side.receive(2.0)
                await lock_side.send(PAIRING, H(MSG[reply]["frame"]))

        task = asyncio.create_task(lock())
        with pytest.raises(AuthenticationError):
            await client.pair(app_id=1, name="x", keypair=KeyPair.from_secret_key(CLIENT_SK))
        await task
        assert len(client_side.sent) == 4  # no confirmation went out

    asyncio.run(scenario())


def test_states_and_unlock_reproduce_the_spec_frames() -> None:
    async def scenario() -> None:
        client_side, lock_side = LoopbackTransport.pair()
        credentials = Credentials(authorization_id=2, shared_key=SHARED_KEY, app_id=0)
        client = NukiClient(
            client_side,
            credentials=credentials,
            timeout=2.0,
            random=nonces(
                H(ENC["request_nuki_states"]["nonce"]),
                H(ENC["request_challenge"]["nonce"]),
                H(ENC["lock_action_unlock"]["nonce"]),
            ),
        )

        async def lock() -> None:
            async def expect(name: str) -> None:
                message = await lock_side.receive(2.0)
                assert message == Message(USDIO, H(ENC[name]["encrypted_message"]))

            await expect("request_nuki_states")
            await lock_side.send(USDIO, H(ENC["nuki_states_response"]["encrypted_message"]))
            await expect("request_challenge")
            await lock_side.send(USDIO, H(ENC["challenge_response"]["encrypted_message"]))
            await expect("lock_action_unlock")
            for status in (StatusCode.ACCEPTED, StatusCode.COMPLETE):
                await lock_side.send(USDIO, frame_encrypted(c.Status(status=status), SHARED_KEY, 2))

        task = asyncio.create_task(lock())
        states = await client.request_nuki_states()
        assert states == expected_command("nuki_states_response")
        result = await client.lock_action(LockAction.UNLOCK)
        assert result.accepted
        await task

    asyncio.run(scenario())


# -- a small fake lock ---------------------------------------------------------------------


class FakeLock:
    """Just enough lock to exercise the client: pairing, challenges, PIN checks, keypad codes,
    log, authorizations, time. Errors go back as Error Report, like a real lock."""

    def __init__(self, transport: LoopbackTransport, *, pin: int = 1234) -> None:
        self.transport = transport
        self.keys = KeyPair.generate()
        self.uuid = os.urandom(16)
        self.pin = SecurityPin(pin)
        self.users: dict[int, tuple[bytes, str]] = {}
        self.next_auth_id = 1
        self.nonces: dict[int, bytes] = {}
        self.codes: dict[int, c.KeypadCode] = {}
        self.next_code_id = 1
        self.clock = NukiDateTime(2024, 1, 1, 0, 0, 0)
        self.lock_state = LockState.LOCKED
        self.complete_listings = True
        self.silent = False
        self.failures: list[BaseException] = []
        self._pairing: dict[str, Any] = {}

    async def run(self) -> None:
        while True:
            message = await self.transport.receive(None)
            if self.silent:
                continue
            try:
                await self.handle(message)
            except Exception as exc:  # surfaced by the test, not swallowed
                self.failures.append(exc)

    async def handle(self, message: Message) -> None:
        if message.characteristic == PAIRING:
            await self.on_pairing(read_plain(message.data))
            return
        auth_id = peek_authorization_id(message.data)
        if auth_id not in self.users:
            error = c.ErrorReport(
                error_code=NukiErrorCode.K_ERROR_NOT_AUTHORIZED, command_identifier=0
            )
            await self.transport.send(USDIO, frame_plain(error))  # in clear: no key to use
            return
        _, command = read_encrypted(message.data, self.users[auth_id][0])
        await self.on_command(auth_id, command)

    # pairing ----------------------------------------------------------------------------------

    async def plain(self, command: c.Command) -> None:
        await self.transport.send(PAIRING, frame_plain(command))

    async def on_pairing(self, command: c.Command) -> None:
        p = self._pairing
        if isinstance(command, c.RequestData) and command.command_identifier == 3:
            await self.plain(c.PublicKey(public_key=self.keys.public_key))
        elif isinstance(command, c.PublicKey):
            p["client_pk"] = command.public_key
            p["key"] = shared_key(self.keys.secret_key, command.public_key)
            p["nk"] = os.urandom(32)
            await self.plain(c.Challenge(nonce_k=p["nk"]))
        elif isinstance(command, c.AuthorizationAuthenticator):
            expected = authorization_authenticator(
                p["key"], p["client_pk"], self.keys.public_key, p["nk"]
            )
            if not authenticators_equal(expected, command.authenticator):
                await self.plain(c.ErrorReport(error_code=0x11, command_identifier=5))
                return
            p["nk"] = os.urandom(32)
            await self.plain(c.Challenge(nonce_k=p["nk"]))
        elif isinstance(command, c.AuthorizationData):
            expected = authorization_data_authenticator(
                p["key"], command.id_type, command.app_id, command.name, command.nonce_abf, p["nk"]
            )
            if not authenticators_equal(expected, command.authenticator):
                await self.plain(c.ErrorReport(error_code=0x11, command_identifier=6))
                return
            p["auth_id"], p["name"] = self.next_auth_id, command.name
            self.next_auth_id += 1
            p["nk"] = os.urandom(32)
            await self.plain(
                c.AuthorizationId(
                    authenticator=authorization_id_authenticator(
                        p["key"], p["auth_id"], self.uuid, p["nk"], command.nonce_abf
                    ),
                    authorization_id=p["auth_id"],
                    uuid=self.uuid,
                    nonce_k=p["nk"],
                )
            )
        elif isinstance(command, c.AuthorizationIdConfirmation):
            expected = authorization_id_confirmation_authenticator(p["key"], p["auth_id"], p["nk"])
            if not authenticators_equal(expected, command.authenticator):
                await self.plain(c.ErrorReport(error_code=0x11, command_identifier=0x1E))
                return
            self.users[p["auth_id"]] = (p["key"], p["name"])
            await self.plain(c.Status(status=StatusCode.COMPLETE))

    # keyturner ----------------------------------------------------------------------------------

    async def reply(self, auth_id: int, *answers: c.Command) -> None:
        for answer in answers:
            await self.transport.send(
                USDIO, frame_encrypted(answer, self.users[auth_id][0], auth_id)
            )

    async def error(self, auth_id: int, code: int, command: c.Command) -> None:
        await self.reply(
            auth_id, c.ErrorReport(error_code=code, command_identifier=command.COMMAND_ID)
        )

    def states(self) -> c.NukiStates:
        return c.NukiStates(
            nuki_state=2,
            lock_state=self.lock_state,
            trigger=0,
            current_time=self.clock,
            timezone_offset=0,
            critical_battery_state=0,
            config_update_count=1,
            lock_n_go_timer=0,
            last_lock_action=0,
            last_lock_action_trigger=0,
            last_lock_action_completion_status=0,
        )

    async def on_command(self, auth_id: int, command: c.Command) -> None:
        complete = c.Status(status=StatusCode.COMPLETE)
        if isinstance(command, c.RequestData):
            if command.command_identifier == CommandId.CHALLENGE:
                self.nonces[auth_id] = os.urandom(32)
                await self.reply(auth_id, c.Challenge(nonce_k=self.nonces[auth_id]))
            elif command.command_identifier == CommandId.NUKI_STATES:
                await self.reply(auth_id, self.states())
            else:
                await self.error(auth_id, NukiErrorCode.K_ERROR_BAD_PARAMETER, command)
            return
        nonce = getattr(command, "nonce_k", None)
        if nonce is not None and nonce != self.nonces.pop(auth_id, None):
            await self.error(auth_id, NukiErrorCode.K_ERROR_BAD_NONCE, command)
            return
        pin = getattr(command, "security_pin", None)
        if pin is not None and pin.value != self.pin.value:
            await self.error(auth_id, NukiErrorCode.K_ERROR_BAD_PIN, command)
            return

        if isinstance(command, c.LockAction):
            self.lock_state = LockState.UNLOCKING
            accepted = c.Status(status=StatusCode.ACCEPTED)
            moving = self.states()
            self.lock_state = LockState.UNLOCKED
            await self.reply(auth_id, accepted, moving, self.states(), complete)
        elif isinstance(command, c.RequestConfig):
            config = c.Config(
                nuki_id=0x1234ABCD,
                name="Front door",
                latitude=48.25,
                longitude=16.5,
                auto_unlatch=0,
                pairing_enabled=1,
                button_enabled=1,
                led_enabled=1,
                led_brightness=3,
                current_time=self.clock,
                timezone_offset=60,
                dst_mode=1,
                has_fob=0,
                fob_action_1=1,
                fob_action_2=2,
                fob_action_3=0,
            )
            await self.reply(auth_id, config)
        elif isinstance(command, c.UpdateTime):
            self.clock = command.time
            await self.reply(auth_id, complete)
        elif isinstance(command, c.VerifySecurityPin):
            await self.reply(auth_id, complete)
        elif isinstance(command, c.SetSecurityPin):
            self.pin = command.pin
            await self.reply(auth_id, complete)
        elif isinstance(command, c.AddKeypadCode):
            if any(code.code == command.code for code in self.codes.values()):
                await self.error(auth_id, NukiErrorCode.K_ERROR_CODE_ALREADY_EXISTS, command)
                return
            code_id, self.next_code_id = self.next_code_id, self.next_code_id + 1
            self.codes[code_id] = c.KeypadCode(
                code_id=code_id,
                code=command.code,
                name=command.name,
                enabled=1,
                date_created=self.clock,
                date_last_active=NukiDateTime.unset(),
                lock_count=0,
                time_limited=command.time_limited,
                allowed_from_date=command.allowed_from_date,
                allowed_until_date=command.allowed_until_date,
                allowed_weekdays=command.allowed_weekdays,
                allowed_from_time=command.allowed_from_time,
                allowed_until_time=command.allowed_until_time,
            )
            await self.reply(
                auth_id, c.KeypadCodeId(code_id=code_id, date_created=self.clock), complete
            )
        elif isinstance(command, c.RequestKeypadCodes):
            codes = list(self.codes.values())[command.offset : command.offset + command.count]
            tail = (complete,) if self.complete_listings else ()
            await self.reply(auth_id, c.KeypadCodeCount(count=len(self.codes)), *codes, *tail)
        elif isinstance(command, c.UpdateKeypadCode):
            old = self.codes.get(command.code_id)
            if old is None:
                await self.error(auth_id, NukiErrorCode.K_ERROR_BAD_PARAMETER, command)
                return
            self.codes[command.code_id] = c.KeypadCode(
                code_id=old.code_id,
                code=command.code,
                name=command.name,
                enabled=command.enabled,
                date_created=old.date_created,
                date_last_active=old.date_last_active,
                lock_count=old.lock_count,
                time_limited=command.time_limited,
                allowed_from_date=command.allowed_from_date,
                allowed_until_date=command.allowed_until_date,
                allowed_weekdays=command.allowed_weekdays,
                allowed_from_time=command.allowed_from_time,
                allowed_until_time=command.allowed_until_time,
            )
            await self.reply(auth_id, complete)
        elif isinstance(command, c.RemoveKeypadCode):
            if self.codes.pop(command.code_id, None) is None:
                await self.error(auth_id, NukiErrorCode.K_ERROR_BAD_PARAMETER, command)
                return
            await self.reply(auth_id, complete)
        elif isinstance(command, c.RequestLogEntries):
            entries = [
                c.LogEntry(
                    index=i,
                    timestamp=self.clock,
                    auth_id=auth_id,
                    name=self.users[auth_id][1],
                    type=2,
                    data=c.LockActionLogData(
                        lock_action=1, trigger=0, auto_unlock_flag=0, completion_status=0
                    ),
                )
                for i in range(1, 4)
            ][: command.count]
            head = (c.LogEntryCount(logging_enabled=1, count=3),) if command.total_count else ()
            await self.reply(auth_id, *head, *entries, complete)
        elif isinstance(command, c.RequestAuthorizationEntries):
            entries = [
                c.AuthorizationEntry(
                    authorization_id=user_id,
                    id_type=0,
                    name=name,
                    enabled=1,
                    remote_allowed=0,
                    date_created=self.clock,
                    date_last_active=self.clock,
                    lock_count=0,
                    time_limited=0,
                )
                for user_id, (_, name) in sorted(self.users.items())
            ]
            await self.reply(auth_id, *entries, complete)
        elif isinstance(command, c.RemoveAuthorizationEntry):
            if self.users.pop(command.authorization_id, None) is None:
                await self.error(auth_id, NukiErrorCode.K_ERROR_INVALID_AUTH_ID, command)
                return
            await self.reply(auth_id, complete)
        else:
            await self.error(auth_id, NukiErrorCode.K_ERROR_BAD_PARAMETER, command)


Body = Callable[[NukiClient, FakeLock], Awaitable[None]]


def with_paired_lock(body: Body, *, timeout: float = 1.0) -> None:
    async def scenario() -> None:
        client_side, lock_side = LoopbackTransport.pair()
        lock = FakeLock(lock_side)
        task = asyncio.create_task(lock.run())
        try:
            client = NukiClient(client_side, timeout=timeout, action_timeout=2.0)
            await client.pair(app_id=99, name="Latchkey agent")
            client.security_pin = SecurityPin(1234)
            await body(client, lock)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert lock.failures == []

    asyncio.run(scenario())


def test_pairing_with_the_fake_lock_agrees_on_the_key() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        creds = client.credentials
        assert creds is not None
        assert lock.users[creds.authorization_id][0] == creds.shared_key
        assert creds.lock_public_key == lock.keys.public_key
        assert creds.lock_uuid == lock.uuid
        states = await client.request_nuki_states()
        assert states.lock_state == LockState.LOCKED

    with_paired_lock(body)


def test_lock_action_waits_for_accepted_then_complete() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        result = await client.lock_action(LockAction.UNLOCK)
        assert result.accepted
        assert [s.lock_state for s in result.states] == [LockState.UNLOCKING, LockState.UNLOCKED]
        assert client.last_states is not None
        assert client.last_states.lock_state == LockState.UNLOCKED

    with_paired_lock(body)


def test_config_and_time() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        config = await client.request_config()
        assert (config.name, config.latitude, config.nuki_id) == ("Front door", 48.25, 0x1234ABCD)
        await client.update_time(datetime(2024, 6, 30, 22, 15, 5, tzinfo=UTC))
        assert lock.clock == NukiDateTime(2024, 6, 30, 22, 15, 5)

    with_paired_lock(body)


def test_pin_checks() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        assert await client.verify_security_pin()
        client.security_pin = SecurityPin(4321)
        assert not await client.verify_security_pin()
        with pytest.raises(NukiErrorReport) as error:
            await client.remove_keypad_code(1)
        assert error.value.error_code == NukiErrorCode.K_ERROR_BAD_PIN
        client.security_pin = SecurityPin(1234)
        await client.set_security_pin(5555)
        assert lock.pin.value == 5555 and client.security_pin == SecurityPin(5555)
        assert await client.verify_security_pin()

    with_paired_lock(body)


def test_keypad_codes_add_list_update_remove() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        first = await client.add_keypad_code(
            345678,
            "Guest Smith",
            time_limited=True,
            allowed_from_date=NukiDateTime(2024, 7, 1, 15, 0, 0),
            allowed_until_date=NukiDateTime(2024, 7, 5, 11, 0, 0),
        )
        second = await client.add_keypad_code(987654, "Cleaner", allowed_weekdays=64 | 4)
        assert first is not None and second is not None
        assert first.code_id != second.code_id

        listing = await client.request_keypad_codes()
        assert listing.total == 2
        assert [(e.code_id, e.name) for e in listing.entries] == [
            (first.code_id, "Guest Smith"),
            (second.code_id, "Cleaner"),
        ]
        assert listing.entries[0].allowed_until_date == NukiDateTime(2024, 7, 5, 11, 0, 0)
        assert listing.entries[1].allowed_weekdays == 68

        with pytest.raises(NukiErrorReport) as duplicate:
            await client.add_keypad_code(345678, "Again")
        assert duplicate.value.name == "K_ERROR_CODE_ALREADY_EXISTS"

        await client.update_keypad_code(second.code_id, 987654, "Cleaner B", enabled=False)
        assert lock.codes[second.code_id].name == "Cleaner B"
        assert lock.codes[second.code_id].enabled == 0

        await client.remove_keypad_code(first.code_id)
        listing = await client.request_keypad_codes()
        assert [e.code_id for e in listing.entries] == [second.code_id]

    with_paired_lock(body)


def test_invalid_keypad_code_is_refused_before_sending() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        sent_before = len(client.transport.sent)  # type: ignore[attr-defined]
        for bad in (123456, 102030, 98765):
            with pytest.raises(ValueError, match="code"):
                await client.add_keypad_code(bad, "Guest")
        with pytest.raises(ValueError, match="name"):
            await client.add_keypad_code(345678, "a name longer than twenty bytes")
        assert len(client.transport.sent) == sent_before  # type: ignore[attr-defined]
        assert lock.codes == {}

    with_paired_lock(body)


def test_listing_without_a_final_status_returns_once_everything_arrived() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        await client.add_keypad_code(345678, "Guest")
        lock.complete_listings = False
        listing = await client.request_keypad_codes()
        assert listing.total == 1 and len(listing.entries) == 1

    with_paired_lock(body, timeout=0.3)


def test_log_and_authorizations() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        log = await client.request_log_entries(count=2)
        assert log.total == 3
        assert [e.index for e in log.entries] == [1, 2]
        assert isinstance(log.entries[0].data, c.LockActionLogData)
        assert log.entries[0].name == "Latchkey agent"

        auths = await client.request_authorization_entries()
        assert client.credentials is not None
        own = client.credentials.authorization_id
        assert [a.authorization_id for a in auths.entries] == [own]
        with pytest.raises(NukiErrorReport) as missing:
            await client.remove_authorization_entry(own + 10)
        assert missing.value.name == "K_ERROR_INVALID_AUTH_ID"

    with_paired_lock(body)


def test_unknown_authorization_gets_an_unencrypted_error() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        assert client.credentials is not None
        client.credentials = Credentials(
            authorization_id=77, shared_key=client.credentials.shared_key, app_id=99
        )
        with pytest.raises(NukiErrorReport) as error:
            await client.request_nuki_states()
        assert error.value.error_code == NukiErrorCode.K_ERROR_NOT_AUTHORIZED

    with_paired_lock(body)


def test_a_silent_lock_times_out() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        lock.silent = True
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(TimeoutError):
            await client.request_nuki_states()
        assert loop.time() - started < 1.0

    with_paired_lock(body, timeout=0.2)


def test_pin_commands_need_a_pin() -> None:
    async def body(client: NukiClient, lock: FakeLock) -> None:
        client.security_pin = None
        with pytest.raises(ValueError, match="PIN"):
            await client.verify_security_pin()

    with_paired_lock(body)
