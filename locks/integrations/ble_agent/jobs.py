"""On-site agents' jobs: what a driver call hands to the agent, the agent's long-poll that
fetches them, its answers, and the command that waits for them without holding a worker."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from locks.integrations.base import AwaitingDevice, CommandContext, DriverError, LockFull
from locks.models import Agent, AgentJob, CommandStatus, Lock, LockCommand
from locks.sync.commands import dispatch
from portal.times import local_stamp

JOB_TIMEOUT_SECONDS = 45.0  # a direct (synchronous) job_run; commands use the setting below
JOB_RESEND_SECONDS = 15.0
MAX_POLL_WAIT_SECONDS = 30.0  # the longest long-poll an agent may ask for (agent_api)


class AgentJobFailed(DriverError):
    """The agent answered a job with an error; `code` is its machine-readable reason (the
    lock's error name such as K_ERROR_CODE_ALREADY_EXISTS, or the agent's own, such as
    CODE_NOT_FOUND), so the driver can tell a taken code from a missing one."""

    def __init__(self, reason: str, *, code: str = "", fix: str = "", permanent: bool = False):
        super().__init__(reason, fix=fix, permanent=permanent)
        self.code = code


class TooManyPolls(Exception):
    """The agent already holds LATCHKEY_AGENT_MAX_POLLS long-polls open."""


@contextlib.contextmanager
def poll_slot(*, agent: Agent, wait: float) -> Iterator[None]:
    """Hold one of the agent's LATCHKEY_AGENT_MAX_POLLS long-poll slots while it waits, or
    raise TooManyPolls. Each slot is a key in the shared cache that expires a little after the
    longest wait, so a poll whose process crashed frees its slot by itself."""
    ttl = 45  # a poll waits 30 s at most (jobs_wait), whatever it asked for
    for slot in range(settings.LATCHKEY_AGENT_MAX_POLLS):
        key = f"latchkey:agent-poll:{agent.pk}:{slot}"
        if cache.add(key, 1, timeout=ttl):
            try:
                yield
            finally:
                cache.delete(key)
            return
    raise TooManyPolls(
        f"This agent already has {settings.LATCHKEY_AGENT_MAX_POLLS} job polls open, the most "
        "allowed (LATCHKEY_AGENT_MAX_POLLS); wait for one to answer before polling again."
    )


def _offerable(agent: Agent):
    """Jobs to hand out: pending ones, and ones handed out `JOB_RESEND_SECONDS` ago without a
    result while the driver still waits for them: the answer to that long-poll may have been
    lost on the way (a connection cut mid-response). Handing one out again is safe: the agent
    keeps a result it could not post and posts it instead of running the job twice, and it
    finishes a job cut short by a crash from its journal before it polls."""
    now = timezone.now()
    awaited = Q(deadline_at__gt=now) | Q(
        deadline_at__isnull=True, created_at__gt=now - dt.timedelta(seconds=JOB_TIMEOUT_SECONDS)
    )
    resend = Q(
        awaited,
        status=AgentJob.Status.SENT,
        sent_at__lt=now - dt.timedelta(seconds=JOB_RESEND_SECONDS),
    )
    return AgentJob.objects.filter(Q(status=AgentJob.Status.PENDING) | resend, agent=agent)


def jobs_wait(*, agent: Agent, wait: float, poll: float = 0.25, limit: int = 10) -> list[AgentJob]:
    """Long-poll: hand out jobs (claimed with a conditional update) or wait for some."""
    deadline = time.monotonic() + max(0.0, min(wait, 30.0))
    while True:
        ids = list(
            _offerable(agent).order_by("created_at", "pk").values_list("pk", flat=True)[:limit]
        )
        claimed = []
        for pk in ids:
            taken = (
                _offerable(agent)
                .filter(pk=pk)
                .update(status=AgentJob.Status.SENT, sent_at=timezone.now())
            )
            if taken:
                claimed.append(pk)
        if claimed or time.monotonic() >= deadline:
            return list(
                AgentJob.objects.filter(pk__in=claimed).select_related("lock").order_by("pk")
            )
        time.sleep(poll)


@transaction.atomic
def job_finish(*, agent: Agent, job_id: int, ok: bool, result: dict, error: dict) -> bool:
    """Record the agent's answer once (a repeated post finds the job no longer `sent` and
    changes nothing). When a command waits for exactly this job, it is resumed: the runner
    replays the command with the answer, the same path a synchronous answer took.

    The waiting command's row is locked first, the order `_park` uses too, so an answer that
    arrives while the runner is still parking the command is never missed."""
    command_id = (
        AgentJob.objects.filter(pk=job_id, agent=agent).values_list("command_id", flat=True).first()
    )
    if command_id is not None:
        LockCommand.objects.select_for_update(no_key=True).filter(pk=command_id).first()
    status = AgentJob.Status.DONE if ok else AgentJob.Status.FAILED
    finished = AgentJob.objects.filter(pk=job_id, agent=agent, status=AgentJob.Status.SENT).update(
        status=status,
        result=result if ok else None,
        error=None if ok else error,
        finished_at=timezone.now(),
    )
    if finished and command_id is not None:
        job = AgentJob.objects.only("command_id", "attempt").get(pk=job_id)
        command_resume(job=job)
    return bool(finished)


def command_resume(*, job: AgentJob) -> bool:
    """Put the command that waits for `job` back in the queue, now. Only the attempt that
    asked: an answer to a job of an earlier attempt (late, after the sweep retried) is kept
    in the journal but resumes nothing. The claim counts an attempt, a resume is none: the
    count is taken back here so the replay finds its own attempt's journal."""
    resumed = LockCommand.objects.filter(
        pk=job.command_id, status=CommandStatus.WAITING, attempts=job.attempt
    ).update(
        status=CommandStatus.PENDING,
        next_attempt_at=timezone.now(),
        lease_until=None,
        attempts=F("attempts") - 1,
    )
    if resumed:
        dispatch(job.command_id)
    return bool(resumed)


