"""What a job carries and what the agent answers, free of any lock session: the job and its
outcome, the portal's parameters parsed (a bad one is a permanent failure), the lock's refusals
as job failures, and what the lock reports (codes, log entries) as JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.constants import LockAction, LogEntryType
from locks.nuki.ble.errors import NukiErrorCode, NukiErrorReport
from locks.nuki.ble.values import (
    NukiDateTime,
    fit_name,
    from_lock_datetime,
    keypad_code_problem,
    to_lock_datetime,
)

from .state import normalize_address

E = NukiErrorCode

# The portal's names of the lock's actions.
LOCK_ACTIONS = {
    "unlock": LockAction.UNLOCK,
    "lock": LockAction.LOCK,
    "unlatch": LockAction.UNLATCH,
    "lock_n_go": LockAction.LOCK_N_GO,
    "lock_n_go_unlatch": LockAction.LOCK_N_GO_WITH_UNLATCH,
}

PERMANENT_LOCK_ERRORS = frozenset(
    {
        E.K_ERROR_CODE_ALREADY_EXISTS,
        E.K_ERROR_CODE_INVALID,
        E.K_ERROR_TOO_MANY_ENTRIES,
        E.K_ERROR_BAD_PIN,
        E.K_ERROR_TOO_MANY_PIN_ATTEMPTS,  # only a wrong PIN gets there: fix the PIN first
        E.K_ERROR_BAD_PARAMETER,
        E.K_ERROR_NOT_AUTHORIZED,
        E.K_ERROR_INVALID_AUTH_ID,
        E.K_ERROR_DISABLED,
        E.K_ERROR_REMOTE_NOT_ALLOWED,
        E.P_ERROR_NOT_PAIRING,
        E.P_ERROR_BAD_AUTHENTICATOR,
        E.P_ERROR_BAD_PARAMETER,
        E.P_ERROR_MAX_USER,
    }
)
"""Refusals where sending the same request again cannot help. Everything else (busy, motor
trouble, bad nonce, CRC, unknown codes) is transient."""

LOCK_ERROR_MESSAGES: dict[int, str] = {
    E.K_ERROR_CODE_ALREADY_EXISTS: "The lock already has this keypad code.",
    E.K_ERROR_CODE_INVALID: (
        "The lock does not accept this keypad code (6 digits 1-9, not starting with 12)."
    ),
    E.K_ERROR_TOO_MANY_ENTRIES: "The lock has no room for another keypad code.",
    E.K_ERROR_BAD_PIN: "The lock refused the security PIN stored on the agent.",
    E.K_ERROR_TOO_MANY_PIN_ATTEMPTS: (
        "The lock blocks PIN-protected commands after too many wrong PINs."
    ),
    E.K_ERROR_BAD_PARAMETER: (
        "The lock refused the request as invalid (for example an unknown code id or dates)."
    ),
    E.K_ERROR_NOT_AUTHORIZED: "The lock no longer knows this agent: pair it again.",
    E.K_ERROR_INVALID_AUTH_ID: "The lock no longer knows this agent: pair it again.",
    E.K_ERROR_DISABLED: "The agent's authorization is disabled on the lock.",
    E.K_ERROR_REMOTE_NOT_ALLOWED: "The lock does not allow remote access for the agent.",
    E.K_ERROR_TIME_NOT_ALLOWED: "The agent's authorization is outside its allowed time.",
    E.K_ERROR_BUSY: "The lock was busy.",
    E.K_ERROR_BAD_NONCE: "The lock rejected a stale message.",
    E.K_ERROR_AUTO_UNLOCK_TOO_RECENT: "The lock refused an unlock so soon after the last one.",
    E.K_ERROR_POSITION_UNKNOWN: "The lock does not know its position.",
    E.K_ERROR_MOTOR_BLOCKED: "The lock's motor is blocked.",
    E.K_ERROR_CLUTCH_FAILURE: "The lock reported a clutch failure.",
    E.K_ERROR_MOTOR_TIMEOUT: "The lock's motor timed out.",
    E.ERROR_BAD_CRC: "The radio link garbled a message.",
    E.ERROR_BAD_LENGTH: "The radio link garbled a message.",
}


CODE_NAME_BYTES = 20
CODE_NOT_FOUND = "CODE_NOT_FOUND"
"""Error code of an update_code whose code id the lock does not hold (the lock itself only
says K_ERROR_BAD_PARAMETER; the agent looked)."""
LOG_TYPE_NAMES = {
    LogEntryType.LOGGING_ENABLED: "logging_enabled",
    LogEntryType.LOCK_ACTION: "lock_action",
    0x05: "keypad_action",
    0xF0: "keypad_code_change",  # our simulator's own type; real firmware is not known to log it
}
CODE_CHANGES = {1: "added", 2: "updated", 3: "removed"}


# -- jobs and outcomes ------------------------------------------------------------------------


class JobFailed(Exception):
    """A job that cannot be done, with what the portal needs to decide about retrying."""

    def __init__(self, message: str, *, permanent: bool, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.code = code

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "permanent": self.permanent}
        if self.code:
            error["code"] = self.code
        return {"ok": False, "error": error}


def bad_params(message: str) -> JobFailed:
    return JobFailed(f"Invalid job parameters: {message}", permanent=True)


def from_lock_error(exc: NukiErrorReport) -> JobFailed:
    message = LOCK_ERROR_MESSAGES.get(exc.error_code, f"The lock refused the request ({exc.name}).")
    return JobFailed(message, permanent=exc.error_code in PERMANENT_LOCK_ERRORS, code=exc.name)


@dataclass(frozen=True)
class Job:
    id: int
    address: str
    kind: str
    params: dict[str, Any]

    @classmethod
    def parse(cls, raw: Any) -> Job:
        """A job from the portal's JSON; ValueError if it is not one."""
        if not isinstance(raw, dict):
            raise ValueError("a job is a JSON object")
        job_id = raw.get("id")
        if isinstance(job_id, bool) or not isinstance(job_id, int):
            raise ValueError("job id is not an integer")
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise ValueError("params is not an object")
        kind = raw.get("kind")
        if not isinstance(kind, str):
            raise ValueError("kind is not text")
        return cls(
            id=job_id, address=normalize_address(raw.get("address")), kind=kind, params=params
        )

    def raw(self) -> dict[str, Any]:
        """The job as the portal sent it (for the journal)."""
        return {"id": self.id, "address": self.address, "kind": self.kind, "params": self.params}


