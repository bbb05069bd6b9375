"""Our real BLE client (`locks.nuki.ble.client`) against the simulated Smart Lock.

Everything travels over `LoopbackTransport`, chunked into 20-byte pieces and reassembled, so
these are the same bytes a radio would carry. Time is a `ManualClock` (no sleeping) except in
the one test that needs a lock action to take real time.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from locks.nuki.ble import commands as c
from locks.nuki.ble.client import Credentials, NukiClient
from locks.nuki.ble.constants import (
    CommandId,
    IdType,
    LockAction,
    LockActionFlags,
    LockState,
    LogEntryType,
    NukiState,
    StatusCode,
)
from locks.nuki.ble.crypto import KeyPair, e1_encrypt, shared_key
from locks.nuki.ble.errors import NukiErrorCode, NukiErrorReport
from locks.nuki.ble.frames import (
    encode_encrypted,
    frame_encrypted,
    frame_plain,
    read_encrypted,
    read_plain,
)
from locks.nuki.ble.gatt import SMART_LOCK
from locks.nuki.ble.pairing import (
    authorization_authenticator,
    authorization_data_authenticator,
    authorization_id_confirmation_authenticator,
)
from locks.nuki.ble.transport import LoopbackTransport
from locks.nuki.ble.values import NukiDateTime, NukiTime, SecurityPin
from locks.simulators.ble_lock import (
    LOG_TYPE_KEYPAD_ACTION,
    LOG_TYPE_KEYPAD_CODE_CHANGE,
    ManualClock,
    SimulatedLock,
    TimeWindow,
)

PAIRING = SMART_LOCK.pairing_gdio
USDIO = SMART_LOCK.usdio
PIN = 1234
START = datetime(2024, 6, 30, 12, 0, 0, tzinfo=UTC)  # a Sunday
E = NukiErrorCode

Body = Callable[[SimulatedLock, ManualClock], Awaitable[None]]


def simulate(body: Body, **lock_options: Any) -> SimulatedLock:
    """Run `body` against a fresh lock (PIN 1234, manual clock at START); no simulator errors."""

    async def main() -> SimulatedLock:
        clock = ManualClock(START)
        lock = SimulatedLock(name="Front door", pin=PIN, clock=clock, **lock_options)
        async with lock.running():
            await body(lock, clock)
        return lock

    lock = asyncio.run(main())
    assert lock.failures == []
    return lock


async def paired(
    lock: SimulatedLock, *, app_id: int = 1, name: str = "Latchkey agent", **options: Any
) -> NukiClient:
    """A client paired as an app on its own connection."""
    assert lock.enter_pairing_mode()
    client = NukiClient(
        lock.connect(), security_pin=PIN, timeout=1.0, action_timeout=2.0, **options
    )
    await client.pair(app_id=app_id, name=name)
    return client


def creds(client: NukiClient) -> Credentials:
    assert client.credentials is not None
    return client.credentials


def transport(client: NukiClient) -> LoopbackTransport:
    assert isinstance(client.transport, LoopbackTransport)
    return client.transport


def lock_sent(client: NukiClient, since: int = 0) -> list[c.Command]:
    """What the lock sent this client on USDIO (decrypted, in order) from message `since`."""
    lock_end = transport(client).peer
    assert lock_end is not None
    key = creds(client).shared_key
    return [
        read_encrypted(m.data, key)[1] for m in lock_end.sent[since:] if m.characteristic == USDIO
    ]


def lock_sent_count(client: NukiClient) -> int:
    lock_end = transport(client).peer
    assert lock_end is not None
    return len(lock_end.sent)


async def refused(awaitable: Awaitable[Any]) -> int:
    """The error code of the Error Report the awaitable must end in."""
    with pytest.raises(NukiErrorReport) as error:
        await awaitable
    return error.value.error_code


async def pin_command(client: NukiClient, command_cls: type[c.Command], **fields: Any) -> Any:
    """Send a PIN-protected command as built here (bypassing the client's own checks)."""
    nonce = await client.challenge()
    pin = client.security_pin
    await client.send_encrypted(command_cls(**fields, nonce_k=nonce, security_pin=pin))
    return await client.expect(c.Status, c.KeypadCodeId, c.AuthorizationIdInvite)


def keypad_fields(code: int, name: str = "Guest", **window: Any) -> dict[str, Any]:
    fields = TimeWindow(**window).wire_fields()
    return {"code": code, "name": name, **fields}


# -- pairing -------------------------------------------------------------------------------------


def test_pairing_only_in_pairing_mode_and_it_ends_after_one_pairing() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        outsider = NukiClient(lock.connect(), timeout=1.0)
        assert await refused(outsider.pair(app_id=7, name="x")) == E.P_ERROR_NOT_PAIRING
        assert lock.authorizations == {}
        lock_end = transport(outsider).peer
        assert lock_end is not None  # the lock never showed its public key
        assert [read_plain(m.data) for m in lock_end.sent] == [
            c.ErrorReport(error_code=E.P_ERROR_NOT_PAIRING, command_identifier=0x0001)
        ]

        assert lock.enter_pairing_mode()
        assert lock.nuki_states().nuki_state == NukiState.PAIRING_MODE
        client = NukiClient(lock.connect(), security_pin=PIN, timeout=1.0)
        credentials = await client.pair(app_id=4711, name="Latchkey agent")

        stored = lock.authorizations[credentials.authorization_id]
        assert stored.shared_key == credentials.shared_key
        assert (stored.app_id, stored.name, stored.id_type) == (4711, "Latchkey agent", 0)
        assert credentials.lock_public_key == lock.keys.public_key
        assert credentials.lock_uuid == lock.uuid
        assert not lock.in_pairing_mode
        states = await client.request_nuki_states()
        assert states.nuki_state == NukiState.DOOR_MODE
        assert states.lock_state == LockState.LOCKED

        second = NukiClient(lock.connect(), timeout=1.0)
        assert await refused(second.pair(app_id=8, name="y")) == E.P_ERROR_NOT_PAIRING
        assert list(lock.authorizations) == [credentials.authorization_id]

    simulate(body)


def test_pairing_mode_times_out_by_the_lock_clock() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        lock.enter_pairing_mode(duration=30)
        clock.advance(29)
        assert lock.in_pairing_mode
        clock.advance(2)
        assert not lock.in_pairing_mode
        client = NukiClient(lock.connect(), timeout=1.0)
        assert await refused(client.pair(app_id=1, name="late")) == E.P_ERROR_NOT_PAIRING

    simulate(body)


def test_pairing_with_a_wrong_authenticator_is_refused_and_can_be_retried() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        lock.enter_pairing_mode()
        client = NukiClient(lock.connect(), timeout=1.0)
        await client.send_plain(c.RequestData(command_identifier=CommandId.PUBLIC_KEY))
        await client.expect(c.PublicKey)
        await client.send_plain(c.PublicKey(public_key=os.urandom(32)))
        await client.expect(c.Challenge)
        await client.send_plain(c.AuthorizationAuthenticator(authenticator=bytes(32)))
        assert await refused(client.expect(c.Challenge)) == E.P_ERROR_BAD_AUTHENTICATOR
        assert lock.authorizations == {}
        assert lock.in_pairing_mode  # a failed attempt does not end pairing mode

        # out of sequence: the exchange was reset, Authorization Data alone is refused
        await client.send_plain(
            c.AuthorizationData(
                authenticator=bytes(32), id_type=0, app_id=1, name="x", nonce_abf=bytes(32)
            )
        )
        assert await refused(client.expect(c.Challenge)) == E.ERROR_UNKNOWN

        await client.pair(app_id=1, name="second try")
        assert [a.name for a in lock.authorizations.values()] == ["second try"]

    simulate(body)


def test_pairing_confirmation_must_name_the_granted_authorization() -> None:
    """A confirmation whose authenticator is right for the granted id but which names another
    id is refused, and nothing is stored."""

    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        lock.enter_pairing_mode()
        client = NukiClient(lock.connect(), timeout=1.0)
        keys = KeyPair.generate()
        await client.send_plain(c.RequestData(command_identifier=CommandId.PUBLIC_KEY))
        lock_key = await client.expect(c.PublicKey)
        key = shared_key(keys.secret_key, lock_key.public_key)
        await client.send_plain(c.PublicKey(public_key=keys.public_key))
        first = await client.expect(c.Challenge)
        authenticator = authorization_authenticator(
            key, keys.public_key, lock_key.public_key, first.nonce_k
        )
        await client.send_plain(c.AuthorizationAuthenticator(authenticator=authenticator))
        second = await client.expect(c.Challenge)
        nonce_a = os.urandom(32)
        await client.send_plain(
            c.AuthorizationData(
                authenticator=authorization_data_authenticator(
                    key, 0, 9, "x", nonce_a, second.nonce_k
                ),
                id_type=0,
                app_id=9,
                name="x",
                nonce_abf=nonce_a,
            )
        )
        granted = await client.expect(c.AuthorizationId)
        confirmation = authorization_id_confirmation_authenticator(
            key, granted.authorization_id, granted.nonce_k
        )
        await client.send_plain(
            c.AuthorizationIdConfirmation(
                authenticator=confirmation, authorization_id=granted.authorization_id + 1
            )
        )
        assert await refused(client.expect(c.Status)) == E.P_ERROR_BAD_AUTHENTICATOR
        assert lock.authorizations == {}

    simulate(body)


def test_pairing_refused_when_the_lock_is_full_and_a_new_bridge_replaces_the_old() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        await paired(lock, app_id=1, name="app")
        lock.enter_pairing_mode()
        bridge = NukiClient(lock.connect(), timeout=1.0)
        await bridge.pair(app_id=10, name="bridge 1", id_type=IdType.BRIDGE)
        lock.enter_pairing_mode()
        newer = NukiClient(lock.connect(), timeout=1.0)
        await newer.pair(app_id=11, name="bridge 2", id_type=IdType.BRIDGE)
        assert sorted(a.name for a in lock.authorizations.values()) == ["app", "bridge 2"]

        lock.enter_pairing_mode()
        third = NukiClient(lock.connect(), timeout=1.0)
        assert await refused(third.pair(app_id=3, name="one too many")) == E.P_ERROR_MAX_USER
        assert len(lock.authorizations) == 2

    simulate(body, max_authorizations=2)


# -- lock actions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "action", "states"),
    [
        (LockState.LOCKED, LockAction.UNLOCK, [LockState.UNLOCKING, LockState.UNLOCKED]),
        (LockState.UNLOCKED, LockAction.LOCK, [LockState.LOCKING, LockState.LOCKED]),
        (
            LockState.LOCKED,
            LockAction.UNLATCH,
            [LockState.UNLATCHING, LockState.UNLATCHED, LockState.UNLOCKED],
        ),
        (
            LockState.UNLOCKED,
            LockAction.LOCK_N_GO,
            [
                LockState.UNLOCKING,
                LockState.UNLOCKED_LOCK_N_GO,
                LockState.LOCKING,
                LockState.LOCKED,
            ],
        ),
        # fob action 2 is "lock" in the default config
        (LockState.UNLOCKED, LockAction.FOB_ACTION_2, [LockState.LOCKING, LockState.LOCKED]),
    ],
)
def test_lock_action_sends_accepted_states_complete(
    start: LockState, action: LockAction, states: list[LockState]
) -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        lock.state = start
        before = lock_sent_count(client)
        result = await client.lock_action(action)

        assert result.accepted
        assert [s.lock_state for s in result.states] == states
        assert lock.state == states[-1]
        wire = lock_sent(client, before)
        assert isinstance(wire[0], c.Challenge)
        assert wire[1] == c.Status(status=StatusCode.ACCEPTED)
        assert [type(m) for m in wire[2:-1]] == [c.NukiStates] * len(states)
        assert wire[-1] == c.Status(status=StatusCode.COMPLETE)

        final = await client.request_nuki_states()
        assert final.lock_state == states[-1]
        assert final.last_lock_action == action
        assert final.last_lock_action_completion_status == 0
        lock_n_go = [s.lock_n_go_timer for s in result.states]
        assert lock_n_go == [20 if s == LockState.UNLOCKED_LOCK_N_GO else 0 for s in states]

    simulate(body)


