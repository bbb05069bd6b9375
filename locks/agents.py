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
from django.db.models import Q
from django.utils import timezone

from locks.drivers import DriverError, LockFull
from locks.models import Agent, AgentJob, Lock
from portal.models import Organization, hash_secret
from portal.services import ServiceError, alert_raise, alert_resolve

ENROLLMENT_TTL = dt.timedelta(days=7)
JOB_TIMEOUT_SECONDS = 45.0
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
        message=(
            f"The on-site agent “{agent.name}” reported {len(refused)} more locks than the "
            f"{cap} one agent may serve; they were not added: {shown}."
        ),
        fix="Unpair the locks this agent should not serve, or serve them with a second agent "
        "near them (LATCHKEY_AGENT_MAX_LOCKS is the cap).",
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
    resend = Q(
        status=AgentJob.Status.SENT,
        sent_at__lt=now - dt.timedelta(seconds=JOB_RESEND_SECONDS),
        created_at__gt=now - dt.timedelta(seconds=JOB_TIMEOUT_SECONDS),
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


def job_finish(*, agent: Agent, job_id: int, ok: bool, result: dict, error: dict) -> bool:
    status = AgentJob.Status.DONE if ok else AgentJob.Status.FAILED
    return bool(
        AgentJob.objects.filter(pk=job_id, agent=agent, status=AgentJob.Status.SENT).update(
            status=status,
            result=result if ok else None,
            error=None if ok else error,
            finished_at=timezone.now(),
        )
    )


def job_run(*, lock: Lock, kind: str, params: dict, timeout: float = JOB_TIMEOUT_SECONDS) -> dict:
    """Queue a job for the lock's agent and wait for its answer (called by the driver)."""
    if lock.agent_id is None:
        raise DriverError(
            "No on-site agent serves this lock.",
            fix="Check the agent near the door is running and has paired this lock.",
            permanent=True,
        )
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
        if job.status == AgentJob.Status.DONE:
            return job.result or {}
        if job.status == AgentJob.Status.FAILED:
            error = job.error or {}
            if error.get("code") == "K_ERROR_TOO_MANY_ENTRIES":
                raise LockFull()  # the portal makes room (ended codes) and tries again
            raise AgentJobFailed(
                str(error.get("message") or "The lock refused the command."),
                code=str(error.get("code") or ""),
                fix="" if error.get("permanent") else "Nothing to do: the portal retries.",
                permanent=bool(error.get("permanent")),
            )
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
