"""`SimulatedLock`: the lock side of the Nuki BLE protocol, served over any `Transport`.

The lock's memory and bookkeeping are `LockCore` (core.py); this adds its connections: each
one a `Session` (session.py), frames decoded and checked here (authorization, nonce, PIN),
then handed to the handler for the command (handlers/) or, on the pairing characteristic, to
the session's pairing exchange (pairing.py). Lock actions run on the motor (motor.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import CompletionStatus, LockAction, Trigger
from locks.nuki.ble.errors import (
    CrcError,
    DecryptionError,
    LengthError,
    NukiErrorCode,
    ProtocolError,
)
from locks.nuki.ble.frames import (
    ENCRYPTED_HEADER_SIZE,
    decode_encrypted,
    decode_plain,
    peek_authorization_id,
)
from locks.nuki.ble.gatt import DEFAULT_MTU
from locks.nuki.ble.transport import LoopbackTransport, Message, Transport
from locks.nuki.ble.values import SecurityPin

from .core import LockCore
from .errors import Refused
from .handlers import HANDLERS
from .model import MOTIONS, Authorization
from .pairing import PairingExchange
from .session import Session, command_id_of, error_report, protocol_error_code

logger = logging.getLogger(__name__)

COMPLETION_INVALID_CODE = 0xE0
"""Completion status of a keypad entry with a wrong, disabled or out-of-window code (later
firmware's value)."""


class SimulatedLock(LockCore):
    """A Nuki Smart Lock 3.0 with firmware 3.x (or the generation `firmware` names) that our
    client cannot tell from one.

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

    Options (keywords): name, pin and pin_width (the security PIN), capacity (keypad codes),
    max_authorizations, max_time_control_entries, clock (the time source), action_seconds
    (per motor movement), pairing_timeout, max_pin_attempts and pin_lockout_seconds,
    auto_unlock_cooldown, idle_timeout (drop a quiet connection), always_send_keypad_time_fields,
    log_code_changes, windows_in_local_time, initial_state, nuki_id, profile, firmware (the
    generation, firmware.py: default SMART_LOCK_3; SMART_LOCK_1_V110 for the v1.10 layouts),
    has_keypad (Config's flag, with keypad support only), random.
    """

    # == public API for tests ===================================================================

    def inject_fault(self, error_code: int) -> None:
        """Make the next lock action fail with K_ERROR_MOTOR_BLOCKED, K_ERROR_CLUTCH_FAILURE or
        K_ERROR_MOTOR_TIMEOUT: Status ACCEPTED, states, then Error Report instead of COMPLETE."""
        self.motor.inject_fault(error_code)

    async def wait_idle(self) -> None:
        """Wait until a running lock action has finished."""
        await self.motor.wait_idle()

    async def enter_keypad_code(self, code: int, *, action: int = LockAction.UNLOCK) -> bool:
        """A guest types `code` on the keypad. Runs the lock action (waiting for it) when the
        code is stored, enabled and inside its window; logs the attempt either way."""
        if action not in MOTIONS:
            raise ValueError(f"not a keypad lock action: {action}")
        now = self.now()
        entry = next((e for e in self.codes.values() if e.code == code), None)
        name = entry.name if entry is not None else "Keypad"
        code_id = entry.code_id if entry is not None else 0
        valid = entry is not None and entry.enabled and entry.window.allows(self.window_time(now))
        if not valid or self.busy:
            status = COMPLETION_INVALID_CODE if not valid else CompletionStatus.BUSY
            self.keypad_log(action, status, code_id, name)
            return False
        assert entry is not None
        entry.lock_count += 1
        entry.date_last_active = self.stamp()
        self.motor.start(
            None, None, action, MOTIONS[action], trigger=Trigger.SYSTEM, keypad_entry=entry
        )
        await self.wait_idle()
        return True

    # == connections =============================================================================

    def connect(self, *, mtu: int = DEFAULT_MTU, via_bridge: bool = False) -> LoopbackTransport:
        """A new in-memory connection; returns the client's end (needs a running event loop).

        The link starts at the default ATT MTU of 23 (20-byte indications); `mtu` asks for a
        larger one at once (the MTU exchange a central makes after connecting), and the link
        gets the smaller of it and the firmware's `max_mtu`. The client's end can also
        `exchange_mtu()` later. `via_bridge=True` marks requests on it as forwarded by a Nuki
        Bridge (remote access)."""
        client_end, lock_end = LoopbackTransport.pair(peer_max_mtu=self.firmware.max_mtu)
        if mtu != DEFAULT_MTU:
            client_end.exchange_mtu(mtu)
        self.serve(lock_end, via_bridge=via_bridge)
        return client_end

    def serve(self, transport: Transport, *, via_bridge: bool = False) -> Session:
        """Serve the lock's end of any transport until it closes."""
        session = Session(
            transport, via_bridge, PairingExchange(self), profile=self.profile, random=self.random
        )
        session.task = asyncio.get_running_loop().create_task(self._serve(session))
        self.sessions.append(session)
        return session

    async def close(self) -> None:
        """Drop every connection and stop a running action."""
        for session in list(self.sessions):
            await session.drop()
            if session.task is not None and session.task is not asyncio.current_task():
                session.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session.task
        self.sessions.clear()
        await self.motor.stop()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[SimulatedLock]:
        """`async with lock.running():` closes every connection on the way out."""
        try:
            yield self
        finally:
            await self.close()

    async def _serve(self, session: Session) -> None:
        while True:
            try:
                message = await session.transport.receive(self.idle_timeout)
            except TimeoutError:
                if self.busy:
                    continue
                logger.debug("idle connection dropped")
                await session.drop()
                return
            except ConnectionError:
                return
            except ProtocolError as exc:  # indications that could not be reassembled
                self.garbled_messages += 1
                logger.debug("garbled message: %s", exc)
                continue
            try:
                async with self.message_lock:
                    await self._dispatch(session, message)
            except ConnectionError:
                return
            except Exception as exc:
                logger.exception("simulated lock failed on a message")
                self.failures.append(exc)

    # == dispatch ===============================================================================

    async def _dispatch(self, session: Session, message: Message) -> None:
        if message.characteristic == self.profile.pairing_gdio:
            await self._on_pairing(session, message)
        elif message.characteristic == self.profile.usdio:
            await self._on_keyturner(session, message)
        else:  # the keyturner GDIO: nothing of ours travels there
            await session.send_plain(
                message.characteristic,
                error_report(NukiErrorCode.ERROR_UNKNOWN, command_id_of(message.data)),
            )

    async def _on_pairing(self, session: Session, message: Message) -> None:
        characteristic = message.characteristic
        command_id = command_id_of(message.data)
        try:
            plain = decode_plain(message.data)
            command = c.decode_command(plain.command_id, plain.payload)
            answers = session.pairing.handle(command)
            if isinstance(command, c.AuthorizationIdConfirmation):
                self.changed()
        except Refused as refused:
            answers = [error_report(refused.code, command_id)]
        except ProtocolError as exc:
            session.pairing.reset()
            answers = [error_report(protocol_error_code(exc, pairing=True), command_id)]
        for answer in answers:
            await session.send_plain(characteristic, answer)

    async def _on_keyturner(self, session: Session, message: Message) -> None:
        data = message.data
        usdio = self.profile.usdio
        not_authorized = error_report(NukiErrorCode.K_ERROR_NOT_AUTHORIZED, 0)
        if len(data) < ENCRYPTED_HEADER_SIZE:  # unencrypted on the encrypted characteristic
            await session.send_plain(usdio, not_authorized)
            return
        auth = self.authorizations.get(peek_authorization_id(data))
        if auth is None:
            await session.send_plain(usdio, not_authorized)
            return
        try:
            frame = decode_encrypted(data, auth.shared_key)
        except (DecryptionError, LengthError, CrcError) as exc:
            if isinstance(exc, DecryptionError):
                await session.send_plain(usdio, not_authorized)
            else:  # authenticated but malformed: the key is right, answer encrypted
                await session.send_encrypted(auth, error_report(protocol_error_code(exc), 0))
            return
        except ProtocolError:  # the two copies of the authorization id disagree
            await session.send_plain(usdio, not_authorized)
            return

        auth.date_last_active = self.stamp()
        try:
            command = c.decode_command(frame.command_id, frame.payload)
            handler = HANDLERS.get(type(command))
            if handler is None or not self.firmware.knows(command):
                raise Refused(NukiErrorCode.ERROR_UNKNOWN, f"{command.NAME} is not for the lock")
            self._check_access(session, auth, command)
            answers = await handler(self, session, auth, command)
            if not isinstance(command, c.RequestData):
                self.most_recent_command = frame.command_id
                self.changed()
        except Refused as refused:
            logger.debug("refusing 0x%04X: %s", frame.command_id, refused)
            answers = [error_report(refused.code, frame.command_id)]
        except ProtocolError as exc:
            answers = [error_report(protocol_error_code(exc), frame.command_id)]
        await session.send_encrypted(auth, *answers)

    def _check_access(self, session: Session, auth: Authorization, command: c.Command) -> None:
        """Authorization, nonce and PIN checks, in that order (a replayed frame is refused for
        its nonce before its PIN is looked at, so replays never count as wrong PINs)."""
        if not isinstance(command, c.RequestData):
            if not auth.enabled:
                raise Refused(NukiErrorCode.K_ERROR_DISABLED)
            if session.via_bridge and not auth.remote_allowed:
                raise Refused(NukiErrorCode.K_ERROR_REMOTE_NOT_ALLOWED)
            if not auth.window.allows(self.window_time(self.now())):
                raise Refused(NukiErrorCode.K_ERROR_TIME_NOT_ALLOWED)
        nonce = getattr(command, "nonce_k", None)
        if nonce is not None:
            expected = self.challenges.pop(auth.authorization_id, None)
            if expected is None or not hmac.compare_digest(expected, nonce):
                raise Refused(NukiErrorCode.K_ERROR_BAD_NONCE)
        if command.PIN_PROTECTED:
            self._check_pin(command.security_pin)  # type: ignore[attr-defined]

    def _check_pin(self, pin: SecurityPin) -> None:
        instant = self.clock.instant()
        if self.pin_locked_until is not None:
            if instant < self.pin_locked_until:
                raise Refused(NukiErrorCode.K_ERROR_TOO_MANY_PIN_ATTEMPTS)
            self.pin_locked_until = None
        if pin.width != self.security_pin.width:
            raise Refused(NukiErrorCode.ERROR_BAD_LENGTH, "PIN of the wrong width")
        if pin.value != self.security_pin.value:
            self.wrong_pins += 1
            if self.wrong_pins >= self.max_pin_attempts:
                self.wrong_pins = 0
                self.pin_locked_until = instant + timedelta(seconds=self.pin_lockout_seconds)
            raise Refused(NukiErrorCode.K_ERROR_BAD_PIN)
        self.wrong_pins = 0