def test_openings_battery_and_most_recent_command() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        await client.lock_action(LockAction.UNLOCK)
        await client.lock_action(LockAction.LOCK)
        await client.lock_action(LockAction.UNLATCH)
        summary = await client.request_data(c.OpeningsClosingsSummary)
        assert (summary.openings_total, summary.closings_total) == (2, 1)
        assert (summary.openings_since_boot, summary.closings_since_boot) == (2, 1)
        recent = await client.request_data(c.MostRecentCommand)
        assert recent.command_identifier == CommandId.LOCK_ACTION
        await client.verify_security_pin()
        recent = await client.request_data(c.MostRecentCommand)
        assert recent.command_identifier == CommandId.VERIFY_SECURITY_PIN
        battery = await client.request_battery_report()
        assert battery.critical_battery_state == 0
        lock.battery_critical = True
        assert (await client.request_nuki_states()).critical_battery_state == 1

    simulate(body)


def test_a_lock_action_takes_its_time_and_the_lock_is_busy_meanwhile() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        owner = await paired(lock, app_id=1, name="owner")
        other = await paired(lock, app_id=2, name="other")
        loop = asyncio.get_running_loop()
        started = loop.time()
        unlocking = asyncio.create_task(owner.lock_action(LockAction.UNLOCK))
        for _ in range(1000):
            if lock.busy:
                break
            await asyncio.sleep(0)
        assert lock.busy

        states = await other.request_nuki_states()
        assert states.lock_state == LockState.UNLOCKING
        assert await refused(other.lock_action(LockAction.LOCK)) == E.K_ERROR_BUSY

        result = await unlocking
        assert loop.time() - started >= 0.1
        assert [s.lock_state for s in result.states] == [LockState.UNLOCKING, LockState.UNLOCKED]
        assert lock.state == LockState.UNLOCKED
        await other.lock_action(LockAction.LOCK)  # free again
        assert lock.state == LockState.LOCKED

    simulate(body, action_seconds=0.1)