def command_park(*, command: LockCommand, claimed_at, deadline: dt.datetime) -> bool:
    """The runner's side of a handed-out job: the running command becomes `waiting` until
    `deadline`, unless the answer already came (a fast agent), then it is resumed at once."""
    with transaction.atomic():
        parked = LockCommand.objects.filter(
            pk=command.pk, status=CommandStatus.RUNNING, claimed_at=claimed_at
        ).update(status=CommandStatus.WAITING, lease_until=deadline)
        if not parked:
            return False
        answered = (
            AgentJob.objects.filter(
                command_id=command.pk,
                attempt=command.attempts,
                status__in=[AgentJob.Status.DONE, AgentJob.Status.FAILED],
            )
            .order_by("-step")
            .first()
        )
        if answered is not None and not _later_step_exists(answered):
            command_resume(job=answered)
    return True


def _later_step_exists(job: AgentJob) -> bool:
    return AgentJob.objects.filter(
        command_id=job.command_id, attempt=job.attempt, step__gt=job.step
    ).exists()


def _outcome(job: AgentJob) -> dict:
    """A finished job's result, or the error the driver expects for its failure."""
    if job.status == AgentJob.Status.DONE:
        return job.result or {}
    error = job.error or {}
    if error.get("code") == "K_ERROR_TOO_MANY_ENTRIES":
        raise LockFull()  # the portal makes room (ended codes) and tries again
    raise AgentJobFailed(
        str(error.get("message") or "The lock refused the command."),
        code=str(error.get("code") or ""),
        fix="" if error.get("permanent") else "Nothing to do: the portal retries.",
        permanent=bool(error.get("permanent")),
    )


def _no_agent() -> DriverError:
    return DriverError(
        "No on-site agent serves this lock.",
        fix="Check the agent near the door is running and has paired this lock.",
        permanent=True,
    )


