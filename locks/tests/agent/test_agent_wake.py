"""A new job wakes its agent's long-poll only once it is committed (a poll woken earlier would
find nothing and wait again), only that agent's, and a wake pushed before the poll starts to
wait is not lost (the check-then-wait order of locks.integrations.ble_agent.api)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
import redis
from django.core.cache import cache
from django.db import transaction

from locks.integrations.ble_agent.enrollment import agent_create
from locks.integrations.ble_agent.wake import wake_wait
from locks.models import AgentJob, Lock

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _wake_key(agent_id: int) -> str:
    return f"latchkey:agent-wake:{agent_id}"


@pytest.fixture
def agents(world):
    mine, _ = agent_create(organization=world.org, name="Ours")
    theirs, _ = agent_create(organization=world.other_org, name="Theirs")
    lock = Lock.objects.create(
        organization=world.org, name="Door", driver="ble_agent", agent=mine, ble_address="AA:01"
    )
    return mine, theirs, lock


def _job(agent, lock) -> AgentJob:
    return AgentJob.objects.create(
        organization_id=lock.organization_id, agent=agent, lock=lock, kind="lock_state"
    )


def test_with_redis_the_wake_is_pushed_after_commit_and_for_that_agent_only(agents, settings):
    settings.LATCHKEY_AGENT_WAKE_URL = os.environ["CACHE_URL"]
    mine, theirs, lock = agents
    r = redis.Redis.from_url(settings.LATCHKEY_AGENT_WAKE_URL)
    r.delete(_wake_key(mine.pk), _wake_key(theirs.pk))
    with transaction.atomic():
        _job(mine, lock)
        assert r.llen(_wake_key(mine.pk)) == 0  # not yet: a woken poll would find nothing
    assert r.llen(_wake_key(mine.pk)) == 1
    assert r.llen(_wake_key(theirs.pk)) == 0
    # Pushed before the poll waits: BLPOP takes it at once.
    started = time.monotonic()
    assert asyncio.run(wake_wait(agent_id=mine.pk, timeout=5)) is True
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    assert asyncio.run(wake_wait(agent_id=theirs.pk, timeout=0.3)) is False
    assert time.monotonic() - started >= 0.3


def test_without_redis_the_wake_is_a_cache_key_set_after_commit(agents, settings, tmp_path):
    settings.LATCHKEY_AGENT_WAKE_URL = ""
    settings.CACHES = {
        "default": {"BACKEND": "portal.filecache.LockedFileCache", "LOCATION": str(tmp_path)}
    }
    settings.LATCHKEY_AGENT_POLL_FALLBACK_SECONDS = 0.1
    mine, theirs, lock = agents
    with transaction.atomic():
        _job(mine, lock)
        assert cache.get(_wake_key(mine.pk)) is None
    assert cache.get(_wake_key(mine.pk)) == 1
    assert cache.get(_wake_key(theirs.pk)) is None
    started = time.monotonic()
    assert asyncio.run(wake_wait(agent_id=mine.pk, timeout=5)) is True
    assert time.monotonic() - started < 0.5
    assert cache.get(_wake_key(mine.pk)) is None  # taken: the claim that follows finds the job
    assert asyncio.run(wake_wait(agent_id=theirs.pk, timeout=0.3)) is False