def test_motor_fault_remote_access_and_unknown_position() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        credentials = creds(client)
        via_bridge = NukiClient(
            lock.connect(via_bridge=True), credentials=credentials, security_pin=PIN, timeout=1.0
        )
        code = await refused(via_bridge.lock_action(LockAction.UNLOCK))
        assert code == E.K_ERROR_REMOTE_NOT_ALLOWED
        assert lock.state == LockState.LOCKED
        await client.update_authorization_entry(
            credentials.authorization_id, name="Latchkey agent", remote_allowed=True
        )
        await via_bridge.lock_action(LockAction.UNLOCK)
        assert lock.state == LockState.UNLOCKED

        lock.inject_fault(E.K_ERROR_MOTOR_BLOCKED)
        assert await refused(client.lock_action(LockAction.LOCK)) == E.K_ERROR_MOTOR_BLOCKED
        assert lock.state == LockState.MOTOR_BLOCKED
        assert lock.log[-1].data == c.LockActionLogData(  # padded to 5 bytes (firmware 3.x)
            lock_action=LockAction.LOCK,
            trigger=0,
            auto_unlock_flag=0,
            completion_status=1,
            padding=bytes(1),
        )
        code = await refused(via_bridge.lock_action(LockAction.UNLOCK))
        assert code == E.K_ERROR_POSITION_UNKNOWN
        await client.lock_action(LockAction.LOCK)  # on site, the app may try again
        assert lock.state == LockState.LOCKED

    simulate(body)


def test_auto_unlock_too_recent() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        await client.lock_action(LockAction.UNLOCK, flags=LockActionFlags.AUTO_UNLOCK)
        assert lock.log[-1].data.auto_unlock_flag == 1  # type: ignore[union-attr]
        await client.lock_action(LockAction.LOCK)
        code = await refused(
            client.lock_action(LockAction.UNLOCK, flags=LockActionFlags.AUTO_UNLOCK)
        )
        assert code == E.K_ERROR_AUTO_UNLOCK_TOO_RECENT
        assert lock.state == LockState.LOCKED
        clock.advance(31)
        await client.lock_action(LockAction.UNLOCK, flags=LockActionFlags.AUTO_UNLOCK)
        assert lock.state == LockState.UNLOCKED

    simulate(body, auto_unlock_cooldown=30)


