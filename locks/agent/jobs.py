"""What each job kind does on the lock, and how every failure becomes a result for the portal.

A job is `{"id", "address", "kind", "params"}`; the outcome is the body of
POST /agent/v1/jobs/{id}/result: `{"ok": true, "result": {...}}` or
`{"ok": false, "error": {"message", "permanent", "code"?}}`. `JobExecutor.execute()` never
raises (except on cancellation): one bad job must not stop the loop.

Retrying: each attempt is a fresh BLE session. Connection failures, timeouts, garbled frames
and "busy" are retried a few times with growing delays; what is left after that goes to the
portal as a transient error. A lock's refusal (duplicate code, bad PIN, ...) is permanent and
never retried. When an attempt failed after the connection was up, the command may have
reached the lock even though no answer came back; the next attempt accounts for that:

* add_code: "code already exists" then means our own first attempt worked; the code is looked
  up by value and name and its id reported (a genuine duplicate still fails).
* remove_code: "no such code id" then means it was removed.
* unlatch is not repeated at all (it would open the door a second time); the portal decides.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from locks.nuki.ble import commands as c
from locks.nuki.ble.client import NukiClient
from locks.nuki.ble.constants import LockAction, LogEntryType, SortOrder
from locks.nuki.ble.errors import NukiErrorCode, NukiErrorReport, ProtocolError
from locks.nuki.ble.values import (
    NukiDateTime,
    fit_name,
    from_lock_datetime,
    keypad_code_problem,
    to_lock_datetime,
)

from .sessions import LockSessions, LockStatus, NotPaired, state_name
from .state import StateError, StateStore, normalize_address

logger = logging.getLogger(__name__)

E = NukiErrorCode

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

LOCK_ACTIONS = {
    "unlock": LockAction.UNLOCK,
    "lock": LockAction.LOCK,
    "unlatch": LockAction.UNLATCH,
    "lock_n_go": LockAction.LOCK_N_GO,
    "lock_n_go_unlatch": LockAction.LOCK_N_GO_WITH_UNLATCH,
}
NOT_REPEATABLE_ACTIONS = frozenset({LockAction.UNLATCH, LockAction.LOCK_N_GO_WITH_UNLATCH})

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


@dataclass
class _Context:
    """What a handler knows about the attempts before it."""

    job: Job
    attempt: int = 1
    maybe_applied: bool = False
    commit: Callable[[], None] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


Handler = Callable[[NukiClient, _Context], Awaitable[dict[str, Any]]]


# -- parameter parsing --------------------------------------------------------------------------


def _param(params: dict[str, Any], name: str) -> Any:
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


# -- the executor -------------------------------------------------------------------------------


class JobExecutor:
    """Runs jobs against locks through `LockSessions`.

    `job_timeout` bounds a whole job, retries included: the portal stops waiting for a result
    after 45 s (locks/agents.py JOB_TIMEOUT_SECONDS), so working on past that is wasted.
    """

    def __init__(
        self,
        sessions: LockSessions,
        store: StateStore,
        *,
        attempts: int = 3,
        retry_delay: float = 1.0,
        job_timeout: float = 40.0,
        log_page: int = 20,
        log_limit: int = 200,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sessions = sessions
        self.store = store
        self.attempts = max(1, attempts)
        self.retry_delay = retry_delay
        self.job_timeout = job_timeout
        self.log_page = log_page
        self.log_limit = log_limit
        self.sleep = sleep
        self.handlers: dict[str, Handler] = {
            "add_code": self._add_code,
            "update_code": self._update_code,
            "remove_code": self._remove_code,
            "list_codes": self._list_codes,
            "lock_action": self._lock_action,
            "read_log": self._read_log,
            "sync_time": self._sync_time,
        }

    async def execute(self, job: Job, *, resumed: bool = False) -> Outcome:
        """The outcome of `job`; never raises (but lets cancellation through).

        `resumed`: the agent died while running this job before, so it may already have
        happened on the lock; handled as after an unanswered attempt (add_code looks for its
        own code, an unlatch is not repeated)."""
        handler = self.handlers.get(job.kind)
        if handler is None:
            return Outcome(JobFailed(f"Unknown job kind {job.kind!r}.", permanent=True).body())
        context = _Context(job, maybe_applied=resumed)
        if resumed and not self._repeatable(context):
            return Outcome(
                JobFailed(
                    "The agent restarted during the action; it may or may not have happened, "
                    "so it was not repeated.",
                    permanent=False,
                ).body()
            )
        try:
            result = await asyncio.wait_for(self._attempts(handler, context), self.job_timeout)
        except JobFailed as exc:
            logger.info("job %d (%s) failed: %s", job.id, job.kind, exc.message)
            return Outcome(exc.body())
        except TimeoutError:
            failed = JobFailed("The job took too long; the lock did not answer.", permanent=False)
            return Outcome(failed.body())
        except Exception as exc:  # a bug here must not stop the loop
            logger.exception("job %d (%s) crashed", job.id, job.kind)
            crashed = JobFailed(
                f"The agent failed on this job ({type(exc).__name__}).", permanent=False
            )
            return Outcome(crashed.body())
        logger.info("job %d (%s) done", job.id, job.kind)
        return Outcome({"ok": True, "result": result}, context.commit, context.events)

    async def _attempts(self, handler: Handler, context: _Context) -> dict[str, Any]:
        job = context.job
        for attempt in range(1, self.attempts + 1):
            context.attempt = attempt
            connected = False
            unanswered = False  # the link failed after connecting: the command may have landed
            try:
                async with self.sessions.session(job.address) as client:
                    connected = True
                    return await handler(client, context)
            except (JobFailed, asyncio.CancelledError):
                raise
            except NotPaired as exc:
                raise JobFailed(str(exc) + ".", permanent=True) from None
            except StateError as exc:
                raise JobFailed(
                    f"The agent's stored pairing for this lock is unusable ({exc}); pair again.",
                    permanent=True,
                ) from None
            except NukiErrorReport as exc:
                failure = from_lock_error(exc)
                if failure.permanent or attempt == self.attempts:
                    raise failure from None
                reason: str = exc.name
            except ValueError as exc:  # the client's own checks of what we would send
                raise bad_params(str(exc)) from None
            except (ConnectionError, TimeoutError, ProtocolError, OSError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if attempt == self.attempts:
                    raise self._unreachable(exc, connected) from None
                unanswered = connected
            # An Error Report is an answer (the lock refused, nothing happened); only a link
            # that failed mid-exchange leaves the outcome open.
            context.maybe_applied = context.maybe_applied or unanswered
            if context.maybe_applied and not self._repeatable(context):
                raise JobFailed(
                    "The lock stopped answering during the action; it may or may not have "
                    "happened, so it was not repeated.",
                    permanent=False,
                )
            delay = self.retry_delay * 2 ** (attempt - 1) * (1 + 0.3 * random.random())
            logger.warning(
                "job %d (%s) attempt %d failed (%s); again in %.1f s",
                job.id,
                job.kind,
                attempt,
                reason,
                delay,
            )
            await self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _unreachable(exc: BaseException, connected: bool) -> JobFailed:
        if not connected:
            return JobFailed(f"Could not connect to the lock ({exc}).", permanent=False)
        if isinstance(exc, TimeoutError):
            return JobFailed("The lock did not answer in time.", permanent=False)
        return JobFailed(f"The connection to the lock failed ({exc}).", permanent=False)

    @staticmethod
    def _repeatable(context: _Context) -> bool:
        if context.job.kind != "lock_action":
            return True
        return LOCK_ACTIONS.get(context.job.params.get("action")) not in NOT_REPEATABLE_ACTIONS

    # -- handlers -----------------------------------------------------------------------------

    async def _all_codes(self, client: NukiClient) -> list[c.KeypadCode]:
        codes: list[c.KeypadCode] = []
        while True:
            page = await client.request_keypad_codes(offset=len(codes), count=100)
            codes.extend(page.entries)
            if not page.entries or page.total is None or len(codes) >= page.total:
                return codes

    async def _add_code(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        params = context.job.params
        code = parse_code(_param(params, "code"))
        name = parse_name(params.get("name"))
        window = parse_window(params)
        try:
            answer = await client.add_keypad_code(code, name, **window)
        except NukiErrorReport as exc:
            if exc.error_code == E.K_ERROR_CODE_ALREADY_EXISTS and context.maybe_applied:
                mine = [e for e in await self._all_codes(client) if e.code == code]
                if len(mine) == 1 and mine[0].name == name:
                    logger.info("job %d: the earlier attempt had added the code", context.job.id)
                    return {"code_id": mine[0].code_id}
            raise
        if answer is not None:
            return {"code_id": answer.code_id}
        found = [e for e in await self._all_codes(client) if e.code == code]
        if not found:
            raise JobFailed("The lock confirmed the code but does not list it.", permanent=False)
        return {"code_id": found[0].code_id}

    async def _update_code(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        params = context.job.params
        code_id = parse_code_id(_param(params, "code_id"))
        code = parse_code(_param(params, "code"))
        name = parse_name(params.get("name"))
        enabled = params.get("enabled", True)
        if not isinstance(enabled, bool):
            raise bad_params("enabled must be true or false")
        window = parse_window(params)
        try:
            await client.update_keypad_code(code_id, code, name, enabled=enabled, **window)
        except NukiErrorReport as exc:
            if await self._code_missing(client, exc, code_id):
                raise JobFailed(
                    f"Keypad code {code_id} was not found on the lock.",
                    permanent=True,
                    code=CODE_NOT_FOUND,
                ) from None
            raise
        return {}

    async def _remove_code(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        """Removing a code the lock does not have is done, not failed: what the portal wants
        (the code gone) holds, also when our own earlier attempt removed it."""
        code_id = parse_code_id(_param(context.job.params, "code_id"))
        try:
            await client.remove_keypad_code(code_id)
        except NukiErrorReport as exc:
            if await self._code_missing(client, exc, code_id):
                return {}
            raise
        return {}

    async def _code_missing(self, client: NukiClient, exc: NukiErrorReport, code_id: int) -> bool:
        """Whether a K_ERROR_BAD_PARAMETER was about an unknown code id (the lock does not
        say which parameter it disliked, so look)."""
        if exc.error_code != E.K_ERROR_BAD_PARAMETER:
            return False
        return all(e.code_id != code_id for e in await self._all_codes(client))

    async def _list_codes(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        return {"codes": [code_to_json(e) for e in await self._all_codes(client)]}

    async def _lock_action(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        name = _param(context.job.params, "action")
        action = LOCK_ACTIONS.get(name) if isinstance(name, str) else None
        if action is None:
            raise bad_params(f"action must be one of {', '.join(LOCK_ACTIONS)}")
        outcome = await client.lock_action(action)
        try:  # ask once more: the last pushed state may be an intermediate one
            states = await client.request_nuki_states()
        except (ConnectionError, TimeoutError, ProtocolError, NukiErrorReport):
            states = outcome.states[-1] if outcome.states else client.last_states
        if states is None:
            return {"state": None}
        status = self.sessions.remember(context.job.address, states)
        context.events.append(self._state_event(context.job.address, status))
        return {"state": state_name(states.lock_state)}

    @staticmethod
    def _state_event(address: str, status: LockStatus) -> dict[str, Any]:
        return {"address": address, "entries": [], "state": status.to_json()}

    async def _read_log(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        """Entries with an index above the stored cursor, oldest first.

        Read newest first in pages (start index 0 = newest; a page's next start is the last
        index minus one, as the simulator implements the spec's start index, *unconfirmed* on
        real firmware) until the cursor is reached, the log ends or `log_limit` entries were
        read ("complete": false then: older new entries were skipped). A newest index below
        the cursor means the log started over (factory reset): everything counts as new.
        """
        address = context.job.address
        cursor = self.store.load_cursor(address)
        fresh: list[c.LogEntry] = []
        start = 0
        restarted = False
        while True:
            page = await client.request_log_entries(
                start_index=start, count=self.log_page, sort_order=SortOrder.DESCENDING
            )
            entries = page.entries
            if start == 0 and entries and cursor is not None:
                restarted = entries[0].index < cursor
            complete = False
            for entry in entries:
                if cursor is not None and not restarted and entry.index <= cursor:
                    complete = True
                    break
                fresh.append(entry)
            if complete or len(entries) < self.log_page or entries[-1].index <= 1:
                complete = True
                break
            if len(fresh) >= self.log_limit:
                break
            start = entries[-1].index - 1
        complete = complete and len(fresh) <= self.log_limit
        fresh = sorted(fresh[: self.log_limit], key=lambda e: e.index)
        if fresh:
            newest = fresh[-1].index

            def commit() -> None:
                self.store.save_cursor(address, newest)

            context.commit = commit
        return {"entries": [log_entry_to_json(e) for e in fresh], "complete": complete}

    async def _sync_time(self, client: NukiClient, context: _Context) -> dict[str, Any]:
        await client.update_time(datetime.now(UTC))
        return {}
