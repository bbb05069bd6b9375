"""Handlers for the lock's state and motor: Request Data, Lock Action, Request Calibration."""

from __future__ import annotations

from datetime import timedelta

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import (
    CommandId,
    FobAction,
    LockAction,
    LockActionFlags,
    LockState,
    Trigger,
)
from locks.nuki.ble.crypto import new_challenge
from locks.nuki.ble.errors import NukiErrorCode

from ..core import LockCore
from ..errors import Refused
from ..model import CALIBRATION, MOTIONS, OPENING_ACTIONS, Authorization
from ..session import Session
from .common import Handler

REQUESTABLE = frozenset(
    {
        CommandId.CHALLENGE,
        CommandId.NUKI_STATES,
        CommandId.BATTERY_REPORT,
        CommandId.MOST_RECENT_COMMAND,
        CommandId.OPENINGS_CLOSINGS_SUMMARY,
    }
)
"""What Request Data may ask for on the encrypted characteristic."""

FOB_ACTIONS = (LockAction.FOB_ACTION_1, LockAction.FOB_ACTION_2, LockAction.FOB_ACTION_3)


async def request_data(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestData
) -> list[c.Command]:
    wanted = command.command_identifier
    if wanted not in REQUESTABLE:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, f"cannot request 0x{wanted:04X}")
    if wanted == CommandId.CHALLENGE:
        nonce = new_challenge(lock.random)
        lock.challenges[auth.authorization_id] = nonce  # replaces any earlier challenge
        return [c.Challenge(nonce_k=nonce)]
    if wanted == CommandId.NUKI_STATES:
        return [lock.nuki_states()]
    if wanted == CommandId.BATTERY_REPORT:
        voltage = 4400 if lock.battery_critical else 5800
        details: dict[str, int] = {}
        if lock.firmware.keypad_support:  # the last action's measurements (v2.2.1)
            details = {
                "lock_action": lock.last_action,
                "start_voltage": voltage,
                "lowest_voltage": voltage - 300,
                "lock_distance": 0,
                "start_temperature": 21,
                "max_turn_current": 0,
                "battery_resistance": 0,
            }
        return [
            c.BatteryReport(
                battery_drain=0,
                battery_voltage=voltage,
                critical_battery_state=int(lock.battery_critical),
                **details,
            )
        ]
    if wanted == CommandId.MOST_RECENT_COMMAND:
        return [c.MostRecentCommand(command_identifier=lock.most_recent_command)]
    counters = lock.counters
    return [
        c.OpeningsClosingsSummary(
            openings_total=counters.openings_total & 0xFFFF,
            closings_total=counters.closings_total & 0xFFFF,
            openings_since_boot=counters.openings_since_boot & 0xFFFF,
            closings_since_boot=counters.closings_since_boot & 0xFFFF,
        )
    ]


def resolve_action(lock: LockCore, action: int) -> int | None:
    """The plain action a fob action maps to (Config's fob actions); None = no action."""
    config = lock.config
    fob = {
        LockAction.FOB_ACTION_1: config.fob_action_1,
        LockAction.FOB_ACTION_2: config.fob_action_2,
        LockAction.FOB_ACTION_3: config.fob_action_3,
    }
    if action not in fob:
        return action
    setting = fob[action]
    if setting == FobAction.INTELLIGENT:
        setting = FobAction.UNLOCK if lock.state == LockState.LOCKED else FobAction.LOCK
    mapped = {
        FobAction.UNLOCK: LockAction.UNLATCH if config.auto_unlatch else LockAction.UNLOCK,
        FobAction.LOCK: LockAction.LOCK,
        FobAction.LOCK_N_GO: LockAction.LOCK_N_GO,
    }
    return mapped.get(setting)


async def lock_action(
    lock: LockCore, session: Session, auth: Authorization, command: c.LockAction
) -> list[c.Command]:
    if command.lock_action not in set(MOTIONS) | set(FOB_ACTIONS):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "unknown lock action")
    if lock.busy:
        raise Refused(NukiErrorCode.K_ERROR_BUSY)
    action = resolve_action(lock, command.lock_action)
    if (
        session.via_bridge
        and action in OPENING_ACTIONS
        and lock.state in (LockState.UNCALIBRATED, LockState.MOTOR_BLOCKED, LockState.UNDEFINED)
    ):
        raise Refused(NukiErrorCode.K_ERROR_POSITION_UNKNOWN)
    if command.flags & LockActionFlags.AUTO_UNLOCK:
        instant = lock.clock.instant()
        last = lock.last_auto_unlock
        if last is not None and instant - last < timedelta(seconds=lock.auto_unlock_cooldown):
            raise Refused(NukiErrorCode.K_ERROR_AUTO_UNLOCK_TOO_RECENT)
        lock.last_auto_unlock = instant
    steps = MOTIONS[action] if action is not None else ()
    auth.lock_count += 1
    lock.motor.start(
        session, auth, command.lock_action, steps, trigger=Trigger.SYSTEM, flags=command.flags
    )
    return []  # ACCEPTED, the states and COMPLETE come from the motor


async def request_calibration(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestCalibration
) -> list[c.Command]:
    if lock.busy:
        raise Refused(NukiErrorCode.K_ERROR_BUSY)
    lock.motor.start(
        session,
        auth,
        0,
        CALIBRATION,
        trigger=Trigger.SYSTEM,
        command_id=CommandId.REQUEST_CALIBRATION,
        log=False,
    )
    return []


HANDLERS: dict[type[c.Command], Handler] = {
    c.RequestData: request_data,
    c.LockAction: lock_action,
    c.RequestCalibration: request_calibration,
}