# -- security PIN ----------------------------------------------------------------------------


def test_wrong_pins_lock_pin_commands_out_for_a_while() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        right, wrong = SecurityPin(PIN), SecurityPin(4321)

        # a right PIN in between resets the count
        client.security_pin = wrong
        assert not await client.verify_security_pin()
        assert not await client.verify_security_pin()
        client.security_pin = right
        assert await client.verify_security_pin()

        client.security_pin = wrong
        for _ in range(3):
            assert not await client.verify_security_pin()  # K_ERROR_BAD_PIN each time
        client.security_pin = right
        code = await refused(client.verify_security_pin())
        assert code == E.K_ERROR_TOO_MANY_PIN_ATTEMPTS
        assert await refused(client.add_keypad_code(345678, "Guest")) == code
        assert lock.codes == {}
        # commands without a PIN still work during the lock-out
        await client.lock_action(LockAction.UNLOCK)
        assert (await client.request_nuki_states()).lock_state == LockState.UNLOCKED

        clock.advance(299)
        assert await refused(client.verify_security_pin()) == code
        clock.advance(2)
        assert await client.verify_security_pin()
        client.security_pin = SecurityPin(PIN, 4)  # a newer lock's 4-byte PIN
        assert await refused(client.verify_security_pin()) == E.ERROR_BAD_LENGTH
        client.security_pin = right
        await client.set_security_pin(5555)
        assert lock.pin == 5555
        client.security_pin = right
        assert not await client.verify_security_pin()

    simulate(body, max_pin_attempts=3, pin_lockout_seconds=300)


# -- nonces ------------------------------------------------------------------------------------


def test_a_replayed_frame_gets_bad_nonce() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        link = transport(client)
        key = creds(client).shared_key

        def captured(command_type: type[c.Command], since: int) -> bytes:
            for message in link.sent[since:]:
                if message.characteristic == USDIO and isinstance(
                    read_encrypted(message.data, key)[1], command_type
                ):
                    return message.data
            raise AssertionError(f"no {command_type.NAME} was sent")

        mark = len(link.sent)
        await client.lock_action(LockAction.UNLOCK)
        unlock_frame = captured(c.LockAction, mark)
        await client.lock_action(LockAction.LOCK)
        log_size = len(lock.log)

        await link.send(USDIO, unlock_frame)  # the attacker's replay
        with pytest.raises(NukiErrorReport) as error:
            await client.receive_command()
        assert error.value.error_code == E.K_ERROR_BAD_NONCE
        assert error.value.command_identifier == CommandId.LOCK_ACTION
        assert lock.state == LockState.LOCKED
        assert len(lock.log) == log_size

        # also while a fresh challenge is outstanding
        await client.challenge()
        await link.send(USDIO, unlock_frame)
        assert await refused(client.receive_command()) == E.K_ERROR_BAD_NONCE
        assert lock.state == LockState.LOCKED

        # a replayed PIN command is refused for its nonce and never counts as a wrong PIN
        mark = len(link.sent)
        assert await client.verify_security_pin()
        verify_frame = captured(c.VerifySecurityPin, mark)
        for _ in range(5):
            await link.send(USDIO, verify_frame)
            assert await refused(client.receive_command()) == E.K_ERROR_BAD_NONCE
        assert await client.verify_security_pin()

    simulate(body)


# -- authorizations ----------------------------------------------------------------------------


def test_authorization_time_limit_and_disabled() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        admin = await paired(lock, app_id=1, name="admin")
        guest = await paired(lock, app_id=2, name="Guest phone")
        guest_id = creds(guest).authorization_id
        await admin.update_authorization_entry(
            guest_id,
            name="Guest phone",
            time_limited=True,
            allowed_from_date=NukiDateTime(2024, 7, 1, 15, 0, 0),
            allowed_until_date=NukiDateTime(2024, 7, 5, 11, 0, 0),
        )
        entries = (await admin.request_authorization_entries()).entries
        entry = next(e for e in entries if e.authorization_id == guest_id)
        assert entry.time_limited == 1
        assert entry.allowed_until_date == NukiDateTime(2024, 7, 5, 11, 0, 0)

        # 2024-06-30 12:00: before the window
        code = await refused(guest.lock_action(LockAction.UNLOCK))
        assert code == E.K_ERROR_TIME_NOT_ALLOWED
        assert lock.state == LockState.LOCKED
        clock.advance(days=2)  # 2024-07-02 12:00
        await guest.lock_action(LockAction.UNLOCK)
        assert lock.state == LockState.UNLOCKED
        clock.set(datetime(2024, 7, 5, 11, 0, 1, tzinfo=UTC))
        assert await refused(guest.lock_action(LockAction.LOCK)) == E.K_ERROR_TIME_NOT_ALLOWED
        assert lock.state == LockState.UNLOCKED

        # the window follows the lock's clock, which Update Time sets
        await admin.update_time(datetime(2024, 7, 3, 10, 0, 0, tzinfo=UTC))
        await guest.lock_action(LockAction.LOCK)
        assert lock.state == LockState.LOCKED

        await admin.update_authorization_entry(guest_id, name="Guest phone", enabled=False)
        assert await refused(guest.lock_action(LockAction.UNLOCK)) == E.K_ERROR_DISABLED
        assert lock.state == LockState.LOCKED

    simulate(body)


