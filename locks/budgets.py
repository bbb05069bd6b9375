"""Request budgets for the clouds and devices the workers call: a token bucket per Nuki Web
account (connection) and per Nuki Bridge, shared by every worker process.

Why: every worker talks to the same few accounts and bridges. Nuki Web protects itself with a
rate limit per account (429 with Retry-After), and a bridge is a small device that serves one
request at a time. Without a shared budget, reconcile read-backs, log syncs and code writes of
many workers add up past those limits, and the 429s they earn slow everyone down. docs/budgets.md
gives the limits, the defaults and the calls per lock per hour they allow.

The bucket is GCRA (the generic cell rate algorithm, a token bucket kept as one number: the
theoretical arrival time of the next request), so any window of T seconds sees at most
`burst + T * rate` requests. With Redis (LATCHKEY_BUDGET_REDIS_URL; by default the lock, cache or
broker Redis) one Lua script reads and moves it atomically, on Redis's own clock, so every
worker and every machine draws from the same bucket. Without Redis (`make run`'s embedded
defaults, the SQLite tests) each process keeps its own buckets: `make run` has one worker
process, and production has Redis. A Redis that cannot be reached lets requests through (the
cloud's own 429, held here, is the backstop): a cache outage must not stop doors.

`take()` answers 0.0 when a request may go now, else the seconds until one may; a wait of up to
`max_wait` is reserved and slept here instead, so a worker does not give up its command for a
fraction of a second. `hold()` closes a bucket until a Retry-After has passed.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

PREFIX = "latchkey:budget:"

# KEYS[1] the bucket's theoretical arrival time, KEYS[2] held until (a Retry-After), both as
# seconds on Redis's clock; ARGV interval (s per request), burst, max_wait (s).
# Returns {granted 0|1, wait in seconds as a string} (Lua numbers would be cut to integers).
_TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held > now then return {0, tostring(held - now)} end
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local wait = next_tat - burst * interval - now
if wait > tonumber(ARGV[3]) then return {0, tostring(wait)} end
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - now) * 1000) + 1000)
if wait < 0 then wait = 0 end
return {1, tostring(wait)}
"""

# KEYS[1] held until; ARGV seconds. Never shortens a hold already longer. Returns the hold left.
_HOLD_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_at = now + tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_at > held then
  redis.call('SET', KEYS[1], tostring(until_at), 'PX', math.ceil(tonumber(ARGV[1]) * 1000) + 1000)
  held = until_at
end
return tostring(held - now)
"""


class _LocalBuckets:
    """The same algorithm for one process (no Redis configured), on the monotonic clock."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._tat: dict[str, float] = {}
        self._held: dict[str, float] = {}

    def take(self, key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
        with self._guard:
            now = time.monotonic()
            held = self._held.get(key, 0.0)
            if held > now:
                return False, held - now
            tat = max(self._tat.get(key, 0.0), now)
            wait = tat + interval - burst * interval - now
            if wait > max_wait:
                return False, wait
            self._tat[key] = tat + interval
            return True, max(0.0, wait)

    def hold(self, key: str, seconds: float) -> float:
        with self._guard:
            now = time.monotonic()
            held = max(self._held.get(key, 0.0), now + seconds)
            self._held[key] = held
            return held - now

    def clear(self) -> None:
        with self._guard:
            self._tat.clear()
            self._held.clear()


_local = _LocalBuckets()


def redis_url() -> str:
    return settings.LATCHKEY_BUDGET_REDIS_URL


@functools.cache
def _scripts(url: str):
    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    return client, client.register_script(_TAKE_LUA), client.register_script(_HOLD_LUA)


def _take_once(key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
    url = redis_url()
    if not url:
        return _local.take(key, interval, burst, max_wait)
    try:
        _, take_script, _ = _scripts(url)
        granted, wait = take_script(
            keys=[PREFIX + key, PREFIX + key + ":held"], args=[interval, burst, max_wait]
        )
    except redis.RedisError as exc:
        logger.warning("budget %s: Redis unreachable, request let through (%s)", key, exc)
        return True, 0.0
    return bool(int(granted)), float(wait)


def take(*, key: str, rate_per_minute: float, burst: int, max_wait: float = 0.0) -> float:
    """One request from the bucket `key`: 0.0 when it may go now (after sleeping a reserved
    wait of at most `max_wait`), else the seconds until one may (nothing was taken).
    A rate of 0 or less means no budget."""
    if rate_per_minute <= 0:
        return 0.0
    interval = 60.0 / rate_per_minute
    granted, wait = _take_once(key, interval, max(1, int(burst)), max(0.0, max_wait))
    if not granted:
        return max(wait, 0.001)
    if wait > 0:
        time.sleep(wait)
    return 0.0


def hold(*, key: str, seconds: float) -> float:
    """Close the bucket `key` for `seconds` (a 429's Retry-After): every worker's `take` answers
    the time left until then. A longer hold already in place is kept. Returns the hold left."""
    seconds = max(0.0, float(seconds))
    url = redis_url()
    if not url:
        return _local.hold(key, seconds)
    try:
        _, _, hold_script = _scripts(url)
        return float(hold_script(keys=[PREFIX + key + ":held"], args=[seconds]))
    except redis.RedisError as exc:
        logger.warning("budget %s: Redis unreachable, hold not shared (%s)", key, exc)
        return _local.hold(key, seconds)


def forget_all() -> None:
    """Empty every bucket and lift every hold (tests and benchmarks start from full buckets)."""
    url = redis_url()
    if url:
        client, _, _ = _scripts(url)
        keys = list(client.scan_iter(match=PREFIX + "*", count=1000))
        if keys:
            client.delete(*keys)
    _local.clear()


@dataclass(frozen=True)
class Budget:
    """The budget of one account or device, as the protocol clients take it (they know no
    Django): `take()` before every request, `hold(seconds)` on a 429."""

    key: str
    rate_per_minute: float
    burst: int
    max_wait: float

    def take(self) -> float:
        return take(
            key=self.key,
            rate_per_minute=self.rate_per_minute,
            burst=self.burst,
            max_wait=self.max_wait,
        )

    def hold(self, seconds: float) -> float:
        return hold(key=self.key, seconds=seconds)


def nuki_web_budget(*, connection_id: int) -> Budget:
    """The budget of one Nuki Web account (every lock and call of the connection)."""
    return Budget(
        key=f"nukiweb:{connection_id}",
        rate_per_minute=settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE,
        burst=settings.LATCHKEY_NUKI_WEB_BURST,
        max_wait=settings.LATCHKEY_BUDGET_MAX_WAIT_SECONDS,
    )


def bridge_budget(*, host: str, port: int) -> Budget:
    """The budget of one bridge, by its address (as its one-request-at-a-time lock)."""
    return Budget(
        key=f"bridge:{host}:{port}",
        rate_per_minute=settings.LATCHKEY_BRIDGE_RATE_PER_MINUTE,
        burst=settings.LATCHKEY_BRIDGE_BURST,
        max_wait=settings.LATCHKEY_BUDGET_MAX_WAIT_SECONDS,
    )


def calls_per_hour(*, rate_per_minute: float, burst: int) -> int:
    """The most requests one bucket lets through in an hour (documentation and benches)."""
    return math.floor(rate_per_minute * 60) + int(burst)
