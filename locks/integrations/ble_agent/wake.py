"""Waking an agent's long-poll without a thread waiting for it.

An agent's `GET /agent/v1/jobs?wait=30` is an async view (locks.integrations.ble_agent.api):
it claims jobs in a short database call, and when there are none it waits here, on the event
loop, holding no thread and no database connection. Two ways to wait:

- Redis (LATCHKEY_AGENT_WAKE_URL, the Redis cache by default): each agent has a wake list. A new
  AgentJob pushes to its agent's list once its transaction commits; a waiting poll's BLPOP
  returns at once and it claims the job. A list, unlike pub/sub, keeps a push made between the
  poll's database check and its BLPOP, so the check-then-wait order loses nothing.
- No Redis (make run's embedded defaults): the new job sets a wake key in the shared cache
  (make run's locked file cache) and the poll, sleeping between looks, reads that key every
  LATCHKEY_AGENT_POLL_FALLBACK_SECONDS: a file read, not a database query, so 50 idle agents
  cost little. The key is deleted before the claim that follows, and it is set only after the
  job committed, so a job is either found by that claim or sets the key again.

Either way a poll also re-checks the database every LATCHKEY_AGENT_POLL_RECHECK_SECONDS, for
what signals nobody (a job handed out again after a lost answer) and for a lost wake.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import weakref

import redis
import redis.asyncio
from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_save

from portal.aftercommit import after_commit

logger = logging.getLogger(__name__)

WAKE_TTL_SECONDS = 60  # a wake nobody took is stale after a poll's longest wait
_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()
# One asyncio client (and its connection pool) per event loop: a BLPOP holds a connection while
# it waits, and the next poll reuses it instead of connecting anew.
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _wake_key(agent_id: int) -> str:
    return f"latchkey:agent-wake:{agent_id}"


def _client(url: str) -> redis.Redis:
    with _clients_lock:
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(
                url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30
            )
        return _clients[url]


def agent_wake(*, agent_id: int) -> None:
    """Wake the agent's waiting long-poll (call after the job is committed). Best effort: a
    poll that misses it finds the job at its next database check."""
    url = settings.LATCHKEY_AGENT_WAKE_URL
    key = _wake_key(agent_id)
    if not url:
        cache.set(key, 1, timeout=WAKE_TTL_SECONDS)
        return
    try:
        pipe = _client(url).pipeline(transaction=False)
        pipe.lpush(key, 1).ltrim(key, 0, 0).expire(key, WAKE_TTL_SECONDS)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("Agent %s not woken (%s); its poll re-checks.", agent_id, type(exc).__name__)


def _job_saved(sender, instance, created: bool, **kwargs) -> None:
    """post_save of locks.AgentJob."""
    if created:
        agent_id = instance.agent_id
        after_commit(lambda: agent_wake(agent_id=agent_id), what=f"agent_wake({agent_id})")


def connect() -> None:
    """Wake an agent whenever a job is created for it (LocksConfig.ready). This module does
    not import the models (the sender is named lazily), so the app config imports it early."""
    post_save.connect(_job_saved, sender="locks.AgentJob", dispatch_uid="latchkey-agent-wake")


async def wake_wait(*, agent_id: int, timeout: float) -> bool:
    """Wait for a wake (True) or until min(`timeout`, LATCHKEY_AGENT_POLL_RECHECK_SECONDS) has
    passed (False), holding no thread while waiting. The caller claims from the database next.
    The re-check time is jittered (half to all of it): agents that reconnected together after a
    restart would otherwise all query the database in the same instant, every time."""
    recheck = settings.LATCHKEY_AGENT_POLL_RECHECK_SECONDS * random.uniform(0.5, 1.0)
    timeout = min(timeout, recheck)
    if timeout <= 0:
        return False
    url = settings.LATCHKEY_AGENT_WAKE_URL
    if not url:
        return await _cache_wait(_wake_key(agent_id), timeout)
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    if url not in per_loop:
        per_loop[url] = redis.asyncio.Redis.from_url(url, socket_connect_timeout=2)
    try:
        return await per_loop[url].blpop([_wake_key(agent_id)], timeout=timeout) is not None
    except redis.RedisError as exc:
        logger.warning("Agent poll wait on Redis failed (%s); re-checking.", type(exc).__name__)
        await asyncio.sleep(min(timeout, settings.LATCHKEY_AGENT_POLL_FALLBACK_SECONDS))
        return False


async def _cache_wait(key: str, timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        await asyncio.sleep(min(remaining, settings.LATCHKEY_AGENT_POLL_FALLBACK_SECONDS))
        if await cache.aget(key):
            await cache.adelete(key)  # before the claim that follows: see the module's notes
            return True
    return False
