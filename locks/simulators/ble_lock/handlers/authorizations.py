"""Handlers for the authorizations stored on the lock: list, update, remove, invite."""

from __future__ import annotations

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import IdType
from locks.nuki.ble.errors import NukiErrorCode

from ..core import LockCore
from ..errors import Refused
from ..model import Authorization, TimeWindow
from ..session import Session
from .common import Handler, complete, is_flag


async def request_authorization_entries(
    lock: LockCore, session: Session, auth: Authorization, command: c.RequestAuthorizationEntries
) -> list[c.Command]:
    """Count, then the entries (own authorization first), then Status COMPLETE."""
    others = sorted(
        (a for a in lock.authorizations.values() if a is not auth),
        key=lambda a: a.authorization_id,
    )
    ordered = [auth, *others]
    selected = ordered[command.offset : command.offset + command.count]
    return [
        c.AuthorizationEntryCount(count=len(ordered)),
        *(a.to_entry(always_time_fields=lock.firmware.keypad_support) for a in selected),
        complete(),
    ]


async def remove_authorization_entry(
    lock: LockCore, session: Session, auth: Authorization, command: c.RemoveAuthorizationEntry
) -> list[c.Command]:
    if command.authorization_id not in lock.authorizations:
        raise Refused(NukiErrorCode.K_ERROR_INVALID_AUTH_ID)
    lock.forget_authorization(command.authorization_id)
    return [complete()]  # encrypted with the sender's key, even if it removed itself


async def update_authorization_entry(
    lock: LockCore, session: Session, auth: Authorization, command: c.UpdateAuthorizationEntry
) -> list[c.Command]:
    target = lock.authorizations.get(command.authorization_id)
    if target is None:
        raise Refused(NukiErrorCode.K_ERROR_INVALID_AUTH_ID)
    window = TimeWindow.from_command(command)
    problem = window.problem()
    if problem or not (is_flag(command.enabled) and is_flag(command.remote_allowed)):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem or "flag")
    target.name = command.name
    target.enabled = bool(command.enabled)
    target.remote_allowed = bool(command.remote_allowed)
    target.window = window
    return [complete()]


async def authorization_data_invite(
    lock: LockCore, session: Session, auth: Authorization, command: c.AuthorizationDataInvite
) -> list[c.Command]:
    """Create an authorization for a key the inviting app generated."""
    if command.id_type not in tuple(IdType):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, "unknown ID type")
    window = TimeWindow.from_command(command)
    problem = window.problem()
    if problem or not is_flag(command.remote_allowed):
        raise Refused(NukiErrorCode.K_ERROR_BAD_PARAMETER, problem or "flag")
    if not lock.has_room_for_authorization(replacing_bridge=command.id_type == IdType.BRIDGE):
        raise Refused(NukiErrorCode.P_ERROR_MAX_USER)
    invited = lock.store_paired_authorization(
        authorization_id=lock.allocate_authorization_id(),
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
        complete(),
    ]


HANDLERS: dict[type[c.Command], Handler] = {
    c.RequestAuthorizationEntries: request_authorization_entries,
    c.RemoveAuthorizationEntry: remove_authorization_entry,
    c.UpdateAuthorizationEntry: update_authorization_entry,
    c.AuthorizationDataInvite: authorization_data_invite,
}