@pytest.mark.parametrize(
    ("window", "now", "allowed"),
    [
        (TimeWindow(time_limited=False), datetime(2024, 1, 1), True),
        (
            TimeWindow(True, NukiDateTime(2024, 7, 1), NukiDateTime(2024, 7, 5, 11)),
            datetime(2024, 7, 5, 11, 0, 0),
            True,
        ),
        (
            TimeWindow(True, NukiDateTime(2024, 7, 1), NukiDateTime(2024, 7, 5, 11)),
            datetime(2024, 6, 30, 23, 59, 59),
            False,
        ),
        # weekdays: Monday (64) only; 2024-07-01 was a Monday
        (TimeWindow(True, allowed_weekdays=64), datetime(2024, 7, 1, 9), True),
        (TimeWindow(True, allowed_weekdays=64), datetime(2024, 7, 2, 9), False),
        # daily 08:00-18:00, until exclusive
        (
            TimeWindow(True, allowed_from_time=NukiTime(8, 0), allowed_until_time=NukiTime(18, 0)),
            datetime(2024, 7, 2, 17, 59),
            True,
        ),
        (
            TimeWindow(True, allowed_from_time=NukiTime(8, 0), allowed_until_time=NukiTime(18, 0)),
            datetime(2024, 7, 2, 18, 0),
            False,
        ),
        # over midnight 22:00-06:00
        (
            TimeWindow(True, allowed_from_time=NukiTime(22, 0), allowed_until_time=NukiTime(6, 0)),
            datetime(2024, 7, 2, 23, 30),
            True,
        ),
        (
            TimeWindow(True, allowed_from_time=NukiTime(22, 0), allowed_until_time=NukiTime(6, 0)),
            datetime(2024, 7, 2, 12, 0),
            False,
        ),
    ],
)
def test_time_window_rules(window: TimeWindow, now: datetime, allowed: bool) -> None:
    assert window.allows(now) is allowed


def test_authorizations_list_remove_and_invite() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        admin = await paired(lock, app_id=1, name="admin")
        guest = await paired(lock, app_id=2, name="guest")
        admin_id, guest_id = creds(admin).authorization_id, creds(guest).authorization_id

        listing = await admin.request_authorization_entries()
        assert listing.total == 2
        assert [e.authorization_id for e in listing.entries] == [admin_id, guest_id]
        own_first = await guest.request_authorization_entries()
        assert [e.authorization_id for e in own_first.entries] == [guest_id, admin_id]
        page = await admin.request_authorization_entries(offset=1, count=1)
        assert (page.total, [e.name for e in page.entries]) == (2, ["guest"])

        await admin.remove_authorization_entry(guest_id)
        assert list(lock.authorizations) == [admin_id]
        assert await refused(guest.request_nuki_states()) == E.K_ERROR_NOT_AUTHORIZED
        code = await refused(admin.remove_authorization_entry(guest_id))
        assert code == E.K_ERROR_INVALID_AUTH_ID

        # Authorization Data (Invite): the inviting app hands over a key it generated
        key = os.urandom(32)
        answer = await pin_command(
            admin,
            c.AuthorizationDataInvite,
            name="Cleaner",
            id_type=IdType.APP,
            shared_key=key,
            remote_allowed=0,
            **TimeWindow().wire_fields(),
        )
        assert isinstance(answer, c.AuthorizationIdInvite)
        assert lock.authorizations[answer.authorization_id].shared_key == key
        invited = NukiClient(
            lock.connect(),
            credentials=Credentials(
                authorization_id=answer.authorization_id, shared_key=key, app_id=0
            ),
            timeout=1.0,
        )
        assert (await invited.request_nuki_states()).lock_state == LockState.LOCKED

    simulate(body)


# -- keypad codes ----------------------------------------------------------------------------


def test_keypad_codes_add_list_update_remove() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
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
        assert first.date_created == NukiDateTime(2024, 6, 30, 12, 0, 0)
        assert sorted(lock.codes) == [first.code_id, second.code_id]
        assert lock.codes[first.code_id].code == 345678

        before = lock_sent_count(client)
        listing = await client.request_keypad_codes()
        wire = lock_sent(client, before)
        assert [type(m) for m in wire] == [
            c.Challenge,
            c.KeypadCodeCount,
            c.KeypadCode,
            c.KeypadCode,
            c.Status,
        ]
        assert listing.total == 2
        assert [(e.code_id, e.code, e.name) for e in listing.entries] == [
            (first.code_id, 345678, "Guest Smith"),
            (second.code_id, 987654, "Cleaner"),
        ]
        assert listing.entries[0].time_limited == 1
        assert listing.entries[0].allowed_until_date == NukiDateTime(2024, 7, 5, 11, 0, 0)
        assert listing.entries[1].allowed_weekdays == 68

        await client.update_keypad_code(second.code_id, 876543, "Cleaner B", enabled=False)
        updated = lock.codes[second.code_id]
        assert (updated.code, updated.name, updated.enabled) == (876543, "Cleaner B", False)

        await client.remove_keypad_code(first.code_id)
        listing = await client.request_keypad_codes()
        assert (listing.total, [e.code_id for e in listing.entries]) == (1, [second.code_id])
        assert list(lock.codes) == [second.code_id]
        code = await refused(client.remove_keypad_code(first.code_id))
        assert code == E.K_ERROR_BAD_PARAMETER

        page = await client.request_keypad_codes(offset=1, count=5)
        assert (page.total, page.entries) == (1, [])

    simulate(body)