@dataclass
class Outcome:
    """The result body, plus what to do once it is safely in the outbox (advance the log
    cursor) and events to post."""

    body: dict[str, Any]
    commit: Callable[[], None] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.body.get("ok"))


# -- parameter parsing --------------------------------------------------------------------------


def param(params: dict[str, Any], name: str) -> Any:
    if name not in params:
        raise bad_params(f"{name} is missing")
    return params[name]


def parse_code(value: Any) -> int:
    """The code as an int ("123456" or 123456 in), checked as the lock checks it."""
    usable = isinstance(value, str | int) and not isinstance(value, bool)
    text = str(value).strip() if usable else ""
    if not text.isdigit():
        raise bad_params("code must be 6 digits")
    code = int(text)
    problem = keypad_code_problem(code) if len(text) == 6 else "a keypad code has exactly 6 digits"
    if problem:
        raise JobFailed(
            f"The code cannot be used: {problem}.",
            permanent=True,
            code=E.K_ERROR_CODE_INVALID.name,
        )
    return code


def parse_code_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise bad_params("code_id must be an integer 0..65535")
    return value


def parse_name(value: Any) -> str:
    """A code name as the lock stores it: at most 20 bytes of UTF-8.

    The portal shortens names to 20 characters, which is more than 20 bytes as soon as a
    guest's name has an accent; failing the code for that would lock a guest out over a
    label, so the name is cut at a character boundary instead (`fit_name`), and list_codes
    shows what the lock really stores.
    """
    name = "" if value is None else value
    if not isinstance(name, str):
        raise bad_params("name must be text")
    return fit_name(name, CODE_NAME_BYTES)


