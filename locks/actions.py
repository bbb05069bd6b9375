"""Remote lock actions, through the sync engine like every other change to a lock."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from locks.integrations.base import ACTIONS, Capability
from locks.models import CommandKind, CommandStatus, Lock, LockCommand
from locks.sync.commands import dispatch

ACTION_TTL = dt.timedelta(seconds=60)


class ActionRefused(ValueError):
    pass


@transaction.atomic
def lock_action_request(*, lock: Lock, action: str) -> LockCommand:
    if action not in ACTIONS:
        raise ActionRefused(f"Unknown action; use one of: {', '.join(ACTIONS)}.")
    if Capability.ACTIONS not in lock.capabilities:
        raise ActionRefused("This lock cannot be operated remotely.")
    command = LockCommand.objects.create(
        organization_id=lock.organization_id,
        lock=lock,
        kind=CommandKind.LOCK_ACTION,
        payload={"action": action},
        expires_at=timezone.now() + ACTION_TTL,
    )
    dispatch(command.pk, driver=lock.driver)
    return command


def action_state(command: LockCommand) -> str:
    if command.status in (CommandStatus.PENDING, CommandStatus.RUNNING, CommandStatus.WAITING):
        return "pending"
    return command.status
