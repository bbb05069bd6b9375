"""On-site agents: enrollment, the locks they report, and the jobs they fetch and answer.

The agent only ever calls out (HTTPS, long-poll), so a property needs no open port. Tokens
are random and stored as SHA-256 hashes; the enrollment token works once and expires."""

from __future__ import annotations

import contextlib
import datetime as dt
import secrets
import time
from collections.abc import Iterator

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from locks.drivers import AwaitingDevice, DriverError, LockFull
from locks.drivers.base import CommandContext
from locks.models import Agent, AgentJob, CommandStatus, Lock, LockCommand
from locks.sync.outbox import dispatch
from portal.models import Organization, hash_secret
from portal.services import ServiceError, alert_raise, alert_resolve

ENROLLMENT_TTL = dt.timedelta(days=7)
JOB_TIMEOUT_SECONDS = 45.0  # a direct (synchronous) job_run; commands use the setting below
JOB_RESEND_SECONDS = 15.0


class AgentJobFailed(DriverError):
    """The agent answered a job with an error; `code` is its machine-readable reason (the
    lock's error name such as K_ERROR_CODE_ALREADY_EXISTS, or the agent's own, such as
    CODE_NOT_FOUND), so the driver can tell a taken code from a missing one."""

    def __init__(self, reason: str, *, code: str = "", fix: str = "", permanent: bool = False):
        super().__init__(reason, fix=fix, permanent=permanent)
        self.code = code


class TooManyPolls(Exception):
    """The agent already holds LATCHKEY_AGENT_MAX_POLLS long-polls open."""


def _agents_over_cap(*, organization: Organization, exclude: int | None = None) -> str:
    """The plain error when the organization already has LATCHKEY_ORG_MAX_AGENTS agents, or "".
    Why a cap: any tenant can create agents, and each one costs the portal polls and jobs."""
    cap = settings.LATCHKEY_ORG_MAX_AGENTS
    Organization.objects.select_for_update().filter(pk=organization.pk).first()  # serialise
    agents = Agent.objects.filter(organization=organization)
    if exclude is not None:
        agents = agents.exclude(pk=exclude).filter(enrolled_at__isnull=False)
    count = agents.count()
    if count < cap:
        return ""
    return (
        f"This organization already has {count} on-site agents, the most allowed "
        f"(LATCHKEY_ORG_MAX_AGENTS = {cap}). Remove an agent you no longer use first."
    )


@transaction.atomic
def agent_create(*, organization: Organization, name: str) -> tuple[Agent, str]:
    """A new agent and its one-time enrollment token (shown once). ServiceError when the
    organization has as many agents as it may."""
    problem = _agents_over_cap(organization=organization)
    if problem:
        raise ServiceError(problem)
    token = "lke_" + secrets.token_urlsafe(24)
    agent = Agent.objects.create(
        organization=organization,
        name=name,
        enrollment_hash=hash_secret(token),
        enrollment_expires_at=timezone.now() + ENROLLMENT_TTL,
    )
    return agent, token


@transaction.atomic
def agent_enrollment_renew(*, agent: Agent) -> str:
    """A fresh one-time enrollment token for an existing agent (a replaced or reinstalled
    computer). The agent's current token stops working once the new one is used."""
    token = "lke_" + secrets.token_urlsafe(24)
    agent.enrollment_hash = hash_secret(token)
    agent.enrollment_expires_at = timezone.now() + ENROLLMENT_TTL
    agent.save(update_fields=["enrollment_hash", "enrollment_expires_at"])
    return token


@transaction.atomic
def agent_enroll(*, token: str, name: str = "") -> tuple[Agent, str] | None:
    """Trade an enrollment token for the agent's own token, once."""
    agent = (
        Agent.objects.select_for_update()
        .filter(enrollment_hash=hash_secret(token), enrollment_expires_at__gt=timezone.now())
        .first()
        if token
        else None
    )
    if agent is None:
        return None
    if agent.enrolled_at is None:  # a re-enrollment replaces an agent, it adds none
        problem = _agents_over_cap(organization=agent.organization, exclude=agent.pk)
        if problem:
            raise ServiceError(problem)
    raw = "lka_" + secrets.token_urlsafe(32)
    agent.token_hash = hash_secret(raw)
    agent.enrollment_hash = ""
    agent.enrolled_at = agent.last_seen_at = timezone.now()
    if name:
        agent.name = name[:80]
    agent.save()
    return agent, raw


def agent_for_token(raw: str) -> Agent | None:
    if not raw.startswith("lka_"):
        return None
    agent = Agent.objects.select_related("organization").filter(token_hash=hash_secret(raw)).first()
    if agent is not None:
        Agent.objects.filter(pk=agent.pk).update(last_seen_at=timezone.now())
    return agent


@transaction.atomic
def locks_report(*, agent: Agent, locks: list[dict]) -> list[Lock]:
    """Locks the agent discovered or paired appear as `ble_agent` locks, ready for a property."""
    from locks.drivers import LockStatus
    from locks.observed import lock_status_record

    result = []
    cap = settings.LATCHKEY_AGENT_MAX_LOCKS
    held = set(Lock.objects.filter(agent=agent).values_list("ble_address", flat=True))
    refused: list[str] = []
    for item in locks:
        address = str(item["address"])[:64]
        if address not in held:
            if len(held) >= cap:
                refused.append(address)  # not adopted: reported to the manager below
                continue
            held.add(address)
        lock, _ = Lock.objects.get_or_create(
            organization=agent.organization,
            driver="ble_agent",
            ble_address=address,
            defaults={"agent": agent, "name": str(item.get("name") or address)[:80]},
        )
        changed = []
        if lock.agent_id != agent.pk:
            lock.agent, changed = agent, [*changed, "agent"]
        nuki_id = item.get("nuki_id")
        if nuki_id is not None and lock.nuki_id != nuki_id:
            lock.nuki_id, changed = int(nuki_id), [*changed, "nuki_id"]
        paired = bool(item.get("paired"))
        if lock.config.get("paired") != paired:
            lock.config = {**lock.config, "paired": paired}
            changed.append("config")
        if changed:
            lock.save(update_fields=changed)
        if item.get("state"):
            lock_status_record(
                lock=lock,
                status=LockStatus(
                    state=str(item["state"]),
                    battery_percent=item.get("battery_percent"),
                    battery_critical=item.get("battery_critical"),
                ),
                source="agent",
            )
        result.append(lock)
    _report_lock_cap(agent=agent, refused=refused)
    return result


def _report_lock_cap(*, agent: Agent, refused: list[str]) -> None:
    """Locks over LATCHKEY_AGENT_MAX_LOCKS are not taken over: the manager is told which."""
    subject = f"agent:{agent.pk}"
    if not refused:
        alert_resolve(organization=agent.organization, kind="agent_locks_capped", subject=subject)
        return
    cap = settings.LATCHKEY_AGENT_MAX_LOCKS
    shown = ", ".join(refused[:10]) + (" …" if len(refused) > 10 else "")
    alert_raise(
        organization=agent.organization,
        kind="agent_locks_capped",
        subject=subject,
        code="agent_locks_capped",
        params={"agent": agent.name, "count": len(refused), "cap": cap, "shown": shown},
    )


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
        LockCommand.objects.select_for_update().filter(pk=command_id).first()
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
        seen = agent.last_seen_at.astimezone(dt.UTC).strftime("%d %b %Y, %H:%M:%S UTC")
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