def job_step(*, lock: Lock, kind: str, params: dict, context: CommandContext) -> dict:
    """One agent step of a running command, without waiting: the answer from the journal when
    this step was answered already (a resumed run), else the job is handed to the agent and
    AwaitingDevice parks the command until the answer (or its deadline) comes.

    A step whose journal entry asked for something else (the desired state changed between
    two runs) starts the command over as a fresh attempt: the retry reads the lock first."""
    if lock.agent_id is None:
        raise _no_agent()
    command = context.command
    context.steps += 1
    step = context.steps
    job = AgentJob.objects.filter(command=command, attempt=command.attempts, step=step).first()
    if job is not None:
        if job.kind != kind or job.params != params:
            AgentJob.objects.filter(
                command=command, attempt=command.attempts, status=AgentJob.Status.PENDING
            ).update(status=AgentJob.Status.CANCELLED)
            raise DriverError(
                "The change was edited while the on-site agent worked on it.",
                fix="Nothing to do: the portal starts it again.",
            )
        if job.status in (AgentJob.Status.DONE, AgentJob.Status.FAILED):
            return _outcome(job)
        if job.status == AgentJob.Status.CANCELLED:
            raise DriverError(
                "The on-site agent did not answer in time.",
                fix="Check that the agent near the door is running and online; the portal retries.",
            )
        raise AwaitingDevice(deadline=job.deadline_at or timezone.now())
    if _silent_for_long(lock.agent_id):
        raise agent_silent_error(command=command)
    if step == 1:  # an earlier attempt's jobs not yet fetched must not run after this one's
        AgentJob.objects.filter(
            command=command, attempt__lt=command.attempts, status=AgentJob.Status.PENDING
        ).update(status=AgentJob.Status.CANCELLED)
    deadline = timezone.now() + dt.timedelta(seconds=settings.LATCHKEY_AGENT_JOB_DEADLINE_SECONDS)
    AgentJob.objects.create(
        organization_id=lock.organization_id,
        agent_id=lock.agent_id,
        lock=lock,
        command=command,
        attempt=command.attempts,
        step=step,
        deadline_at=deadline,
        kind=kind,
        params=params,
    )
    raise AwaitingDevice(deadline=deadline)


def _silent_for_long(agent_id: int) -> bool:
    """The agent has not polled for longer than a poll lasts plus a job's deadline: a job
    handed to it now would only wait out its deadline too. The command fails this attempt at
    once (retried with backoff, then failed in plain words), so a silent agent's backlog
    drains in seconds instead of holding each of its locks for a deadline per command."""
    silent_after = dt.timedelta(
        seconds=MAX_POLL_WAIT_SECONDS + settings.LATCHKEY_AGENT_JOB_DEADLINE_SECONDS
    )
    return Agent.objects.filter(
        pk=agent_id, last_seen_at__lt=timezone.now() - silent_after
    ).exists()


def agent_silent_error(*, command: LockCommand) -> DriverError:
    """The plain-words error for a command whose agent did not answer by the deadline. Its
    jobs not yet fetched are withdrawn so they cannot run late (one the agent already has may
    still be answered: the journal keeps that answer, and the retry reads the lock first)."""
    AgentJob.objects.filter(command=command, status=AgentJob.Status.PENDING).update(
        status=AgentJob.Status.CANCELLED
    )
    agent = Agent.objects.filter(pk=command.lock.agent_id).first()
    if agent is None:
        return _no_agent()
    if agent.last_seen_at is None:
        heard = f"The on-site agent “{agent.name}” has never been heard from."
    else:
        lock = command.lock  # the reader's zone: the property's, else the organization's
        where = lock.property.timezone if lock.property_id else lock.organization.timezone
        seen = local_stamp(agent.last_seen_at, where)
        heard = f"The on-site agent “{agent.name}” has not been heard from since {seen}."
    return DriverError(
        heard,
        fix="Check that the computer running the agent near the door is on, online and "
        "running the agent; the portal retries.",
        detail=f"agent {agent.pk} did not answer within "
        f"{settings.LATCHKEY_AGENT_JOB_DEADLINE_SECONDS:g} s",
    )


def job_run(*, lock: Lock, kind: str, params: dict, timeout: float = JOB_TIMEOUT_SECONDS) -> dict:
    """Queue a job for the lock's agent and wait for its answer: only for a direct driver call
    outside any command (the command-line tools and tests). Commands never wait: `job_step`."""
    if lock.agent_id is None:
        raise _no_agent()
    job = AgentJob.objects.create(
        organization_id=lock.organization_id,
        agent_id=lock.agent_id,
        lock=lock,
        kind=kind,
        params=params,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db(fields=["status", "result", "error"])
        if job.status in (AgentJob.Status.DONE, AgentJob.Status.FAILED):
            return _outcome(job)
        time.sleep(0.2)
    # Not fetched yet: withdraw it so it cannot run late. (If the agent has it, the retry's
    # read-back finds what it did.)
    AgentJob.objects.filter(pk=job.pk, status=AgentJob.Status.PENDING).update(
        status=AgentJob.Status.CANCELLED
    )
    raise DriverError(
        "The on-site agent did not answer in time.",
        fix="Check that the agent near the door is running and online; the portal retries.",
    )
