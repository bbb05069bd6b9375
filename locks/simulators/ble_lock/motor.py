"""The simulated lock's motor: one lock action (or calibration) at a time, in the background.

A lock action answers Status ACCEPTED at once; the motor then passes through the action's
states, `action_seconds` apart, sending Nuki States for each to the session that asked, and
ends with Status COMPLETE, or, for an injected fault, an Error Report. A dropped link does not
stop the motor. What the motor changes on the lock (state, counters, log) goes through
`MotorHost`, so the motor never imports the lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import CommandId, CompletionStatus, LockState, StatusCode
from locks.nuki.ble.errors import NukiErrorCode

from .model import Authorization, KeypadCodeEntry
from .session import Session, error_report

logger = logging.getLogger(__name__)

MOTOR_FAULTS: dict[int, tuple[LockState, int]] = {
    NukiErrorCode.K_ERROR_MOTOR_BLOCKED: (LockState.MOTOR_BLOCKED, CompletionStatus.MOTOR_BLOCKED),
    NukiErrorCode.K_ERROR_CLUTCH_FAILURE: (LockState.UNDEFINED, CompletionStatus.CLUTCH_FAILURE),
    NukiErrorCode.K_ERROR_MOTOR_TIMEOUT: (LockState.UNDEFINED, CompletionStatus.OTHER_ERROR),
}
"""Injectable motor faults: the state the lock ends in and the completion status it logs."""


class MotorHost(Protocol):
    """What the motor needs of the lock it moves."""

    action_seconds: float
    failures: list[BaseException]

    def set_state(self, state: LockState, trigger: int) -> None: ...

    def nuki_states(self) -> c.NukiStates: ...

    def finish_action(
        self, action: int, trigger: int, status: int, steps: tuple[LockState, ...], ok: bool
    ) -> None: ...

    def log_action(
        self,
        auth: Authorization | None,
        action: int,
        trigger: int,
        flags: int,
        status: int,
        keypad_entry: KeypadCodeEntry | None,
    ) -> None: ...

    def changed(self) -> None: ...


@dataclass(eq=False)
class Motion:
    """A running lock action (or calibration): which action, and the task moving the motor."""

    task: asyncio.Task[None]
    action: int


class Motor:
    """Runs one motion at a time for its lock; `inject_fault()` makes the next one fail."""

    def __init__(self, host: MotorHost) -> None:
        self.host = host
        self.motion: Motion | None = None
        self.fault: int | None = None

    @property
    def busy(self) -> bool:
        """A lock action or calibration is running."""
        return self.motion is not None and not self.motion.task.done()

    async def wait_idle(self) -> None:
        if self.motion is not None:
            await asyncio.shield(self.motion.task)

    async def stop(self) -> None:
        """Cancel a running motion (the lock shutting down)."""
        if self.motion is not None and not self.motion.task.done():
            self.motion.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.motion.task

    def inject_fault(self, error_code: int) -> None:
        if error_code not in MOTOR_FAULTS:
            raise ValueError(f"not a motor fault: 0x{error_code:02X}")
        self.fault = error_code

    def start(
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
        """Start moving (needs a running event loop); the answers go to `session`, if any."""
        work = self._run(
            session,
            auth,
            action,
            steps,
            trigger=trigger,
            flags=flags,
            keypad_entry=keypad_entry,
            command_id=command_id,
            log=log,
        )
        self._launch(work, action)

    def _launch(self, work: Coroutine[Any, Any, None], action: int) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.motion = Motion(task, action)

    async def _run(
        self,
        session: Session | None,
        auth: Authorization | None,
        action: int,
        steps: tuple[LockState, ...],
        *,
        trigger: int,
        flags: int,
        keypad_entry: KeypadCodeEntry | None,
        command_id: int,
        log: bool,
    ) -> None:
        """Status ACCEPTED, a Nuki States per state passed through, then Status COMPLETE (or an
        Error Report for an injected motor fault), all to the session that asked."""
        host = self.host
        fault, self.fault = self.fault, None
        try:
            await self._push(session, auth, c.Status(status=StatusCode.ACCEPTED))
            status = CompletionStatus.SUCCESS
            for index, state in enumerate(steps):
                if index:
                    await asyncio.sleep(host.action_seconds)
                if fault is not None and index == len(steps) - 1:
                    break
                host.set_state(state, trigger)
                await self._push(session, auth, host.nuki_states())
            if fault is not None:
                await asyncio.sleep(host.action_seconds)
                fault_state, status = MOTOR_FAULTS[fault]
                host.set_state(fault_state, trigger)
                await self._push(session, auth, host.nuki_states())
            host.finish_action(action, trigger, status, steps, fault is None)
            if log:
                host.log_action(auth, action, trigger, flags, status, keypad_entry)
            host.changed()
            if fault is not None:
                await self._push(session, auth, error_report(fault, command_id))
            else:
                await self._push(session, auth, c.Status(status=StatusCode.COMPLETE))
        except Exception as exc:  # keep the simulator alive, but make the test see it
            logger.exception("lock action failed")
            host.failures.append(exc)

    @staticmethod
    async def _push(
        session: Session | None, auth: Authorization | None, command: c.Command
    ) -> None:
        """Send to the session that started an action; a dropped link does not stop the motor."""
        if session is None or auth is None:
            return
        with contextlib.suppress(ConnectionError):
            await session.send_encrypted(auth, command)
