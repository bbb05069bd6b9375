"""`SimulatedLock`: the lock side of the Nuki BLE protocol, served over any `Transport`."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import (
    CommandId,
    CompletionStatus,
    FobAction,
    IdType,
    LockAction,
    LockActionFlags,
    LockState,
    LogEntryType,
    NukiState,
    SortOrder,
    StatusCode,
    Trigger,
)
from locks.nuki.ble.crypto import KeyPair, RandomSource, new_challenge, random_bytes
from locks.nuki.ble.errors import (
    CrcError,
    DecryptionError,
    LengthError,
    NukiErrorCode,
    ProtocolError,
    UnknownCommandError,
)
from locks.nuki.ble.frames import (
    COMMAND_SIZE,
    ENCRYPTED_HEADER_SIZE,
    decode_encrypted,
    decode_plain,
    frame_encrypted,
    frame_plain,
    peek_authorization_id,
)
from locks.nuki.ble.gatt import MAX_CHUNK, SMART_LOCK, NukiProfile
from locks.nuki.ble.transport import LoopbackTransport, Message, Transport
from locks.nuki.ble.values import NukiDateTime, SecurityPin, keypad_code_problem

from .clock import LockClock, TimeSource, system_time
from .model import (
    CALIBRATION,
    MOTIONS,
    OPENING_ACTIONS,
    AdvancedConfiguration,
    Authorization,
    KeypadCodeEntry,
    LockConfiguration,
    TimeControlRecord,
    TimeWindow,
)
from .pairing import PairingExchange, Refused

logger = logging.getLogger(__name__)

LOG_TYPE_KEYPAD_ACTION = 0x05
"""Log entry type of a keypad use in later spec versions. Data (5 bytes, as we understand the
later spec; *unconfirmed*): lock action u8, source u8 (1 = code), completion status u8,
code id u16."""

LOG_TYPE_KEYPAD_CODE_CHANGE = 0xF0
"""Simulator-only log entry type (real firmware is not known to log code changes): data is
change u8 (1 added, 2 updated, 3 removed) and code id u16. The client reads it as RawLogData."""

CODE_ADDED, CODE_UPDATED, CODE_REMOVED = 1, 2, 3
KEYPAD_SOURCE_CODE = 0x01
COMPLETION_INVALID_CODE = 0xE0
"""Completion status of a keypad entry with a wrong, disabled or out-of-window code (later
firmware's value)."""

MOTOR_FAULTS: dict[int, tuple[LockState, int]] = {
    NukiErrorCode.K_ERROR_MOTOR_BLOCKED: (LockState.MOTOR_BLOCKED, CompletionStatus.MOTOR_BLOCKED),
    NukiErrorCode.K_ERROR_CLUTCH_FAILURE: (LockState.UNDEFINED, CompletionStatus.CLUTCH_FAILURE),
    NukiErrorCode.K_ERROR_MOTOR_TIMEOUT: (LockState.UNDEFINED, CompletionStatus.OTHER_ERROR),
}
"""Injectable motor faults: the state the lock ends in and the completion status it logs."""

_REQUESTABLE = frozenset(
    {
        CommandId.CHALLENGE,
        CommandId.NUKI_STATES,
        CommandId.BATTERY_REPORT,
        CommandId.MOST_RECENT_COMMAND,
        CommandId.OPENINGS_CLOSINGS_SUMMARY,
    }
)


@dataclass(eq=False)
class Session:
    """One connection to the lock (what a BLE link is on the real device)."""

    transport: Transport
    via_bridge: bool
    pairing: PairingExchange
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Motion:
    """A running lock action (or calibration): who asked, and the task moving the motor."""

    task: asyncio.Task[None]
    action: int


@dataclass
class _Counters:
    openings_total: int = 0
    closings_total: int = 0
    openings_since_boot: int = 0
    closings_since_boot: int = 0


Handler = Callable[[Session, Authorization, Any], Awaitable[list[c.Command]]]


class SimulatedLock:
    """A Nuki Smart Lock (spec v1.10 plus keypad codes) that our client cannot tell from one.

    Typical use in a test (inside a running event loop)::

        lock = SimulatedLock(name="Front door", pin=1234, clock=ManualClock())
        lock.enter_pairing_mode()
        async with lock.running():
            client = NukiClient(lock.connect())
            await client.pair(app_id=1, name="agent")

    State for assertions: `state` (LockState), `codes` (id -> KeypadCodeEntry), `log` (the
    LogEntry commands the lock would send), `authorizations` (id -> Authorization with its
    shared key), `time_controls`, `config`, `advanced_config`, `now()` (the lock's clock) and
    `failures` (exceptions inside the simulator; a correct run leaves it empty).
    """

    def __init__(
        self,
        *,
        name: str = "Simulated Lock",
        pin: int = 0,
        pin_width: int = 2,
        capacity: int = 100,
        max_authorizations: int = 100,
        max_time_control_entries: int = 20,
        clock: TimeSource | None = None,
        action_seconds: float = 0.0,
        pairing_timeout: float = 300.0,
        max_pin_attempts: int = 3,
        pin_lockout_seconds: float = 300.0,
        auto_unlock_cooldown: float = 30.0,
        idle_timeout: float | None = None,
        always_send_keypad_time_fields: bool = True,
        log_code_changes: bool = True,
        windows_in_local_time: bool = False,
        initial_state: LockState = LockState.LOCKED,
        nuki_id: int | None = None,
        profile: NukiProfile = SMART_LOCK,
        random: RandomSource = random_bytes,
    ) -> None:
        self.random = random
        self.profile = profile
        self.clock = LockClock(clock or system_time)
        self.keys = KeyPair.generate(random)
        self.uuid = random(16)
        self.nuki_id = nuki_id if nuki_id is not None else int.from_bytes(random(4), "little")
        self.config = LockConfiguration(name=name)
        self.advanced_config = AdvancedConfiguration()
        self.config_update_count = 0
        self._pin = SecurityPin(pin, pin_width)

        self.capacity = capacity
        self.max_authorizations = max_authorizations
        self.max_time_control_entries = max_time_control_entries
        self.action_seconds = action_seconds
        self.pairing_timeout = pairing_timeout
        self.max_pin_attempts = max_pin_attempts
        self.pin_lockout_seconds = pin_lockout_seconds
        self.auto_unlock_cooldown = auto_unlock_cooldown
        self.idle_timeout = idle_timeout
        self.always_send_keypad_time_fields = always_send_keypad_time_fields
        self.log_code_changes = log_code_changes
        self.windows_in_local_time = windows_in_local_time

        self.authorizations: dict[int, Authorization] = {}
        self.codes: dict[int, KeypadCodeEntry] = {}
        self.time_controls: dict[int, TimeControlRecord] = {}
        self.log: list[c.LogEntry] = []
        self.logging_enabled = True
        self.battery_critical = False
        self.failures: list[BaseException] = []
        self.garbled_messages = 0
        self.on_change: Callable[[SimulatedLock], None] | None = None
        """Called after anything the lock keeps changed and before the lock answers (its
        flash write): `locks.agent.simulate` persists the lock there, so a crash never loses
        what the lock already confirmed."""
        self.time_updates: list[tuple[datetime, float]] = []
        """Update Time commands received: (time source instant, seconds the lock clock was
        off, positive = ahead), the last 100."""

        self._state = initial_state
        self._trigger: int = Trigger.SYSTEM
        self._last_action: int = 0
        self._last_action_trigger: int = Trigger.SYSTEM
        self._last_action_status: int = CompletionStatus.SUCCESS
        self._most_recent_command = 0
        self._counters = _Counters()
        self._next_auth_id = 1
        self._next_code_id = 1
        self._next_log_index = 1
        self._challenges: dict[int, bytes] = {}
        self._wrong_pins = 0
        self._pin_locked_until: datetime | None = None
        self._last_auto_unlock: datetime | None = None
        self._pairing_until: datetime | None = None
        self._motion: _Motion | None = None
        self._fault: int | None = None
        self._sessions: list[Session] = []
        self._mutex = asyncio.Lock()
        self._handlers: dict[type[c.Command], Handler] = {
            c.RequestData: self._request_data,
            c.LockAction: self._lock_action,
            c.RequestConfig: self._request_config,
            c.SetConfig: self._set_config,
            c.RequestAdvancedConfig: self._request_advanced_config,
            c.SetAdvancedConfig: self._set_advanced_config,
            c.VerifySecurityPin: self._verify_security_pin,
            c.SetSecurityPin: self._set_security_pin,
            c.UpdateTime: self._update_time,
            c.RequestCalibration: self._request_calibration,
            c.RequestReboot: self._request_reboot,
            c.RequestDisconnect: self._request_disconnect,
            c.RequestAuthorizationEntries: self._request_authorization_entries,
            c.RemoveAuthorizationEntry: self._remove_authorization_entry,
            c.UpdateAuthorizationEntry: self._update_authorization_entry,
            c.AuthorizationDataInvite: self._authorization_data_invite,
            c.RequestLogEntries: self._request_log_entries,
            c.EnableLogging: self._enable_logging,
            c.AddKeypadCode: self._add_keypad_code,
            c.RequestKeypadCodes: self._request_keypad_codes,
            c.UpdateKeypadCode: self._update_keypad_code,
            c.RemoveKeypadCode: self._remove_keypad_code,
            c.AddTimeControlEntry: self._add_time_control_entry,
            c.RequestTimeControlEntries: self._request_time_control_entries,
            c.UpdateTimeControlEntry: self._update_time_control_entry,
            c.RemoveTimeControlEntry: self._remove_time_control_entry,
        }

    # == public API for tests ===================================================================

    @property
    def state(self) -> LockState:
        """The current lock state (LockState; plain int for values the enum lacks)."""
        try:
            return LockState(self._state)
        except ValueError:  # pragma: no cover - only for states set by hand
            return self._state  # type: ignore[return-value]

    @state.setter
    def state(self, value: LockState) -> None:
        """Set the lock state by hand (someone turned the key)."""
        self._state = value
        self._trigger = Trigger.MANUAL

    @property
    def pin(self) -> int:
        return self._pin.value

    def now(self) -> datetime:
        """The lock's wall-clock time (naive; what Update Time set, running since)."""
        return self.clock.now()

    @property
    def in_pairing_mode(self) -> bool:
        if self._pairing_until is None:
            return False
        if self.clock.instant() >= self._pairing_until:
            self._pairing_until = None
            return False
        return True

    def enter_pairing_mode(self, duration: float | None = None) -> bool:
        """Hold the button: pairing mode for `duration` seconds of the time source (default
        `pairing_timeout`). False, and nothing changes, if Set Config disabled pairing."""
        if not self.config.pairing_enabled:
            return False
        seconds = self.pairing_timeout if duration is None else duration
        self._pairing_until = self.clock.instant() + timedelta(seconds=seconds)
        return True

    def leave_pairing_mode(self) -> None:
        self._pairing_until = None

    def inject_fault(self, error_code: int) -> None:
        """Make the next lock action fail with K_ERROR_MOTOR_BLOCKED, K_ERROR_CLUTCH_FAILURE or
        K_ERROR_MOTOR_TIMEOUT: Status ACCEPTED, states, then Error Report instead of COMPLETE."""
        if error_code not in MOTOR_FAULTS:
            raise ValueError(f"not a motor fault: 0x{error_code:02X}")
        self._fault = error_code

    @property
    def busy(self) -> bool:
        """A lock action or calibration is running."""
        return self._motion is not None and not self._motion.task.done()

    async def wait_idle(self) -> None:
        """Wait until a running lock action has finished."""
        if self._motion is not None:
            await asyncio.shield(self._motion.task)

    def nuki_states(self) -> c.NukiStates:
        """The Nuki States (0x000C) the lock would send now."""
        in_lock_n_go = self._state == LockState.UNLOCKED_LOCK_N_GO
        return c.NukiStates(
            nuki_state=NukiState.PAIRING_MODE if self.in_pairing_mode else NukiState.DOOR_MODE,
            lock_state=self._state,
            trigger=self._trigger,
            current_time=self._stamp(),
            timezone_offset=self.config.timezone_offset,
            critical_battery_state=int(self.battery_critical),
            config_update_count=self.config_update_count,
            lock_n_go_timer=self.advanced_config.lock_n_go_timeout if in_lock_n_go else 0,
            last_lock_action=self._last_action,
            last_lock_action_trigger=self._last_action_trigger,
            last_lock_action_completion_status=self._last_action_status,
        )

    def add_authorization(
        self,
        *,
        name: str,
        shared_key: bytes,
        id_type: int = IdType.APP,
        app_id: int = 0,
        window: TimeWindow | None = None,
    ) -> Authorization:
        """Store an authorization directly (as if paired earlier); returns it with its id."""
        auth = self.store_paired_authorization(
            authorization_id=self.allocate_authorization_id(),
            id_type=id_type,
            app_id=app_id,
            name=name,
            shared_key=shared_key,
            leave_pairing_mode=False,
        )
        if window is not None:
            auth.window = window
        return auth

    async def enter_keypad_code(self, code: int, *, action: int = LockAction.UNLOCK) -> bool:
        """A guest types `code` on the keypad. Runs the lock action (waiting for it) when the
        code is stored, enabled and inside its window; logs the attempt either way."""
        if action not in MOTIONS:
            raise ValueError(f"not a keypad lock action: {action}")
        now = self.now()
        entry = next((e for e in self.codes.values() if e.code == code), None)
        name = entry.name if entry is not None else "Keypad"
        code_id = entry.code_id if entry is not None else 0
        valid = entry is not None and entry.enabled and entry.window.allows(self._window_time(now))
        if not valid or self.busy:
            status = COMPLETION_INVALID_CODE if not valid else CompletionStatus.BUSY
            self._keypad_log(action, status, code_id, name)
            return False
        assert entry is not None
        entry.lock_count += 1
        entry.date_last_active = self._stamp()
        self._start_motion(
            self._run_motion(
                None, None, action, MOTIONS[action], trigger=Trigger.SYSTEM, keypad_entry=entry
            ),
            action,
        )
        await self.wait_idle()
        return True

    # == connections =============================================================================

    def connect(
        self, *, chunk_size: int = MAX_CHUNK, via_bridge: bool = False
    ) -> LoopbackTransport:
        """A new in-memory connection; returns the client's end (needs a running event loop).

        `via_bridge=True` marks requests on it as forwarded by a Nuki Bridge (remote access)."""
        client_end, lock_end = LoopbackTransport.pair(chunk_size=chunk_size)
        self.serve(lock_end, via_bridge=via_bridge)
        return client_end

    def serve(self, transport: Transport, *, via_bridge: bool = False) -> Session:
        """Serve the lock's end of any transport until it closes."""
        session = Session(transport, via_bridge, PairingExchange(self))
        session.task = asyncio.get_running_loop().create_task(self._serve(session))
        self._sessions.append(session)
        return session

    async def close(self) -> None:
        """Drop every connection and stop a running action."""
        for session in list(self._sessions):
            await self._drop(session)
            if session.task is not None and session.task is not asyncio.current_task():
                session.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session.task
        self._sessions.clear()
        if self._motion is not None and not self._motion.task.done():
            self._motion.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._motion.task

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SimulatedLock]:
        """`async with lock.running():` closes every connection on the way out."""
        try:
            yield self
        finally:
            await self.close()

    async def _drop(self, session: Session) -> None:
        with contextlib.suppress(Exception):
            await session.transport.close()

    async def _serve(self, session: Session) -> None:
        while True:
            try:
                message = await session.transport.receive(self.idle_timeout)
            except TimeoutError:
                if self.busy:
                    continue
                logger.debug("idle connection dropped")
                await self._drop(session)
                return
            except ConnectionError:
                return
            except ProtocolError as exc:  # indications that could not be reassembled
                self.garbled_messages += 1
                logger.debug("garbled message: %s", exc)
                continue
            try:
                async with self._mutex:
                    await self._dispatch(session, message)
            except ConnectionError:
                return
            except Exception as exc:
                logger.exception("simulated lock failed on a message")
                self.failures.append(exc)

    # == sending ================================================================================

    async def _send_plain(self, session: Session, characteristic: str, command: c.Command) -> None:
        await session.transport.send(characteristic, frame_plain(command))

    async def _send_encrypted(
        self, session: Session | None, auth: Authorization, *answers: c.Command
    ) -> None:
        if session is None:
            return
        for answer in answers:
            frame = frame_encrypted(
                answer, auth.shared_key, auth.authorization_id, random=self.random
            )
            await session.transport.send(self.profile.usdio, frame)

    @staticmethod
    def _error(code: int, command_id: int) -> c.ErrorReport:
        return c.ErrorReport(error_code=code, command_identifier=command_id & 0xFFFF)

    # == dispatch ===============================================================================

    async def _dispatch(self, session: Session, message: Message) -> None:
        if message.characteristic == self.profile.pairing_gdio:
            await self._on_pairing(session, message)
        elif message.characteristic == self.profile.usdio:
            await self._on_keyturner(session, message)
        else:  # the keyturner GDIO: nothing of ours travels there
            await self._send_plain(
                session,
                message.characteristic,
                self._error(NukiErrorCode.ERROR_UNKNOWN, _command_id_of(message.data)),
            )

    async def _on_pairing(self, session: Session, message: Message) -> None:
        characteristic = message.characteristic
        command_id = _command_id_of(message.data)
        try:
            plain = decode_plain(message.data)
            command = c.decode_command(plain.command_id, plain.payload)
            answers = session.pairing.handle(command)
            if isinstance(command, c.AuthorizationIdConfirmation):
                self._changed()
        except Refused as refused:
            answers = [self._error(refused.code, command_id)]
        except ProtocolError as exc:
            session.pairing.reset()
            answers = [self._error(_protocol_error_code(exc, pairing=True), command_id)]
        for answer in answers:
            await self._send_plain(session, characteristic, answer)

    async def _on_keyturner(self, session: Session, message: Message) -> None:
        data = message.data
        usdio = self.profile.usdio
        not_authorized = self._error(NukiErrorCode.K_ERROR_NOT_AUTHORIZED, 0)
        if len(data) < ENCRYPTED_HEADER_SIZE:  # unencrypted on the encrypted characteristic
            await self._send_plain(session, usdio, not_authorized)
            return
        auth = self.authorizations.get(peek_authorization_id(data))
        if auth is None:
            await self._send_plain(session, usdio, not_authorized)
            return
        try:
            frame = decode_encrypted(data, auth.shared_key)
        except (DecryptionError, LengthError, CrcError) as exc:
            if isinstance(exc, DecryptionError):
                await self._send_plain(session, usdio, not_authorized)
            else:  # authenticated but malformed: the key is right, answer encrypted
                await self._send_encrypted(session, auth, self._error(_protocol_error_code(exc), 0))
            return
        except ProtocolError:  # the two copies of the authorization id disagree
            await self._send_plain(session, usdio, not_authorized)
            return

        auth.date_last_active = self._stamp()
        try:
            command = c.decode_command(frame.command_id, frame.payload)
            handler = self._handlers.get(type(command))
            if handler is None:
                raise Refused(NukiErrorCode.ERROR_UNKNOWN, f"{command.NAME} is not for the lock")
            self._check_access(session, auth, command)
            answers = await handler(session, auth, command)
            if not isinstance(command, c.RequestData):
                self._most_recent_command = frame.command_id
                self._changed()
        except Refused as refused:
            logger.debug("refusing 0x%04X: %s", frame.command_id, refused)
            answers = [self._error(refused.code, frame.command_id)]
        except ProtocolError as exc:
            answers = [self._error(_protocol_error_code(exc), frame.command_id)]
        await self._send_encrypted(session, auth, *answers)

    def _check_access(self, session: Session, auth: Authorization, command: c.Command) -> None:
        """Authorization, nonce and PIN checks, in that order (a replayed frame is refused for
        its nonce before its PIN is looked at, so replays never count as wrong PINs)."""
        if not isinstance(command, c.RequestData):
            if not auth.enabled:
                raise Refused(NukiErrorCode.K_ERROR_DISABLED)
            if session.via_bridge and not auth.remote_allowed:
                raise Refused(NukiErrorCode.K_ERROR_REMOTE_NOT_ALLOWED)
            if not auth.window.allows(self._window_time(self.now())):
                raise Refused(NukiErrorCode.K_ERROR_TIME_NOT_ALLOWED)
        nonce = getattr(command, "nonce_k", None)
        if nonce is not None:
            expected = self._challenges.pop(auth.authorization_id, None)
            if expected is None or not hmac.compare_digest(expected, nonce):
                raise Refused(NukiErrorCode.K_ERROR_BAD_NONCE)
        if command.PIN_PROTECTED:
            self._check_pin(command.security_pin)  # type: ignore[attr-defined]

    def _check_pin(self, pin: SecurityPin) -> None:
        instant = self.clock.instant()
        if self._pin_locked_until is not None:
            if instant < self._pin_locked_until:
                raise Refused(NukiErrorCode.K_ERROR_TOO_MANY_PIN_ATTEMPTS)
            self._pin_locked_until = None
        if pin.width != self._pin.width:
            raise Refused(NukiErrorCode.ERROR_BAD_LENGTH, "PIN of the wrong width")
        if pin.value != self._pin.value:
            self._wrong_pins += 1
            if self._wrong_pins >= self.max_pin_attempts:
                self._wrong_pins = 0
                self._pin_locked_until = instant + timedelta(seconds=self.pin_lockout_seconds)
            raise Refused(NukiErrorCode.K_ERROR_BAD_PIN)
        self._wrong_pins = 0

    # == helpers ================================================================================

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def _stamp(self) -> NukiDateTime:
        return NukiDateTime.from_datetime(self.now())

    def _window_time(self, now: datetime) -> datetime:
        """The time allowed-from/until windows are compared with (one place decides)."""
        if self.windows_in_local_time:
            return now + timedelta(minutes=self.config.timezone_offset)
        return now

    def _append_log(self, auth_id: int, name: str, entry_type: int, data: Any) -> None:
        if not self.logging_enabled and entry_type != LogEntryType.LOGGING_ENABLED:
            return
        self.log.append(
            c.LogEntry(
                index=self._next_log_index,
                timestamp=self._stamp(),
                auth_id=auth_id,
                name=name,
                type=entry_type,
                data=data,
            )
        )
        self._next_log_index += 1

    def _keypad_log(self, action: int, status: int, code_id: int, name: str) -> None:
        raw = bytes((action, KEYPAD_SOURCE_CODE, status)) + code_id.to_bytes(2, "little")
        self._append_log(0, name, LOG_TYPE_KEYPAD_ACTION, c.RawLogData(raw=raw))

    def _code_change_log(self, auth: Authorization, change: int, code_id: int) -> None:
        if self.log_code_changes:
            raw = bytes((change,)) + code_id.to_bytes(2, "little")
            self._append_log(
                auth.authorization_id, auth.name, LOG_TYPE_KEYPAD_CODE_CHANGE, c.RawLogData(raw=raw)
            )

    def has_room_for_authorization(self, *, replacing_bridge: bool = False) -> bool:
        count = len(self.authorizations)
        if replacing_bridge:
            count -= sum(1 for a in self.authorizations.values() if a.id_type == IdType.BRIDGE)
        return count < self.max_authorizations

    def allocate_authorization_id(self) -> int:
        auth_id, self._next_auth_id = self._next_auth_id, self._next_auth_id + 1
        return auth_id

    def store_paired_authorization(
        self,
        *,
        authorization_id: int,
        id_type: int,
        app_id: int,
        name: str,
        shared_key: bytes,
        leave_pairing_mode: bool = True,
    ) -> Authorization:
        """Keep a new authorization (pairing's last step). Pairing a bridge unregisters the
        previous bridge, as on the real lock (FACTS.md)."""
        if id_type == IdType.BRIDGE:
            for old in [a for a in self.authorizations.values() if a.id_type == IdType.BRIDGE]:
                self._forget_authorization(old.authorization_id)
        auth = Authorization(
            authorization_id=authorization_id,
            id_type=id_type,
            app_id=app_id,
            name=name,
            shared_key=shared_key,
            date_created=self._stamp(),
        )
        self.authorizations[authorization_id] = auth
        if leave_pairing_mode:
            self.leave_pairing_mode()
        return auth

    def _forget_authorization(self, authorization_id: int) -> None:
        self.authorizations.pop(authorization_id, None)
        self._challenges.pop(authorization_id, None)

    # == keyturner handlers ===================================================================

    async def _request_data(
        self, session: Session, auth: Authorization, command: c.RequestData
    ) -> list[c.Command]:
        wanted = command.command_identifier
        if wanted not in _REQUESTABLE:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, f"cannot request 0x{wanted:04X}")
        if wanted == CommandId.CHALLENGE:
            nonce = new_challenge(self.random)
            self._challenges[auth.authorization_id] = nonce  # replaces any earlier challenge
            return [c.Challenge(nonce_k=nonce)]
        if wanted == CommandId.NUKI_STATES:
            return [self.nuki_states()]
        if wanted == CommandId.BATTERY_REPORT:
            voltage = 4400 if self.battery_critical else 5800
            return [
                c.BatteryReport(
                    battery_drain=0,
                    battery_voltage=voltage,
                    critical_battery_state=int(self.battery_critical),
                )
            ]
        if wanted == CommandId.MOST_RECENT_COMMAND:
            return [c.MostRecentCommand(command_identifier=self._most_recent_command)]
        counters = self._counters
        return [
            c.OpeningsClosingsSummary(
                openings_total=counters.openings_total & 0xFFFF,
                closings_total=counters.closings_total & 0xFFFF,
                openings_since_boot=counters.openings_since_boot & 0xFFFF,
                closings_since_boot=counters.closings_since_boot & 0xFFFF,
            )
        ]

    # -- lock actions -------------------------------------------------------------------------

    def _resolve_action(self, action: int) -> int | None:
        """The plain action a fob action maps to (Config's fob actions); None = no action."""
        fob = {
            LockAction.FOB_ACTION_1: self.config.fob_action_1,
            LockAction.FOB_ACTION_2: self.config.fob_action_2,
            LockAction.FOB_ACTION_3: self.config.fob_action_3,
        }
        if action not in fob:
            return action
        setting = fob[action]
        if setting == FobAction.INTELLIGENT:
            setting = FobAction.UNLOCK if self._state == LockState.LOCKED else FobAction.LOCK
        mapped = {
            FobAction.UNLOCK: LockAction.UNLATCH if self.config.auto_unlatch else LockAction.UNLOCK,
            FobAction.LOCK: LockAction.LOCK,
            FobAction.LOCK_N_GO: LockAction.LOCK_N_GO,
        }
        return mapped.get(setting)

    async def _lock_action(
        self, session: Session, auth: Authorization, command: c.LockAction
    ) -> list[c.Command]:
        valid = set(MOTIONS) | {
            LockAction.FOB_ACTION_1,
            LockAction.FOB_ACTION_2,
            LockAction.FOB_ACTION_3,
        }
        if command.lock_action not in valid:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "unknown lock action")
        if self.busy:
            raise Refused(NukiErrorCode.K_ERROR_BUSY)
        action = self._resolve_action(command.lock_action)
        if (
            session.via_bridge
            and action in OPENING_ACTIONS
            and self._state
            in (LockState.UNCALIBRATED, LockState.MOTOR_BLOCKED, LockState.UNDEFINED)
        ):
            raise Refused(NukiErrorCode.K_ERROR_POSITION_UNKNOWN)
        if command.flags & LockActionFlags.AUTO_UNLOCK:
            instant = self.clock.instant()
            last = self._last_auto_unlock
            if last is not None and instant - last < timedelta(seconds=self.auto_unlock_cooldown):
                raise Refused(NukiErrorCode.K_ERROR_AUTO_UNLOCK_TOO_RECENT)
            self._last_auto_unlock = instant
        steps = MOTIONS[action] if action is not None else ()
        auth.lock_count += 1
        self._start_motion(
            self._run_motion(
                session,
                auth,
                command.lock_action,
                steps,
                trigger=Trigger.SYSTEM,
                flags=command.flags,
            ),
            command.lock_action,
        )
        return []  # ACCEPTED, the states and COMPLETE come from the motion task

    def _start_motion(self, work: Coroutine[Any, Any, None], action: int) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._motion = _Motion(task, action)

    async def _run_motion(
        self,
        session: Session | None,
        auth: Authorization | None,
        action: int,
        steps: tuple[LockState, ...],
        *,
        trigger: int,
        flags: int = 0,
        keypad_entry: KeypadCodeEntry | None = None,
        command_id: int = CommandId.LOCK_ACTION,
        log: bool = True,
    ) -> None:
        """Status ACCEPTED, a Nuki States per state passed through, then Status COMPLETE (or an
        Error Report for an injected motor fault), all to the session that asked."""
        fault, self._fault = self._fault, None
        try:
            await self._push(session, auth, c.Status(status=StatusCode.ACCEPTED))
            status = CompletionStatus.SUCCESS
            for index, state in enumerate(steps):
                if index:
                    await asyncio.sleep(self.action_seconds)
                if fault is not None and index == len(steps) - 1:
                    break
                self._set_state(state, trigger)
                await self._push(session, auth, self.nuki_states())
            if fault is not None:
                await asyncio.sleep(self.action_seconds)
                fault_state, status = MOTOR_FAULTS[fault]
                self._set_state(fault_state, trigger)
                await self._push(session, auth, self.nuki_states())
            self._finish_action(action, trigger, status, steps, fault is None)
            if log:
                self._log_action(auth, action, trigger, flags, status, keypad_entry)
            self._changed()
            if fault is not None:
                await self._push(session, auth, self._error(fault, command_id))
            else:
                await self._push(session, auth, c.Status(status=StatusCode.COMPLETE))
        except Exception as exc:  # keep the simulator alive, but make the test see it
            logger.exception("lock action failed")
            self.failures.append(exc)

    async def _push(
        self, session: Session | None, auth: Authorization | None, command: c.Command
    ) -> None:
        """Send to the session that started an action; a dropped link does not stop the motor."""
        if session is None or auth is None:
            return
        with contextlib.suppress(ConnectionError):
            await self._send_encrypted(session, auth, command)

    def _set_state(self, state: LockState, trigger: int) -> None:
        self._state = state
        self._trigger = trigger

    def _finish_action(
        self, action: int, trigger: int, status: int, steps: tuple[LockState, ...], ok: bool
    ) -> None:
        self._last_action, self._last_action_trigger = action, trigger
        self._last_action_status = status
        if not ok or not steps:
            return
        counters = self._counters
        if any(s in (LockState.UNLOCKING, LockState.UNLATCHING) for s in steps):
            counters.openings_total += 1
            counters.openings_since_boot += 1
        if steps[-1] == LockState.LOCKED:
            counters.closings_total += 1
            counters.closings_since_boot += 1

    def _log_action(
        self,
        auth: Authorization | None,
        action: int,
        trigger: int,
        flags: int,
        status: int,
        keypad_entry: KeypadCodeEntry | None,
    ) -> None:
        if keypad_entry is not None:
            self._keypad_log(action, status, keypad_entry.code_id, keypad_entry.name)
            return
        data = c.LockActionLogData(
            lock_action=action,
            trigger=trigger,
            auto_unlock_flag=int(bool(flags & LockActionFlags.AUTO_UNLOCK)),
            completion_status=status,
        )
        auth_id = auth.authorization_id if auth is not None else 0
        name = auth.name if auth is not None else ""
        self._append_log(auth_id, name, LogEntryType.LOCK_ACTION, data)

    async def _request_calibration(
        self, session: Session, auth: Authorization, command: c.RequestCalibration
    ) -> list[c.Command]:
        if self.busy:
            raise Refused(NukiErrorCode.K_ERROR_BUSY)
        self._start_motion(
            self._run_motion(
                session,
                auth,
                0,
                CALIBRATION,
                trigger=Trigger.SYSTEM,
                command_id=CommandId.REQUEST_CALIBRATION,
                log=False,
            ),
            0,
        )
        return []

    # -- configuration and PIN -----------------------------------------------------------------

    async def _request_config(
        self, session: Session, auth: Authorization, command: c.RequestConfig
    ) -> list[c.Command]:
        cfg = self.config
        return [
            c.Config(
                nuki_id=self.nuki_id,
                name=cfg.name,
                latitude=cfg.latitude,
                longitude=cfg.longitude,
                auto_unlatch=cfg.auto_unlatch,
                pairing_enabled=cfg.pairing_enabled,
                button_enabled=cfg.button_enabled,
                led_enabled=cfg.led_enabled,
                led_brightness=cfg.led_brightness,
                current_time=self._stamp(),
                timezone_offset=cfg.timezone_offset,
                dst_mode=cfg.dst_mode,
                has_fob=cfg.has_fob,
                fob_action_1=cfg.fob_action_1,
                fob_action_2=cfg.fob_action_2,
                fob_action_3=cfg.fob_action_3,
            )
        ]

    def _config_changed(self) -> None:
        self.config_update_count = (self.config_update_count + 1) & 0xFF

    async def _set_config(
        self, session: Session, auth: Authorization, command: c.SetConfig
    ) -> list[c.Command]:
        problem = LockConfiguration.problem_of(command)
        if problem:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem)
        self.config.apply(command)
        self._config_changed()
        return [_complete()]

    async def _request_advanced_config(
        self, session: Session, auth: Authorization, command: c.RequestAdvancedConfig
    ) -> list[c.Command]:
        return [self.advanced_config.to_command()]

    async def _set_advanced_config(
        self, session: Session, auth: Authorization, command: c.SetAdvancedConfig
    ) -> list[c.Command]:
        problem = AdvancedConfiguration.problem_of(command)
        if problem:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem)
        self.advanced_config.apply(command)
        self._config_changed()
        return [_complete()]

    async def _verify_security_pin(
        self, session: Session, auth: Authorization, command: c.VerifySecurityPin
    ) -> list[c.Command]:
        return [_complete()]  # the PIN was checked on the way in

    async def _set_security_pin(
        self, session: Session, auth: Authorization, command: c.SetSecurityPin
    ) -> list[c.Command]:
        self._pin = command.pin
        return [_complete()]

    async def _update_time(
        self, session: Session, auth: Authorization, command: c.UpdateTime
    ) -> list[c.Command]:
        try:
            wall = command.time.to_datetime(None)
        except ValueError:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "not a real date") from None
        off_by = (self.now() - wall.replace(microsecond=0)).total_seconds()
        self.time_updates = [*self.time_updates[-99:], (self.clock.instant(), off_by)]
        self.clock.set(wall)
        return [_complete()]

    async def _request_reboot(
        self, session: Session, auth: Authorization, command: c.RequestReboot
    ) -> list[c.Command]:
        """Reboot: every connection drops, challenges and pairing mode are lost."""
        self._challenges.clear()
        self.leave_pairing_mode()
        self._counters.openings_since_boot = self._counters.closings_since_boot = 0
        for other in list(self._sessions):
            await self._drop(other)
        return []

    async def _request_disconnect(
        self, session: Session, auth: Authorization, command: c.RequestDisconnect
    ) -> list[c.Command]:
        await self._drop(session)
        return []

    # -- authorizations ------------------------------------------------------------------------

    async def _request_authorization_entries(
        self, session: Session, auth: Authorization, command: c.RequestAuthorizationEntries
    ) -> list[c.Command]:
        """Count, then the entries (own authorization first), then Status COMPLETE."""
        others = sorted(
            (a for a in self.authorizations.values() if a is not auth),
            key=lambda a: a.authorization_id,
        )
        ordered = [auth, *others]
        selected = ordered[command.offset : command.offset + command.count]
        return [
            c.AuthorizationEntryCount(count=len(ordered)),
            *(a.to_entry() for a in selected),
            _complete(),
        ]

    async def _remove_authorization_entry(
        self, session: Session, auth: Authorization, command: c.RemoveAuthorizationEntry
    ) -> list[c.Command]:
        if command.authorization_id not in self.authorizations:
            raise Refused(NukiErrorCode.K_ERROR_INVALID_AUTH_ID)
        self._forget_authorization(command.authorization_id)
        return [_complete()]  # encrypted with the sender's key, even if it removed itself

    async def _update_authorization_entry(
        self, session: Session, auth: Authorization, command: c.UpdateAuthorizationEntry
    ) -> list[c.Command]:
        target = self.authorizations.get(command.authorization_id)
        if target is None:
            raise Refused(NukiErrorCode.K_ERROR_INVALID_AUTH_ID)
        window = TimeWindow.from_command(command)
        problem = window.problem()
        if problem or not (_is_flag(command.enabled) and _is_flag(command.remote_allowed)):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem or "flag")
        target.name = command.name
        target.enabled = bool(command.enabled)
        target.remote_allowed = bool(command.remote_allowed)
        target.window = window
        return [_complete()]

    async def _authorization_data_invite(
        self, session: Session, auth: Authorization, command: c.AuthorizationDataInvite
    ) -> list[c.Command]:
        """Create an authorization for a key the inviting app generated."""
        if command.id_type not in tuple(IdType):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "unknown ID type")
        window = TimeWindow.from_command(command)
        problem = window.problem()
        if problem or not _is_flag(command.remote_allowed):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem or "flag")
        if not self.has_room_for_authorization(replacing_bridge=command.id_type == IdType.BRIDGE):
            raise Refused(NukiErrorCode.P_ERROR_MAX_USER)
        invited = self.store_paired_authorization(
            authorization_id=self.allocate_authorization_id(),
            id_type=command.id_type,
            app_id=0,
            name=command.name,
            shared_key=command.shared_key,
            leave_pairing_mode=False,
        )
        invited.remote_allowed = bool(command.remote_allowed)
        invited.window = window
        return [
            c.AuthorizationIdInvite(
                authorization_id=invited.authorization_id, date_created=invited.date_created
            ),
            _complete(),
        ]

    # -- log -----------------------------------------------------------------------------------

    async def _request_log_entries(
        self, session: Session, auth: Authorization, command: c.RequestLogEntries
    ) -> list[c.Command]:
        """Start index 0: the oldest (ascending) or newest (descending) entries; otherwise from
        that index on in the sort order. The count covers what is available that way."""
        if command.sort_order not in tuple(SortOrder) or not _is_flag(command.total_count):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
        ascending = command.sort_order == SortOrder.ASCENDING
        ordered = self.log if ascending else list(reversed(self.log))
        if command.start_index:
            start = command.start_index
            ordered = [e for e in ordered if (e.index >= start if ascending else e.index <= start)]
        head: list[c.Command] = []
        if command.total_count:
            head.append(
                c.LogEntryCount(logging_enabled=int(self.logging_enabled), count=len(ordered))
            )
        return [*head, *ordered[: command.count], _complete()]

    async def _enable_logging(
        self, session: Session, auth: Authorization, command: c.EnableLogging
    ) -> list[c.Command]:
        if not _is_flag(command.enabled):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
        data = c.LoggingEnabledLogData(logging_enabled=command.enabled)
        if command.enabled:
            self.logging_enabled = True
            self._append_log(auth.authorization_id, auth.name, LogEntryType.LOGGING_ENABLED, data)
        else:
            self._append_log(auth.authorization_id, auth.name, LogEntryType.LOGGING_ENABLED, data)
            self.logging_enabled = False
        return [_complete()]

    # -- keypad codes ----------------------------------------------------------------------------

    def _check_code(self, code: int, *, except_id: int | None = None) -> None:
        problem = keypad_code_problem(code)
        if problem:
            raise Refused(NukiErrorCode.K_ERROR_CODE_INVALID, problem)
        if any(e.code == code and e.code_id != except_id for e in self.codes.values()):
            raise Refused(NukiErrorCode.K_ERROR_CODE_ALREADY_EXISTS)

    @staticmethod
    def _checked_window(command: Any) -> TimeWindow:
        window = TimeWindow.from_command(command)
        problem = window.problem()
        if problem:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem)
        return window

    async def _add_keypad_code(
        self, session: Session, auth: Authorization, command: c.AddKeypadCode
    ) -> list[c.Command]:
        """Checks in this order: code format (0x2B), duplicate (0x2A), capacity (0x29)."""
        self._check_code(command.code)
        if len(self.codes) >= self.capacity:
            raise Refused(NukiErrorCode.K_ERROR_TOO_MANY_ENTRIES)
        window = self._checked_window(command)
        code_id, self._next_code_id = self._next_code_id, self._next_code_id + 1
        entry = KeypadCodeEntry(
            code_id=code_id,
            code=command.code,
            name=command.name,
            date_created=self._stamp(),
            window=window,
        )
        self.codes[code_id] = entry
        self._code_change_log(auth, CODE_ADDED, code_id)
        return [c.KeypadCodeId(code_id=code_id, date_created=entry.date_created), _complete()]

    async def _request_keypad_codes(
        self, session: Session, auth: Authorization, command: c.RequestKeypadCodes
    ) -> list[c.Command]:
        """Keypad Code Count (all codes), the entries asked for, then Status COMPLETE."""
        ordered = [self.codes[k] for k in sorted(self.codes)]
        selected = ordered[command.offset : command.offset + command.count]
        always = self.always_send_keypad_time_fields
        return [
            c.KeypadCodeCount(count=len(ordered)),
            *(e.to_command(always_time_fields=always) for e in selected),
            _complete(),
        ]

    async def _update_keypad_code(
        self, session: Session, auth: Authorization, command: c.UpdateKeypadCode
    ) -> list[c.Command]:
        entry = self.codes.get(command.code_id)
        if entry is None:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "no such code id")
        self._check_code(command.code, except_id=command.code_id)
        if not _is_flag(command.enabled):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "enabled flag")
        entry.window = self._checked_window(command)
        entry.code = command.code
        entry.name = command.name
        entry.enabled = bool(command.enabled)
        self._code_change_log(auth, CODE_UPDATED, entry.code_id)
        return [_complete()]

    async def _remove_keypad_code(
        self, session: Session, auth: Authorization, command: c.RemoveKeypadCode
    ) -> list[c.Command]:
        if self.codes.pop(command.code_id, None) is None:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "no such code id")
        self._code_change_log(auth, CODE_REMOVED, command.code_id)
        return [_complete()]

    # -- time control ----------------------------------------------------------------------------

    @staticmethod
    def _check_time_control(weekdays: int, time: Any, lock_action: int) -> None:
        if weekdays > 0x7F or time.hour > 23 or time.minute > 59 or lock_action not in MOTIONS:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)

    async def _add_time_control_entry(
        self, session: Session, auth: Authorization, command: c.AddTimeControlEntry
    ) -> list[c.Command]:
        self._check_time_control(command.weekdays, command.time, command.lock_action)
        free = [i for i in range(1, 256) if i not in self.time_controls]
        if len(self.time_controls) >= self.max_time_control_entries or not free:
            raise Refused(NukiErrorCode.K_ERROR_TOO_MANY_ENTRIES)
        entry_id = free[0]
        self.time_controls[entry_id] = TimeControlRecord(
            entry_id, command.weekdays, command.time, command.lock_action
        )
        return [c.TimeControlEntryId(entry_id=entry_id), _complete()]

    async def _request_time_control_entries(
        self, session: Session, auth: Authorization, command: c.RequestTimeControlEntries
    ) -> list[c.Command]:
        entries = [self.time_controls[k].to_command() for k in sorted(self.time_controls)]
        return [c.TimeControlEntryCount(count=len(entries)), *entries, _complete()]

    async def _update_time_control_entry(
        self, session: Session, auth: Authorization, command: c.UpdateTimeControlEntry
    ) -> list[c.Command]:
        entry = self.time_controls.get(command.entry_id)
        if entry is None or not _is_flag(command.enabled):
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
        self._check_time_control(command.weekdays, command.time, command.lock_action)
        entry.enabled = bool(command.enabled)
        entry.weekdays, entry.time, entry.lock_action = (
            command.weekdays,
            command.time,
            command.lock_action,
        )
        return [_complete()]

    async def _remove_time_control_entry(
        self, session: Session, auth: Authorization, command: c.RemoveTimeControlEntry
    ) -> list[c.Command]:
        if self.time_controls.pop(command.entry_id, None) is None:
            raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER)
        return [_complete()]


# -- module helpers ------------------------------------------------------------------------------


def _complete() -> c.Status:
    return c.Status(status=StatusCode.COMPLETE)


def _is_flag(value: int) -> bool:
    return value in (0, 1)


def _command_id_of(data: bytes) -> int:
    """The command identifier of an unencrypted frame, 0 if there is none."""
    return int.from_bytes(data[:COMMAND_SIZE], "little") if len(data) >= COMMAND_SIZE else 0


def _protocol_error_code(exc: ProtocolError, *, pairing: bool = False) -> int:
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
