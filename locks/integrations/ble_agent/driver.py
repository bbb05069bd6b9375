"""Driver for locks served by an on-site agent over Bluetooth. Works when the property's
internet is down as far as the lock is concerned: the agent keeps the codes it set."""

from __future__ import annotations

import datetime as dt

from locks.integrations.base import (
    Applied,
    Capability,
    CodeConflict,
    CodeSpec,
    Driver,
    DriverError,
    LockCode,
    LockStatus,
    NotFoundOnLock,
    running_command,
)
from locks.integrations.ble_agent.jobs import (
    AgentJobFailed,
    agent_silent_error,
    command_park,
    job_run,
    job_step,
)
from locks.nuki.ble.values import fit_name

CODE_TAKEN = "K_ERROR_CODE_ALREADY_EXISTS"
CODE_NOT_FOUND = "CODE_NOT_FOUND"  # the agent program's locks.agent.payloads.CODE_NOT_FOUND
NAME_BYTES = 20


def _parse(value) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _window(spec: CodeSpec) -> dict:
    return {
        "code": spec.code,
        "name": spec.name,
        "valid_from": spec.valid_from.astimezone(dt.UTC).isoformat(),
        "valid_until": spec.valid_until.astimezone(dt.UTC).isoformat(),
    }


class BleAgentDriver(Driver):
    kind = "ble_agent"
    queue = "agent"
    capabilities = frozenset(
        {
            Capability.CODES,
            Capability.ACTIONS,
            Capability.STATE,
            Capability.LOGS,
            Capability.OFFLINE,
        }
    )

    def _run(self, kind: str, params: dict) -> dict:
        """Inside a command: hand the job to the agent and return at once (AwaitingDevice),
        or replay its answer. Outside one (command-line tools, tests): wait for the answer."""
        context = running_command()
        if context is not None:
            return job_step(lock=self.lock, kind=kind, params=params, context=context)
        return job_run(lock=self.lock, kind=kind, params=params)

    def park(self, command, *, claimed_at, deadline: dt.datetime) -> bool:
        return command_park(command=command, claimed_at=claimed_at, deadline=deadline)

    def wait_expired(self, command) -> DriverError:
        return agent_silent_error(command=command)

    def list_codes(self) -> list[LockCode]:
        codes = self._run("list_codes", {}).get("codes", [])
        return [
            LockCode(
                str(c["code_id"]),
                str(c.get("code") or "") or None,
                str(c.get("name", "")),
                _parse(c.get("valid_from")),
                _parse(c.get("valid_until")),
            )
            for c in codes
        ]

    def find_code(self, spec: CodeSpec) -> LockCode | None:
        """Our code after a crash, by digits and name as the lock stores the name (cut to 20
        bytes of UTF-8: "LK12 Chloé Martin-Ho" is longer than that)."""
        stored = fit_name(spec.name, NAME_BYTES)
        for code in self.list_codes():
            if code.code == spec.code and code.name == stored:
                return code
        return None

    def add_code(self, spec: CodeSpec) -> Applied:
        try:
            result = self._run("add_code", _window(spec))
        except AgentJobFailed as exc:
            if exc.code == CODE_TAKEN:  # someone else's code has these digits
                raise CodeConflict(spec.code) from None
            raise
        return Applied(remote_id=str(result["code_id"]))

    def update_code(self, remote_id: str, spec: CodeSpec) -> Applied:
        try:
            self._run("update_code", {**_window(spec), "code_id": int(remote_id), "enabled": True})
        except AgentJobFailed as exc:
            if exc.code == CODE_NOT_FOUND:
                raise NotFoundOnLock(remote_id) from None
            if exc.code == CODE_TAKEN:
                raise CodeConflict(spec.code) from None
            raise
        return Applied(remote_id=remote_id)

    def remove_code(self, remote_id: str) -> bool:
        self._run("remove_code", {"code_id": int(remote_id)})
        return True

    def lock_action(self, action: str) -> LockStatus | None:
        result = self._run("lock_action", {"action": action})
        return LockStatus(state=str(result["state"])) if result.get("state") else None