def parse_instant(value: Any, what: str) -> datetime | None:
    """ISO 8601 (a trailing Z allowed; no offset means UTC) -> aware datetime, or None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise bad_params(f"{what} must be an ISO 8601 date and time")
    try:
        parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    except ValueError:
        raise bad_params(f"{what} is not an ISO 8601 date and time: {value!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_window(params: dict[str, Any]) -> dict[str, Any]:
    """valid_from / valid_until -> the keypad code's time-limit fields.

    Dates go to the lock through `to_lock_datetime` in UTC: the agent keeps the lock's clock
    on UTC (sync_time), and FACTS.md leaves UTC versus lock-local open, so this is the one
    place to change if real locks turn out to compare in local time.
    """
    start = parse_instant(params.get("valid_from"), "valid_from")
    end = parse_instant(params.get("valid_until"), "valid_until")
    if start is not None and end is not None and start > end:
        raise bad_params("valid_from is after valid_until")
    if start is None and end is None:
        return {"time_limited": False}
    return {
        "time_limited": True,
        "allowed_from_date": to_lock_datetime(start) if start else None,
        "allowed_until_date": to_lock_datetime(end) if end else None,
    }


# -- JSON of what the lock reports --------------------------------------------------------------


def iso_utc(value: NukiDateTime | None) -> str | None:
    """A lock timestamp as ISO 8601 UTC ("...Z"); None when unset or not a real instant."""
    if value is None or value.is_unset:
        return None
    try:
        return from_lock_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None


def code_to_json(entry: c.KeypadCode) -> dict[str, Any]:
    limited = bool(entry.time_limited)
    return {
        "code_id": entry.code_id,
        "code": str(entry.code),
        "name": entry.name,
        "enabled": bool(entry.enabled),
        "valid_from": iso_utc(entry.allowed_from_date) if limited else None,
        "valid_until": iso_utc(entry.allowed_until_date) if limited else None,
        "time_limited": limited,
        "allowed_weekdays": entry.allowed_weekdays if limited else 0,
        "date_created": iso_utc(entry.date_created),
        "date_last_active": iso_utc(entry.date_last_active),
        "lock_count": entry.lock_count,
    }


def _log_data(entry: c.LogEntry) -> dict[str, Any]:
    data = entry.data
    if isinstance(data, c.LockActionLogData):
        action = next((k for k, v in LOCK_ACTIONS.items() if v == data.lock_action), None)
        return {
            "lock_action": data.lock_action,
            "action": action,
            "trigger": data.trigger,
            "auto_unlock": bool(data.auto_unlock_flag),
            "completion_status": data.completion_status,
        }
    if isinstance(data, c.LoggingEnabledLogData):
        return {"logging_enabled": bool(data.logging_enabled)}
    raw = data.raw if isinstance(data, c.RawLogData) else b""
    if entry.type == 0x05 and len(raw) >= 5:  # keypad use (later spec; layout *unconfirmed*)
        return {
            "lock_action": raw[0],
            "source": raw[1],
            "completion_status": raw[2],
            "code_id": int.from_bytes(raw[3:5], "little"),
        }
    if entry.type == 0xF0 and len(raw) >= 3:
        return {
            "change": CODE_CHANGES.get(raw[0], str(raw[0])),
            "code_id": int.from_bytes(raw[1:3], "little"),
        }
    return {"raw": raw.hex()}


def log_entry_to_json(entry: c.LogEntry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "timestamp": iso_utc(entry.timestamp),
        "auth_id": entry.auth_id,
        "name": entry.name,
        "type": entry.type,
        "type_name": LOG_TYPE_NAMES.get(entry.type, "unknown"),
        "data": _log_data(entry),
    }