def test_keypad_code_rules_duplicate_and_invalid() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        kept = await client.add_keypad_code(345678, "Guest")
        other = await client.add_keypad_code(456789, "Other")
        assert kept is not None and other is not None

        assert await refused(client.add_keypad_code(345678, "Again")) == 0x2A
        # the client refuses invalid codes itself, so send them as built here
        for bad in (123456, 102345, 12345, 1234567, 0, 999990):
            fields = keypad_fields(bad)
            assert await refused(pin_command(client, c.AddKeypadCode, **fields)) == 0x2B, bad
        assert sorted(e.code for e in lock.codes.values()) == [345678, 456789]

        update = {"code_id": other.code_id, "enabled": 1}
        fields = {**keypad_fields(121212), **update}
        assert await refused(pin_command(client, c.UpdateKeypadCode, **fields)) == 0x2B
        fields = {**keypad_fields(345678), **update}
        assert await refused(pin_command(client, c.UpdateKeypadCode, **fields)) == 0x2A
        fields = {**keypad_fields(456789, "renamed"), **update}
        assert await pin_command(client, c.UpdateKeypadCode, **fields) == c.Status(status=0)
        assert lock.codes[other.code_id].name == "renamed"  # same code on the same entry: fine
        fields = {**keypad_fields(567891), **update, "code_id": 999}
        code = await refused(pin_command(client, c.UpdateKeypadCode, **fields))
        assert code == E.K_ERROR_BAD_PARAMETER

        # a window with until before from is a bad parameter
        fields = keypad_fields(
            567891,
            time_limited=True,
            allowed_from_date=NukiDateTime(2024, 7, 5),
            allowed_until_date=NukiDateTime(2024, 7, 1),
        )
        code = await refused(pin_command(client, c.AddKeypadCode, **fields))
        assert code == E.K_ERROR_BAD_PARAMETER
        assert len(lock.codes) == 2

    simulate(body)


def _codes(n: int) -> list[int]:
    """`n` distinct valid keypad codes (3 followed by five digits 1-9)."""
    out = []
    for i in range(n):
        digits, rest = [], i
        for _ in range(5):
            digits.append(str(rest % 9 + 1))
            rest //= 9
        out.append(int("3" + "".join(digits)))
    return out


def test_keypad_capacity_default_100() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        codes = _codes(101)
        for code in codes[:100]:
            await client.add_keypad_code(code, "Guest")
        assert len(lock.codes) == 100
        code = await refused(client.add_keypad_code(codes[100], "One too many"))
        assert code == E.K_ERROR_TOO_MANY_ENTRIES
        listing = await client.request_keypad_codes(count=100)
        assert listing.total == 100 and len(listing.entries) == 100

    simulate(body)


def test_keypad_capacity_is_configurable() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        ids = []
        for code in _codes(3):
            answer = await client.add_keypad_code(code, "Guest")
            assert answer is not None
            ids.append(answer.code_id)
        assert await refused(client.add_keypad_code(456789, "Fourth")) == 0x29
        assert await refused(client.add_keypad_code(_codes(1)[0], "Dup")) == 0x2A
        await client.remove_keypad_code(ids[0])
        assert await client.add_keypad_code(456789, "Fourth") is not None
        assert len(lock.codes) == 3

    simulate(body, capacity=3)


@pytest.mark.parametrize("always", [True, False])
def test_keypad_code_time_fields_follow_the_firmware_variant(always: bool) -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        await client.add_keypad_code(345678, "Plain")
        entry = (await client.request_keypad_codes()).entries[0]
        assert entry.time_limited == 0
        assert (entry.allowed_from_date is not None) is always

    simulate(body, always_send_keypad_time_fields=always)


def test_keypad_use_checks_code_enabled_and_window() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        limited = await client.add_keypad_code(
            345678,
            "Guest",
            time_limited=True,
            allowed_from_date=NukiDateTime(2024, 7, 1, 15, 0, 0),
            allowed_until_date=NukiDateTime(2024, 7, 5, 11, 0, 0),
        )
        cleaner = await client.add_keypad_code(456789, "Cleaner")
        assert limited is not None and cleaner is not None

        assert not await lock.enter_keypad_code(345678)  # before its window
        assert not await lock.enter_keypad_code(111111)  # unknown
        assert lock.state == LockState.LOCKED
        assert await lock.enter_keypad_code(456789)
        assert lock.state == LockState.UNLOCKED
        assert lock.codes[cleaner.code_id].lock_count == 1

        await client.update_keypad_code(cleaner.code_id, 456789, "Cleaner", enabled=False)
        assert not await lock.enter_keypad_code(456789, action=LockAction.LOCK)
        assert lock.state == LockState.UNLOCKED

        clock.advance(days=1, hours=3)  # 2024-07-01 15:00
        assert await lock.enter_keypad_code(345678, action=LockAction.LOCK)
        assert lock.state == LockState.LOCKED
        listing = await client.request_keypad_codes()
        used = next(e for e in listing.entries if e.code_id == limited.code_id)
        assert used.lock_count == 1
        assert used.date_last_active == NukiDateTime(2024, 7, 1, 15, 0, 0)

    simulate(body)


