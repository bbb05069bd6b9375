"""Handlers for the lock's settings and the device itself: Config, Advanced Config, Security
PIN, Update Time, Reboot and Disconnect."""

from __future__ import annotations

from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.errors import NukiErrorCode

from ..core import LockCore
from ..errors import Refused
from ..model import AdvancedConfiguration, Authorization, LockConfiguration
from ..session import Session
from .common import Handler, complete


async def request_config(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestConfig
) -> list[c.Command]:
    """63 bytes on v1.10 firmware; with keypad support the v2.2.1 fields follow (74), and on
    Smart Lock 3.0 device type, capabilities and has keypad v2 (77)."""
    cfg = lock.config
    firmware = lock.firmware
    later: dict[str, Any] = {}
    if firmware.keypad_support:
        later = {
            "single_lock": cfg.single_lock,
            "advertising_mode": cfg.advertising_mode,
            "has_keypad": int(lock.has_keypad),
            "firmware_version": firmware.version,
            "hardware_revision": firmware.hardware_revision,
            "homekit_status": firmware.homekit_status,
            "timezone_id": cfg.timezone_id,
        }
        if firmware.device_type is not None:
            later |= {
                "device_type": firmware.device_type,
                "capabilities": firmware.capabilities,
                "has_keypad_v2": firmware.has_keypad_v2 if lock.has_keypad else 0,
            }
    return [
        c.Config(
            nuki_id=lock.nuki_id,
            name=cfg.name,
            latitude=cfg.latitude,
            longitude=cfg.longitude,
            auto_unlatch=cfg.auto_unlatch,
            pairing_enabled=cfg.pairing_enabled,
            button_enabled=cfg.button_enabled,
            led_enabled=cfg.led_enabled,
            led_brightness=cfg.led_brightness,
            current_time=lock.stamp(),
            timezone_offset=cfg.timezone_offset,
            dst_mode=cfg.dst_mode,
            has_fob=cfg.has_fob,
            fob_action_1=cfg.fob_action_1,
            fob_action_2=cfg.fob_action_2,
            fob_action_3=cfg.fob_action_3,
            **later,
        )
    ]


async def set_config(
    lock: LockCore, session: Session, auth: Authorization, command: c.SetConfig
) -> list[c.Command]:
    problem = LockConfiguration.problem_of(command)
    if problem:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem)
    lock.config.apply(command)
    lock.config_changed()
    return [complete()]


async def request_advanced_config(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestAdvancedConfig
) -> list[c.Command]:
    return [lock.advanced_config.to_command(later_fields=lock.firmware.keypad_support)]


async def set_advanced_config(
    lock: LockCore, session: Session, auth: Authorization, command: c.SetAdvancedConfig
) -> list[c.Command]:
    problem = AdvancedConfiguration.problem_of(command)
    if problem:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem)
    lock.advanced_config.apply(command)
    lock.config_changed()
    return [complete()]


async def verify_security_pin(
    lock: LockCore, session: Session, auth: Authorization, command: c.VerifySecurityPin
) -> list[c.Command]:
    return [complete()]  # the PIN was checked on the way in


async def set_security_pin(
    lock: LockCore, session: Session, auth: Authorization, command: c.SetSecurityPin
) -> list[c.Command]:
    lock.security_pin = command.pin
    return [complete()]


async def update_time(
    lock: LockCore, session: Session, auth: Authorization, command: c.UpdateTime
) -> list[c.Command]:
    try:
        wall = command.time.to_datetime(None)
    except ValueError:
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "not a real date") from None
    off_by = (lock.now() - wall.replace(microsecond=0)).total_seconds()
    lock.time_updates = [*lock.time_updates[-99:], (lock.clock.instant(), off_by)]
    lock.clock.set(wall)
    return [complete()]


async def request_reboot(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestReboot
) -> list[c.Command]:
    """Reboot: every connection drops, challenges and pairing mode are lost."""
    lock.challenges.clear()
    lock.leave_pairing_mode()
    lock.counters.openings_since_boot = lock.counters.closings_since_boot = 0
    for other in list(lock.sessions):
        await other.drop()
    return []


async def request_disconnect(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestDisconnect
) -> list[c.Command]:
    await session.drop()
    return []


HANDLERS: dict[type[c.Command], Handler] = {
    c.RequestConfig: request_config,
    c.SetConfig: set_config,
    c.RequestAdvancedConfig: request_advanced_config,
    c.SetAdvancedConfig: set_advanced_config,
    c.VerifySecurityPin: verify_security_pin,
    c.SetSecurityPin: set_security_pin,
    c.UpdateTime: update_time,
    c.RequestReboot: request_reboot,
    c.RequestDisconnect: request_disconnect,
}
