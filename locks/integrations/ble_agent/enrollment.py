"""On-site agents: enrollment and the locks they report.

The agent only ever calls out (HTTPS, long-poll), so a property needs no open port. Tokens
are random and stored as SHA-256 hashes; the enrollment token works once and expires."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from locks.integrations.base import LockStatus
from locks.models import Agent, Lock
from locks.observed import lock_status_record
from portal.models import Organization, hash_secret
from portal.services import ServiceError, alert_raise, alert_resolve

ENROLLMENT_TTL = dt.timedelta(days=7)


def _agents_over_cap(*, organization: Organization, exclude: int | None = None) -> str:
    """The plain error when the organization already has LATCHKEY_ORG_MAX_AGENTS agents, or "".
    Why a cap: any tenant can create agents, and each one costs the portal polls and jobs."""
    cap = settings.LATCHKEY_ORG_MAX_AGENTS
    # serialise (FOR NO KEY UPDATE: rows pointing at the organization still commit meanwhile)
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
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
        Agent.objects.select_for_update(no_key=True)
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
