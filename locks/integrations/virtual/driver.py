"""A lock that lives in the database: keypad memory, state, battery and activity log.

Its writes commit on their own (like a real lock acting on a radio message, independent of
the portal's bookkeeping), then it waits `delay_ms` before answering, so a worker killed
mid-command leaves the lock changed but the command unrecorded: the case the sync engine must
survive without setting a code twice. `failure_rate` makes it fail transiently at random so
the demo and tests can show retries.
"""

from __future__ import annotations

import random
import time

from django.db import IntegrityError, transaction
from django.db.models import Max

from locks.integrations.base import (
    Applied,
    Capability,
    CodeSpec,
    Driver,
    DriverError,
    LockCode,
    LockFull,
    LockStatus,
    NotFoundOnLock,
)
from locks.models import LockEvent, VirtualLockCode


def _reported(row) -> LockCode:
    """A stored code as the lock reports it, with its weekday/time limits where it has some."""
    return LockCode(
        str(row.slot),
        row.code,
        row.name,
        row.valid_from,
        row.valid_until,
        weekdays=127 if row.weekdays is None else row.weekdays,
        from_minute=row.from_minute or 0,
        until_minute=row.until_minute or 0,
    )


class VirtualDriver(Driver):
    kind = "virtual"
    capabilities = frozenset(
        {Capability.CODES, Capability.ACTIONS, Capability.STATE, Capability.LOGS}
    )

    @classmethod
    def capabilities_for(cls, lock) -> frozenset[str]:
        """`schedules: true` in the config makes it a lock that stores weekday/time limits."""
        if lock.config.get("schedules"):
            return cls.capabilities | {Capability.SCHEDULES}
        return cls.capabilities

    # Settings ------------------------------------------------------------------------------
    @property
    def delay_seconds(self) -> float:
        return max(0.0, float(self.lock.config.get("delay_ms", 0))) / 1000

    @property
    def failure_rate(self) -> float:
        return min(1.0, max(0.0, float(self.lock.config.get("failure_rate", 0.0))))

    def _radio(self) -> None:
        """Refuse like an unreachable or flaky lock would, before anything changes."""
        if self.lock.config.get("offline"):
            raise DriverError(
                "The lock is offline.",
                fix="Check the lock's batteries and its connection; the portal keeps retrying.",
            )
        if self.failure_rate and random.random() < self.failure_rate:
            raise DriverError(
                "The lock did not answer in time.",
                fix="Nothing to do yet: the portal retries automatically.",
            )

    def _answer(self) -> None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)

    def _event(self, kind: str, message: str, **detail) -> None:
        LockEvent.objects.create(
            organization_id=self.lock.organization_id,
            lock=self.lock,
            kind=kind,
            source=self.kind,
            message=message,
            detail=detail,
        )

    # Codes ---------------------------------------------------------------------------------
    def list_codes(self) -> list[LockCode]:
        self._radio()
        codes = [_reported(c) for c in self.lock.virtual_codes.order_by("slot")]
        self._answer()
        return codes

    def find_code(self, spec: CodeSpec) -> LockCode | None:
        row = self.lock.virtual_codes.filter(code=spec.code, name=spec.name).first()
        if row is None:
            return None
        return _reported(row)

    def _schedule(self, spec: CodeSpec) -> dict:
        if Capability.SCHEDULES not in self.capabilities_for(self.lock):
            if spec.limited:
                raise DriverError(
                    "This lock cannot limit codes to weekdays or times.", permanent=True
                )
            return {}
        return {
            "weekdays": spec.weekdays,
            "from_minute": spec.from_minute,
            "until_minute": spec.until_minute,
        }

    def add_code(self, spec: CodeSpec) -> Applied:
        self._radio()
        with transaction.atomic():
            if self.lock.virtual_codes.count() >= self.lock.capacity:
                raise LockFull(self.lock.capacity)
            slot = (self.lock.virtual_codes.aggregate(m=Max("slot"))["m"] or 0) + 1
            try:
                with transaction.atomic():
                    VirtualLockCode.objects.create(
                        lock=self.lock,
                        slot=slot,
                        code=spec.code,
                        name=spec.name,
                        valid_from=spec.valid_from,
                        valid_until=spec.valid_until,
                        **self._schedule(spec),
                    )
            except IntegrityError:
                raise DriverError(
                    "The lock already holds this code.",
                    fix="Generate a new code for this stay.",
                    permanent=True,
                ) from None
            self._event("code_added", f"Keypad code added: {spec.name}", slot=slot)
        self._answer()
        return Applied(remote_id=str(slot))

    def update_code(self, remote_id: str, spec: CodeSpec) -> Applied:
        self._radio()
        changed = self.lock.virtual_codes.filter(slot=int(remote_id)).update(
            code=spec.code,
            name=spec.name,
            valid_from=spec.valid_from,
            valid_until=spec.valid_until,
            **self._schedule(spec),
        )
        if not changed:
            raise NotFoundOnLock(remote_id)
        self._event("code_updated", f"Keypad code changed: {spec.name}", slot=int(remote_id))
        self._answer()
        return Applied(remote_id=remote_id)

    def remove_code(self, remote_id: str) -> None:
        self._radio()
        deleted, _ = self.lock.virtual_codes.filter(slot=int(remote_id)).delete()
        if not deleted:
            raise NotFoundOnLock(remote_id)
        self._event("code_removed", "Keypad code removed", slot=int(remote_id))
        self._answer()

    # Actions -------------------------------------------------------------------------------
    AFTER = {"unlock": "unlocked", "lock": "locked", "unlatch": "unlocked", "lock_n_go": "locked"}

    def lock_action(self, action: str) -> LockStatus:
        self._radio()
        state = self.AFTER[action]
        self.lock.__class__.objects.filter(pk=self.lock.pk).update(state=state)
        self._event("lock_action", f"Remote {action.replace('_', ' ')}", action=action)
        self._answer()
        return self.status(state=state)

    # Status --------------------------------------------------------------------------------
    def status(self, *, state: str | None = None) -> LockStatus:
        """What the lock reports about itself, like a real one: its bolt, its battery and its
        door sensor (`battery_percent` and `door_state` in the config set them; a fresh lock
        is locked, its door closed, its batteries well charged)."""
        battery = int(self.lock.config.get("battery_percent", 87))
        current = self.lock.state if self.lock.state not in ("", "unknown") else "locked"
        return LockStatus(
            state=state or current,
            battery_percent=battery,
            battery_critical=battery <= 15,
            door_state=str(self.lock.config.get("door_state", "door closed")),
        )

    def read_state(self) -> LockStatus | None:
        self._radio()
        return self.status()