# -- log -----------------------------------------------------------------------------------------


def test_log_entries_for_actions_code_changes_and_keypad_use() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        auth_id = creds(client).authorization_id
        await client.lock_action(LockAction.UNLOCK)
        clock.advance(60)
        added = await client.add_keypad_code(345678, "Guest")
        assert added is not None
        await client.lock_action(LockAction.LOCK)
        assert await lock.enter_keypad_code(345678)
        assert not await lock.enter_keypad_code(999999)
        await client.remove_keypad_code(added.code_id)

        listing = await client.request_log_entries(count=50)  # newest first, with total
        assert listing.total == len(lock.log) == 6
        assert listing.entries == list(reversed(lock.log))
        oldest = listing.entries[-1]
        assert (oldest.index, oldest.auth_id, oldest.name) == (1, auth_id, "Latchkey agent")
        assert oldest.timestamp == NukiDateTime(2024, 6, 30, 12, 0, 0)
        assert oldest.data == c.LockActionLogData(
            lock_action=LockAction.UNLOCK,
            trigger=0,
            auto_unlock_flag=0,
            completion_status=0,
            padding=bytes(1),
        )
        code_id = struct.pack("<H", added.code_id)
        assert [(e.type, getattr(e.data, "raw", None)) for e in lock.log[1:]] == [
            (LOG_TYPE_KEYPAD_CODE_CHANGE, b"\x01" + code_id),
            (LogEntryType.LOCK_ACTION, None),
            (LOG_TYPE_KEYPAD_ACTION, bytes((1, 1, 0)) + code_id),
            (LOG_TYPE_KEYPAD_ACTION, bytes((1, 1, 0xE0, 0, 0))),
            (LOG_TYPE_KEYPAD_CODE_CHANGE, b"\x03" + code_id),
        ]
        assert lock.log[2].timestamp == NukiDateTime(2024, 6, 30, 12, 1, 0)

        ascending = await client.request_log_entries(start_index=2, count=2, sort_order=0)
        assert (ascending.total, [e.index for e in ascending.entries]) == (5, [2, 3])
        descending = await client.request_log_entries(start_index=3, count=10, sort_order=1)
        assert (descending.total, [e.index for e in descending.entries]) == (3, [3, 2, 1])
        oldest_two = await client.request_log_entries(count=2, sort_order=0, total_count=False)
        assert (oldest_two.total, [e.index for e in oldest_two.entries]) == (None, [1, 2])

        await client.enable_logging(False)
        await client.lock_action(LockAction.UNLOCK)
        assert len(lock.log) == 7
        assert lock.log[-1].data == c.LoggingEnabledLogData(logging_enabled=0, padding=bytes(4))
        count_only = await client.request_log_entries(count=0)
        assert count_only.total == 7 and count_only.entries == []

    simulate(body)


# -- clock, config, time control -------------------------------------------------------------


