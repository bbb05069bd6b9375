"""The agent's loop: report locks, deliver waiting results, long-poll jobs, run them.

One iteration (`Agent.run_once`):

0. finish jobs a crash cut short (the journal), and sync the lock clocks when due: both need
   no portal, so they also happen while it is unreachable;
1. post results still in the outbox (the portal was down when they were first posted);
2. report the locks when due (at start, then every `report_interval` seconds);
3. GET /agent/v1/jobs?wait=N (the portal holds the request until jobs come or N s pass);
4. run the jobs, locks in parallel, one job at a time per lock; each result goes to the
   outbox on disk first, then to the portal; events (state after a lock action) follow,
   best effort.

`Agent.run` repeats that forever (or `max_iterations` times, for tests) and is built to
survive: a portal error means a growing pause (exponential backoff with jitter, so a fleet of
agents does not come back in lockstep after an outage), any other exception is logged and
also paused on, and a job never takes the loop down with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from .jobs import JobExecutor
from .payloads import Job, JobFailed, Outcome
from .portal import PortalAuthError, PortalClient, PortalError, PortalRejected, PortalUnavailable
from .sessions import LockSessions, Scanner
from .state import StateStore

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Backoff:
    """Delay before retry n (1-based): base * factor**(n-1), capped, then "equal jitter"
    (a random point in the upper half), so waits grow but agents spread out."""

    base: float = 1.0
    factor: float = 2.0
    cap: float = 300.0
    rand: Callable[[], float] = field(default=random.random)

    def delay(self, failures: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(0, failures - 1))
        return ceiling / 2 + self.rand() * ceiling / 2


class Agent:
    """Everything the `run` command does, with the clock, sleep and radio injectable."""

    def __init__(
        self,
        store: StateStore,
        portal: PortalClient,
        sessions: LockSessions,
        executor: JobExecutor,
        *,
        scanner: Scanner | None = None,
        wait: int = 25,
        report_interval: float = 300.0,
        status_max_age: float = 900.0,
        status_timeout: float = 30.0,
        min_poll_interval: float = 1.0,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        time_sync_interval: float | None = 6 * 3600.0,
    ) -> None:
        self.store = store
        self.portal = portal
        self.sessions = sessions
        self.executor = executor
        self.scanner = scanner
        self.wait = wait
        self.report_interval = report_interval
        self.status_max_age = status_max_age
        self.status_timeout = status_timeout
        self.min_poll_interval = min_poll_interval
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.stop = asyncio.Event()
        self._sleep = sleep
        self._next_report: float | None = None
        self.failures = 0
        self.time_sync_interval = time_sync_interval
        self._clock_due: dict[str, float] = {}
        """Per lock address, when (self.clock) its clock is next to be synced."""
        self.pauses: list[float] = []
        """Every backoff pause taken, in seconds (for logs and tests)."""

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, max_iterations: int | None = None) -> None:
        """Loop until `stop` is set (or `max_iterations` iterations ran). Never raises but
        for cancellation."""
        iterations = 0
        while not self.stop.is_set() and (max_iterations is None or iterations < max_iterations):
            iterations += 1
            try:
                await self.local_work()
                await self.run_once()
                self.failures = 0
                continue
            except asyncio.CancelledError:
                raise
            except PortalAuthError as exc:
                self.failures += 1
                delay = self.backoff.cap
                logger.error("%s: is the agent token revoked? pausing %.0f s", exc, delay)
            except PortalUnavailable as exc:
                self.failures += 1
                delay = max(self.backoff.delay(self.failures), exc.retry_after or 0.0)
                delay = min(delay, self.backoff.cap)
                logger.warning("%s; pausing %.1f s", exc, delay)
            except PortalError as exc:
                self.failures += 1
                delay = self.backoff.delay(self.failures)
                logger.warning("%s; pausing %.1f s", exc, delay)
            except Exception:
                self.failures += 1
                delay = self.backoff.delay(self.failures)
                logger.exception("unexpected error in the agent loop; pausing %.1f s", delay)
            self.pauses.append(delay)
            await self.pause(delay)

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when `stop` is set; lock clocks that come due meanwhile
        are synced on time (a long backoff during an outage must not let them drift)."""
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        deadline = self.clock() + seconds
        while not self.stop.is_set():
            remaining = deadline - self.clock()
            if remaining <= 0:
                return
            step = remaining
            if self._clock_due:
                step = max(0.0, min(step, min(self._clock_due.values()) - self.clock()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), step)
            if step < remaining and not self.stop.is_set():
                await self.sync_clocks()

    # -- work that needs no portal --------------------------------------------------------------

    async def local_work(self) -> None:
        """Finish journaled jobs and sync due clocks; never raises (but for cancellation)."""
        try:
            await self.resume_jobs()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not finish the journaled jobs")
        await self.sync_clocks()

    async def resume_jobs(self) -> int:
        """Jobs a crash cut short: run again as "may have happened" (add_code then looks for
        its own code instead of adding a second one), result to the outbox. Returns how many."""
        resumed = 0
        for raw in self.store.unfinished_jobs():
            try:
                job = Job.parse(raw)
            except ValueError as exc:
                logger.error("journaled job unreadable (%s); dropping it", exc)
                self.store.finish_job(int(raw.get("id") or 0))
                continue
            if not self.store.has_result(job.id):
                logger.warning("job %d was cut short by a restart; finishing it", job.id)
                outcome = await self.executor.execute(job, resumed=True)
                self._keep(job, outcome)
            self.store.finish_job(job.id)
            resumed += 1
        return resumed

    async def sync_clocks(self) -> int:
        """Set the clock of every paired lock whose sync is due to the host's UTC time (the
        host keeps NTP time; a lock's own clock drifts, and codes' windows depend on it).
        Returns how many were synced."""
        if not self.time_sync_interval:
            return 0
        now = self.clock()
        due = [r for r in self.store.list_locks() if self._clock_due.get(r.address, 0.0) <= now]
        results = await asyncio.gather(*(self._sync_clock(r.address) for r in due))
        return sum(results)

    async def _sync_clock(self, address: str) -> bool:
        """One lock, bounded in time (locks side by side: one out of range must not hold up
        the others, nor the jobs, for long)."""
        assert self.time_sync_interval
        try:
            async with asyncio.timeout(self.status_timeout):
                async with self.sessions.session(address) as client:
                    await client.update_time(datetime.now(UTC))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # out of range, batteries: try again in a minute
            logger.warning("could not sync the clock of %s: %r", address, exc)
            self._clock_due[address] = self.clock() + min(60.0, self.time_sync_interval)
            return False
        self._clock_due[address] = self.clock() + self.time_sync_interval
        logger.debug("synced the clock of %s", address)
        return True

    async def _unless_stopped(self, work: Coroutine[Any, Any, T]) -> T | None:
        """Run `work` (a long poll), abandoning it when `stop` is set: None then."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return None
        return task.result()

    async def run_once(self) -> int:
        """One iteration; returns the number of jobs run. Portal errors propagate (the caller
        backs off); results that could not be posted stay in the outbox."""
        await self.flush_outbox()
        now = self.clock()
        if self._next_report is None or now >= self._next_report:
            await self.report_locks()
            self._next_report = self.clock() + self.report_interval
        started = self.clock()
        raw_jobs = await self._unless_stopped(self.portal.poll_jobs(self.wait))
        if raw_jobs is None:
            return 0
        if not raw_jobs:
            rest = self.min_poll_interval - (self.clock() - started)
            if rest > 0:  # a portal that answers at once must not make us spin
                await self.pause(rest)
            return 0
        return await self.process(raw_jobs)

    # -- results --------------------------------------------------------------------------------

    async def _deliver(self, job_id: int, body: dict[str, Any]) -> None:
        """Post one result from the outbox; a result the portal refuses for good is dropped
        (retrying it forever would block nothing but fill the log)."""
        try:
            await self.portal.post_result(job_id, body)
        except PortalRejected as exc:
            logger.error("portal refused the result of job %d (%s); dropping it", job_id, exc)
        self.store.drop_result(job_id)

    async def flush_outbox(self) -> None:
        for job_id, body in self.store.pending_results():
            await self._deliver(job_id, body)

    # -- jobs -----------------------------------------------------------------------------------

    async def process(self, raw_jobs: list[Any]) -> int:
        """Run a batch: per lock in order, locks side by side. Raises the first portal error
        met while posting (after every job ran), so the loop backs off."""
        by_lock: dict[str, list[Job]] = {}
        errors: list[PortalError] = []
        for raw in raw_jobs:
            try:
                job = Job.parse(raw)
            except ValueError as exc:
                await self._refuse_malformed(raw, exc, errors)
                continue
            by_lock.setdefault(job.address, []).append(job)
        await asyncio.gather(*(self._run_lock(jobs, errors) for jobs in by_lock.values()))
        if errors:
            raise errors[0]
        return sum(len(jobs) for jobs in by_lock.values())

    async def _refuse_malformed(self, raw: Any, exc: ValueError, errors: list[PortalError]) -> None:
        job_id = raw.get("id") if isinstance(raw, dict) else None
        logger.error("malformed job %r: %s", job_id, exc)
        if isinstance(job_id, int) and not isinstance(job_id, bool):
            body = JobFailed(f"Malformed job: {exc}.", permanent=True).body()
            self.store.put_result(job_id, body)
            try:
                await self._deliver(job_id, body)
            except PortalError as post_error:
                errors.append(post_error)

    async def _run_lock(self, jobs: list[Job], errors: list[PortalError]) -> None:
        for job in jobs:
            try:
                await self._run_job(job)
            except PortalError as exc:
                errors.append(exc)
            except asyncio.CancelledError:
                raise
            except Exception:  # e.g. a full disk: log, keep going with the next job
                logger.exception("job %d could not be handled", job.id)

    def _keep(self, job: Job, outcome: Outcome) -> None:
        self.store.put_result(job.id, outcome.body)  # on disk before anything else
        if outcome.commit is not None:
            outcome.commit()

    async def _run_job(self, job: Job) -> None:
        if self.store.has_result(job.id):
            logger.info("job %d was already run; its result is waiting to be posted", job.id)
        else:
            self.store.start_job(job.id, job.raw())
            outcome = await self.executor.execute(job)
            self._keep(job, outcome)
            self.store.finish_job(job.id)
            for event in outcome.events:
                await self._post_event(event)
        body = self.store.pending_result(job.id)
        if body is not None:
            await self._deliver(job.id, body)

    async def _post_event(self, event: dict[str, Any]) -> None:
        try:
            await self.portal.post_event(event)
        except PortalError as exc:  # events are a courtesy: the next lock report has it too
            logger.info("event not delivered: %s", exc)

    # -- lock report ----------------------------------------------------------------------------

    async def report_locks(self) -> None:
        """POST /agent/v1/locks: the paired locks (status read now if the last one is older
        than `status_max_age`) and, with a scanner, unpaired Nuki devices nearby."""
        entries: list[dict[str, Any]] = []
        paired = self.store.list_locks()
        for record in paired:
            status = self.sessions.status.get(record.address)
            if status is None or time.monotonic() - status.observed_at > self.status_max_age:
                try:
                    status = await asyncio.wait_for(
                        self.sessions.refresh_status(record.address), self.status_timeout
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning("could not read the state of %s: %s", record.address, exc)
            entries.append(
                {
                    "address": record.address,
                    "nuki_id": record.nuki_id,
                    "name": record.name,
                    "paired": True,
                    "state": status.state if status else None,
                    "battery_percent": status.battery_percent if status else None,
                    "battery_critical": status.battery_critical if status else None,
                }
            )
        known = {record.address for record in paired}
        for found in await self._scan():
            if found.address in known:
                continue
            known.add(found.address)
            entries.append(
                {
                    "address": found.address,
                    "nuki_id": None,
                    "name": found.name,
                    "paired": False,
                    "state": None,
                    "battery_percent": None,
                    "battery_critical": None,
                }
            )
        await self.portal.report_locks(entries)

    async def _scan(self) -> list[Any]:
        if self.scanner is None:
            return []
        try:
            return await self.scanner()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # no adapter, adapter busy: report the paired locks anyway
            logger.warning("Bluetooth scan failed: %s", exc)
            return []
