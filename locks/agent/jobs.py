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
from locks.nuki.ble.constants import LockAction, SortOrder
from locks.nuki.ble.errors import NukiErrorCode, NukiErrorReport, ProtocolError

from .payloads import (
    CODE_NOT_FOUND,
    LOCK_ACTIONS,
    Job,
    JobFailed,
    Outcome,
    bad_params,
    code_to_json,
    from_lock_error,
    log_entry_to_json,
    param,
    parse_code,
    parse_code_id,
    parse_name,
    parse_window,
)
from .sessions import LockSessions, LockStatus, NotPaired, state_name
from .state import StateError, StateStore

logger = logging.getLogger(__name__)

E = NukiErrorCode

NOT_REPEATABLE_ACTIONS = frozenset({LockAction.UNLATCH, LockAction.LOCK_N_GO_WITH_UNLATCH})


@dataclass
class _Context:
    """What a handler knows about the attempts before it."""

    job: Job
    attempt: int = 1
    maybe_applied: bool = False
    commit: Callable[[], None] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


Handler = Callable[[NukiClient, _Context], Awaitable[dict[str, Any]]]


# -- the executor -------------------------------------------------------------------------------


class JobExecutor:
    """Runs jobs against locks through `LockSessions`.

    `job_timeout` bounds a whole job, retries included: the portal stops waiting for a result
    after 45 s (locks/integrations/ble_agent/jobs.py JOB_TIMEOUT_SECONDS), so working on past
    that is wasted.
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
        code = parse_code(param(params, "code"))
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
        code_id = parse_code_id(param(params, "code_id"))
        code = parse_code(param(params, "code"))
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
        code_id = parse_code_id(param(context.job.params, "code_id"))
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
        name = param(context.job.params, "action")
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