def test_time_sync_sets_the_lock_clock_which_keeps_running() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        assert (await client.request_nuki_states()).current_time == NukiDateTime(
            2024, 6, 30, 12, 0, 0
        )
        await client.update_time(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
        assert lock.now() == datetime(2025, 1, 2, 3, 4, 5)
        clock.advance(90)
        states = await client.request_nuki_states()
        assert states.current_time == NukiDateTime(2025, 1, 2, 3, 5, 35)
        assert (await client.request_config()).current_time == states.current_time
        code = await refused(client.update_time(NukiDateTime(2025, 13, 1, 0, 0, 0)))
        assert code == E.K_ERROR_BAD_PARAMETER
        assert lock.now() == datetime(2025, 1, 2, 3, 5, 35)

    simulate(body)


def test_config_and_advanced_config() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        config = await client.request_config()
        assert (config.name, config.nuki_id) == ("Front door", lock.nuki_id)
        settings: dict[str, Any] = {
            "name": "Back door",
            "latitude": 48.25,
            "longitude": 16.5,
            "auto_unlatch": 1,
            "pairing_enabled": 0,
            "button_enabled": 1,
            "led_flash_enabled": 0,
            "led_brightness": 5,
            "timezone_offset": 60,
            "dst_mode": 1,
            "fob_action_1": 1,
            "fob_action_2": 2,
            "fob_action_3": 4,
        }
        await client.set_config(**settings)
        config = await client.request_config()
        assert (config.name, config.latitude, config.led_enabled) == ("Back door", 48.25, 0)
        assert (config.timezone_offset, config.fob_action_3, config.pairing_enabled) == (60, 4, 0)
        assert (await client.request_nuki_states()).config_update_count == 1
        assert not lock.enter_pairing_mode()  # pairing disabled by config

        code = await refused(client.set_config(**{**settings, "led_brightness": 6}))
        assert code == E.K_ERROR_BAD_PARAMETER
        assert (await client.request_nuki_states()).config_update_count == 1

        advanced = await client.request_advanced_config()
        changes = {
            f.name: getattr(advanced, f.name)
            for f in c.SetAdvancedConfig.__dataclass_fields__.values()
            if f.name not in ("nonce_k", "security_pin")
        }
        changes["lock_n_go_timeout"] = 30
        await client.set_advanced_config(**changes)
        assert (await client.request_advanced_config()).lock_n_go_timeout == 30
        code = await refused(client.set_advanced_config(**{**changes, "battery_type": 9}))
        assert code == E.K_ERROR_BAD_PARAMETER

    simulate(body)


def test_time_control_entries() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        first = await client.add_time_control_entry(
            weekdays=64, time=NukiTime(22, 0), lock_action=LockAction.LOCK
        )
        second = await client.add_time_control_entry(
            weekdays=0, time=NukiTime(7, 30), lock_action=LockAction.UNLOCK
        )
        listing = await client.request_time_control_entries()
        assert listing.total == 2
        assert [(e.entry_id, e.time, e.lock_action) for e in listing.entries] == [
            (first.entry_id, NukiTime(22, 0), LockAction.LOCK),
            (second.entry_id, NukiTime(7, 30), LockAction.UNLOCK),
        ]
        await client.update_time_control_entry(
            first.entry_id, enabled=False, weekdays=1, time=NukiTime(23, 0), lock_action=2
        )
        assert lock.time_controls[first.entry_id].enabled is False
        await client.remove_time_control_entry(second.entry_id)
        assert list(lock.time_controls) == [first.entry_id]
        code = await refused(
            client.add_time_control_entry(weekdays=0, time=NukiTime(25, 0), lock_action=2)
        )
        assert code == E.K_ERROR_BAD_PARAMETER

    simulate(body)


# -- malformed frames and connections --------------------------------------------------------


def test_error_reports_for_frames_the_lock_cannot_take() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        link = transport(client)
        credentials = creds(client)
        key, auth_id = credentials.shared_key, credentials.authorization_id

        async def answer(characteristic: str, frame: bytes) -> tuple[int, int]:
            await link.send(characteristic, frame)
            with pytest.raises(NukiErrorReport) as error:
                await client.receive_command()
            return error.value.error_code, error.value.command_identifier or 0

        def last_answer_was_plain() -> bool:
            lock_end = link.peer
            assert lock_end is not None
            return len(lock_end.sent[-1].data) < 30  # shorter than an encrypted header

        lock.enter_pairing_mode()
        bad_crc = bytearray(frame_plain(c.PublicKey(public_key=bytes(32))))
        bad_crc[-1] ^= 0xFF
        assert await answer(PAIRING, bytes(bad_crc)) == (E.ERROR_BAD_CRC, 0x0003)
        other_request = frame_plain(c.RequestData(command_identifier=CommandId.NUKI_STATES))
        assert await answer(PAIRING, other_request) == (E.P_ERROR_BAD_PARAMETER, 0x0001)
        lock.leave_pairing_mode()

        unknown = encode_encrypted(key, auth_id, 0x0099, b"")
        assert await answer(USDIO, unknown) == (E.ERROR_UNKNOWN, 0x0099)
        short = encode_encrypted(key, auth_id, CommandId.LOCK_ACTION, b"\x01")
        assert await answer(USDIO, short) == (E.ERROR_BAD_LENGTH, CommandId.LOCK_ACTION)
        pdata = struct.pack("<IH", auth_id, CommandId.REQUEST_DATA) + b"\x0c\x00" + b"\x00\x00"
        nonce = os.urandom(24)
        ciphertext = e1_encrypt(key, nonce, pdata)
        garbled = nonce + struct.pack("<IH", auth_id, len(ciphertext)) + ciphertext
        assert (await answer(USDIO, garbled))[0] == E.ERROR_BAD_CRC
        not_requestable = frame_encrypted(
            c.RequestData(command_identifier=CommandId.CONFIG), key, auth_id
        )
        assert await answer(USDIO, not_requestable) == (E.K_ERROR_BAD_PARAMETER, 0x0001)
        lock_only = frame_encrypted(c.Status(status=0), key, auth_id)
        assert await answer(USDIO, lock_only) == (E.ERROR_UNKNOWN, CommandId.STATUS)
        states = c.RequestData(command_identifier=CommandId.NUKI_STATES)
        assert not last_answer_was_plain()  # the key was right: answers are encrypted
        # without a usable key the lock can only answer in clear
        stranger = frame_encrypted(states, key, auth_id + 50)
        assert (await answer(USDIO, stranger))[0] == E.K_ERROR_NOT_AUTHORIZED
        assert last_answer_was_plain()
        wrong_key = frame_encrypted(states, os.urandom(32), auth_id)
        assert (await answer(USDIO, wrong_key))[0] == E.K_ERROR_NOT_AUTHORIZED
        assert last_answer_was_plain()
        in_clear = frame_plain(states)
        assert (await answer(USDIO, in_clear))[0] == E.K_ERROR_NOT_AUTHORIZED
        assert last_answer_was_plain()
        # and the link still works
        assert (await client.request_nuki_states()).lock_state == LockState.LOCKED

    simulate(body)


def test_disconnect_reboot_and_idle_timeout() -> None:
    async def body(lock: SimulatedLock, clock: ManualClock) -> None:
        client = await paired(lock)
        await client.request_disconnect()
        with pytest.raises(ConnectionError):
            await transport(client).receive(1.0)

        again = NukiClient(
            lock.connect(), credentials=client.credentials, security_pin=PIN, timeout=1.0
        )
        await again.request_reboot()
        with pytest.raises(ConnectionError):
            await transport(again).receive(1.0)

        idle = NukiClient(lock.connect(), credentials=client.credentials, timeout=1.0)
        assert (await idle.request_nuki_states()).lock_state == LockState.LOCKED
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ConnectionError):
            await transport(idle).receive(1.0)  # the lock hangs up after 0.05 s of silence
        assert loop.time() - started < 0.9

    simulate(body, idle_timeout=0.05)
