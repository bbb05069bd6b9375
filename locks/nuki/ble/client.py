"""The app side of the protocol: pairing and every exchange a Latchkey agent needs.

`NukiClient` acts as a Nuki *app* (ID type 0; pairing as a bridge would unregister a real Nuki
Bridge) and talks through any `Transport`. Each public method is one exchange as the spec
describes it:

* plain requests: Request Data(command) -> that command;
* nonce-protected: Request Data(Challenge) -> Challenge n_K -> command carrying n_K
  (Lock Action, Request Config, Request Advanced Config);
* PIN-protected: the same, with the security PIN after the nonce;
* listings (authorizations, log, keypad codes, time control): entries until Status COMPLETE.

While waiting for an answer the client skips messages that belong to no exchange (a late Status
of an earlier command, a pushed Nuki States), keeping the newest states in `last_states`, and
turns an Error Report into `NukiErrorReport`. All waits are bounded: `timeout` per answer
(field experience: about 3 s) and `action_timeout` for the motor to finish.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any, Generic, TypeVar

from . import commands as c
from .constants import CommandId, IdType, StatusCode
from .crypto import (
    KeyPair,
    RandomSource,
    authenticators_equal,
    new_challenge,
    random_bytes,
    shared_key,
)
from .errors import AuthenticationError, NukiErrorCode, NukiErrorReport, UnexpectedMessageError
from .frames import ENCRYPTED_HEADER_SIZE, frame_encrypted, frame_plain, read_encrypted, read_plain
from .gatt import SMART_LOCK, NukiProfile
from .pairing import (
    authorization_authenticator,
    authorization_data_authenticator,
    authorization_id_authenticator,
    authorization_id_confirmation_authenticator,
)
from .transport import Message, Transport
from .values import (
    NukiDateTime,
    NukiTime,
    SecurityPin,
    keypad_code_problem,
    to_lock_datetime,
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
class LockActionResult:
    """Outcome of a lock action: whether ACCEPTED was seen, and the states pushed meanwhile."""

    accepted: bool
    states: list[c.NukiStates]


@dataclass(frozen=True)
class Listing(Generic[T]):
    """Entries of a listing plus the total the lock announced (None if it sent no count)."""

    total: int | None
    entries: list[T]


def _time_window(
    time_limited: bool,
    allowed_from_date: NukiDateTime | None,
    allowed_until_date: NukiDateTime | None,
    allowed_weekdays: int,
    allowed_from_time: NukiTime | None,
    allowed_until_time: NukiTime | None,
) -> dict[str, Any]:
    """The allowed-* fields as the wire needs them: zeros stand for "not set"."""
    return {
        "time_limited": int(time_limited),
        "allowed_from_date": allowed_from_date or NukiDateTime.unset(),
        "allowed_until_date": allowed_until_date or NukiDateTime.unset(),
        "allowed_weekdays": allowed_weekdays,
        "allowed_from_time": allowed_from_time or NukiTime(0, 0),
        "allowed_until_time": allowed_until_time or NukiTime(0, 0),
    }


class NukiClient:
    """Talks to one lock over one transport. Not safe for concurrent use: one exchange at a
    time, as the lock itself handles one command at a time (an internal lock enforces it)."""

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

    # -- pairing --------------------------------------------------------------------------------

    async def pair(
        self,
        *,
        app_id: int,
        name: str,
        id_type: int = IdType.APP,
        keypair: KeyPair | None = None,
        verify_lock_authenticator: bool = True,
    ) -> Credentials:
        """Pair with a lock in pairing mode and keep the resulting credentials.

        `verify_lock_authenticator` checks the lock's Authorization-ID authenticator as the
        spec's table defines it; that formula cannot be checked against the spec's example
        (it needs n_A, which the example does not print), so it can be switched off if a real
        lock disagrees.
        """
        pairing = self.profile.pairing_gdio
        keypair = keypair or KeyPair.generate(self.random)
        async with self._busy:
            await self.send_plain(c.RequestData(command_identifier=CommandId.PUBLIC_KEY), pairing)
            lock_key = await self.expect(c.PublicKey)
            assert isinstance(lock_key, c.PublicKey)
            key = shared_key(keypair.secret_key, lock_key.public_key)

            await self.send_plain(c.PublicKey(public_key=keypair.public_key), pairing)
            first = await self.expect(c.Challenge)
            assert isinstance(first, c.Challenge)
            await self.send_plain(
                c.AuthorizationAuthenticator(
                    authenticator=authorization_authenticator(
                        key, keypair.public_key, lock_key.public_key, first.nonce_k
                    )
                ),
                pairing,
            )

            second = await self.expect(c.Challenge)
            assert isinstance(second, c.Challenge)
            nonce_a = new_challenge(self.random)
            await self.send_plain(
                c.AuthorizationData(
                    authenticator=authorization_data_authenticator(
                        key, id_type, app_id, name, nonce_a, second.nonce_k
                    ),
                    id_type=id_type,
                    app_id=app_id,
                    name=name,
                    nonce_abf=nonce_a,
                ),
                pairing,
            )

            granted = await self.expect(c.AuthorizationId)
            assert isinstance(granted, c.AuthorizationId)
            expected = authorization_id_authenticator(
                key, granted.authorization_id, granted.uuid, granted.nonce_k, nonce_a
            )
            if verify_lock_authenticator and not authenticators_equal(
                expected, granted.authenticator
            ):
                raise AuthenticationError("the lock's Authorization-ID authenticator is wrong")
            await self.send_plain(
                c.AuthorizationIdConfirmation(
                    authenticator=authorization_id_confirmation_authenticator(
                        key, granted.authorization_id, granted.nonce_k
                    ),
                    authorization_id=granted.authorization_id,
                ),
                pairing,
            )
            await self._expect_complete()

        self.credentials = Credentials(
            authorization_id=granted.authorization_id,
            shared_key=key,
            app_id=app_id,
            id_type=id_type,
            lock_public_key=lock_key.public_key,
            lock_uuid=granted.uuid,
        )
        return self.credentials

    # -- state and actions ----------------------------------------------------------------------

    async def request_nuki_states(self) -> c.NukiStates:
        """The keyturner state (lock state, battery, time)."""
        states = await self.request_data(c.NukiStates)
        self.last_states = states
        return states

    request_keyturner_states = request_nuki_states

    async def request_battery_report(self) -> c.BatteryReport:
        return await self.request_data(c.BatteryReport)

    async def lock_action(self, action: int, *, flags: int = 0) -> LockActionResult:
        """Run a lock action and wait until the lock reports it COMPLETE (after ACCEPTED)."""
        creds = self._credentials()
        async with self._busy:
            nonce = await self.challenge()
            await self.send_encrypted(
                c.LockAction(lock_action=action, app_id=creds.app_id, flags=flags, nonce_k=nonce)
            )
            loop = asyncio.get_running_loop()
            accepted = False
            states: list[c.NukiStates] = []
            deadline = loop.time() + self.timeout
            while True:
                answer = await self.expect(
                    c.Status, c.NukiStates, timeout=max(deadline - loop.time(), 0.0)
                )
                if isinstance(answer, c.NukiStates):
                    states.append(answer)
                    self.last_states = answer
                    continue
                assert isinstance(answer, c.Status)
                if answer.status == StatusCode.COMPLETE:
                    return LockActionResult(accepted=accepted, states=states)
                if answer.status != StatusCode.ACCEPTED:
                    raise UnexpectedMessageError(f"unknown status 0x{answer.status:02X}")
                if not accepted:
                    accepted = True
                    deadline = loop.time() + self.action_timeout

    # -- configuration --------------------------------------------------------------------------

    async def request_config(self) -> c.Config:
        async with self._busy:
            nonce = await self.challenge()
            await self.send_encrypted(c.RequestConfig(nonce_k=nonce))
            config = await self.expect(c.Config)
        assert isinstance(config, c.Config)
        return config

    async def set_config(self, **fields: Any) -> None:
        """Set Config with the given fields (all of SetConfig's fields but nonce and PIN)."""
        async with self._busy:
            await self._pin_command(c.SetConfig, **fields)
            await self._expect_complete()

    async def request_advanced_config(self) -> c.AdvancedConfig:
        async with self._busy:
            nonce = await self.challenge()
            await self.send_encrypted(c.RequestAdvancedConfig(nonce_k=nonce))
            config = await self.expect(c.AdvancedConfig)
        assert isinstance(config, c.AdvancedConfig)
        return config

    async def set_advanced_config(self, **fields: Any) -> None:
        async with self._busy:
            await self._pin_command(c.SetAdvancedConfig, **fields)
            await self._expect_complete()

    async def verify_security_pin(self) -> bool:
        """True if the lock accepts our PIN, False on K_ERROR_BAD_PIN."""
        async with self._busy:
            await self._pin_command(c.VerifySecurityPin)
            try:
                await self._expect_complete()
            except NukiErrorReport as exc:
                if exc.error_code == NukiErrorCode.K_ERROR_BAD_PIN:
                    return False
                raise
        return True

    async def set_security_pin(self, new_pin: SecurityPin | int) -> None:
        """Change the PIN; on success the client uses the new one from then on."""
        current = self._pin()
        pin = SecurityPin(new_pin, current.width) if isinstance(new_pin, int) else new_pin
        async with self._busy:
            await self._pin_command(c.SetSecurityPin, pin=pin)
            await self._expect_complete()
        self.security_pin = pin

    async def update_time(
        self, when: datetime | NukiDateTime | None = None, *, lock_tz: tzinfo | None = None
    ) -> None:
        """Set the lock's clock (now, by default) through `to_lock_datetime`."""
        if not isinstance(when, NukiDateTime):
            when = to_lock_datetime(when or datetime.now(UTC), lock_tz)
        async with self._busy:
            await self._pin_command(c.UpdateTime, time=when)
            await self._expect_complete()

    async def request_calibration(self) -> None:
        async with self._busy:
            await self._pin_command(c.RequestCalibration)
            await self._expect_complete(long_running=True)

    async def request_reboot(self) -> None:
        """Reboot the lock; it drops the connection, so only the send is awaited."""
        async with self._busy:
            await self._pin_command(c.RequestReboot)

    async def request_disconnect(self) -> None:
        async with self._busy:
            await self.send_encrypted(c.RequestDisconnect())

    # -- listings --------------------------------------------------------------------------------

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

    async def request_log_entries(
        self,
        *,
        start_index: int = 0,
        count: int = 20,
        sort_order: int = 1,
        total_count: bool = True,
    ) -> Listing[c.LogEntry]:
        """Log entries (newest first by default), with the total if `total_count`."""
        async with self._busy:
            await self._pin_command(
                c.RequestLogEntries,
                start_index=start_index,
                count=count,
                sort_order=sort_order,
                total_count=int(total_count),
            )
            return await self._collect(c.LogEntry, c.LogEntryCount if total_count else None, count)

    async def enable_logging(self, enabled: bool = True) -> None:
        async with self._busy:
            await self._pin_command(c.EnableLogging, enabled=int(enabled))
            await self._expect_complete()

    async def request_authorization_entries(
        self, *, offset: int = 0, count: int = 100
    ) -> Listing[c.AuthorizationEntry]:
        """Authorizations (apps, bridges, fobs); the first one is our own."""
        async with self._busy:
            await self._pin_command(c.RequestAuthorizationEntries, offset=offset, count=count)
            return await self._collect(
                c.AuthorizationEntry, c.AuthorizationEntryCount, count, offset
            )

    async def remove_authorization_entry(self, authorization_id: int) -> None:
        async with self._busy:
            await self._pin_command(c.RemoveAuthorizationEntry, authorization_id=authorization_id)
            await self._expect_complete()

    async def update_authorization_entry(
        self,
        authorization_id: int,
        *,
        name: str,
        enabled: bool = True,
        remote_allowed: bool = False,
        time_limited: bool = False,
        allowed_from_date: NukiDateTime | None = None,
        allowed_until_date: NukiDateTime | None = None,
        allowed_weekdays: int = 0,
        allowed_from_time: NukiTime | None = None,
        allowed_until_time: NukiTime | None = None,
    ) -> None:
        async with self._busy:
            await self._pin_command(
                c.UpdateAuthorizationEntry,
                authorization_id=authorization_id,
                name=name,
                enabled=int(enabled),
                remote_allowed=int(remote_allowed),
                **_time_window(
                    time_limited,
                    allowed_from_date,
                    allowed_until_date,
                    allowed_weekdays,
                    allowed_from_time,
                    allowed_until_time,
                ),
            )
            await self._expect_complete()

    # -- keypad codes --------------------------------------------------------------------------

    async def add_keypad_code(
        self,
        code: int,
        name: str,
        *,
        time_limited: bool = False,
        allowed_from_date: NukiDateTime | None = None,
        allowed_until_date: NukiDateTime | None = None,
        allowed_weekdays: int = 0,
        allowed_from_time: NukiTime | None = None,
        allowed_until_time: NukiTime | None = None,
    ) -> c.KeypadCodeId | None:
        """Store a keypad code. Returns the lock's Keypad Code ID answer, or None if the lock
        only confirmed with Status COMPLETE (list the codes to learn the id then)."""
        problem = keypad_code_problem(code)
        if problem:
            raise ValueError(f"code: {problem}")
        command_fields = {
            "code": code,
            "name": name,
            **_time_window(
                time_limited,
                allowed_from_date,
                allowed_until_date,
                allowed_weekdays,
                allowed_from_time,
                allowed_until_time,
            ),
        }
        # Build once without the nonce to reject a bad name or date before any radio traffic.
        c.AddKeypadCode(**command_fields, nonce_k=bytes(32), security_pin=self._pin()).encode()
        async with self._busy:
            await self._pin_command(c.AddKeypadCode, **command_fields)
            answer = await self.expect(c.KeypadCodeId, c.Status)
        if isinstance(answer, c.KeypadCodeId):
            return answer
        assert isinstance(answer, c.Status)
        if answer.status != StatusCode.COMPLETE:
            raise UnexpectedMessageError(f"unexpected status 0x{answer.status:02X}")
        return None

    async def request_keypad_codes(
        self, *, offset: int = 0, count: int = 100
    ) -> Listing[c.KeypadCode]:
        async with self._busy:
            await self._pin_command(c.RequestKeypadCodes, offset=offset, count=count)
            return await self._collect(c.KeypadCode, c.KeypadCodeCount, count, offset)

    async def update_keypad_code(
        self,
        code_id: int,
        code: int,
        name: str,
        *,
        enabled: bool = True,
        time_limited: bool = False,
        allowed_from_date: NukiDateTime | None = None,
        allowed_until_date: NukiDateTime | None = None,
        allowed_weekdays: int = 0,
        allowed_from_time: NukiTime | None = None,
        allowed_until_time: NukiTime | None = None,
    ) -> None:
        problem = keypad_code_problem(code)
        if problem:
            raise ValueError(f"code: {problem}")
        command_fields = {
            "code_id": code_id,
            "code": code,
            "name": name,
            "enabled": int(enabled),
            **_time_window(
                time_limited,
                allowed_from_date,
                allowed_until_date,
                allowed_weekdays,
                allowed_from_time,
                allowed_until_time,
            ),
        }
        c.UpdateKeypadCode(**command_fields, nonce_k=bytes(32), security_pin=self._pin()).encode()
        async with self._busy:
            await self._pin_command(c.UpdateKeypadCode, **command_fields)
            await self._expect_complete()

    async def remove_keypad_code(self, code_id: int) -> None:
        async with self._busy:
            await self._pin_command(c.RemoveKeypadCode, code_id=code_id)
            await self._expect_complete()

    # -- time control ---------------------------------------------------------------------------

    async def add_time_control_entry(
        self, *, weekdays: int, time: NukiTime, lock_action: int
    ) -> c.TimeControlEntryId:
        async with self._busy:
            await self._pin_command(
                c.AddTimeControlEntry, weekdays=weekdays, time=time, lock_action=lock_action
            )
            answer = await self.expect(c.TimeControlEntryId)
        assert isinstance(answer, c.TimeControlEntryId)
        return answer

    async def request_time_control_entries(self) -> Listing[c.TimeControlEntry]:
        async with self._busy:
            await self._pin_command(c.RequestTimeControlEntries)
            return await self._collect(c.TimeControlEntry, c.TimeControlEntryCount, 0xFF)

    async def update_time_control_entry(
        self, entry_id: int, *, enabled: bool, weekdays: int, time: NukiTime, lock_action: int
    ) -> None:
        async with self._busy:
            await self._pin_command(
                c.UpdateTimeControlEntry,
                entry_id=entry_id,
                enabled=int(enabled),
                weekdays=weekdays,
                time=time,
                lock_action=lock_action,
            )
            await self._expect_complete()

    async def remove_time_control_entry(self, entry_id: int) -> None:
        async with self._busy:
            await self._pin_command(c.RemoveTimeControlEntry, entry_id=entry_id)
            await self._expect_complete()
