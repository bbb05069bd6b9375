"""Django's Redis cache with one connection pool per process instead of one per thread.

Why: Django keeps a cache object per thread, and its Redis client keeps its connection pool on
that object. Under ASGI (portal.asgi) every sync request runs in a thread of its own, so every
request built a new pool and opened a new TCP connection to Redis for its first cache call:
the API's rate throttle on every request. Under a neighbour's load that connect was the
largest wait of `GET /api/v1/ping/` (bench/noisy_neighbour.py, py-spy). redis-py's pool is
thread-safe and notices a fork, so one client per process and server serves every thread.

Its client (`OneTripRedisCacheClient`) also keeps one `redis.Redis` per pool, where Django builds
a new one (with its table of some 170 reply handlers) for every cache call, and counts with
`incr` in one round trip instead of two (Django asks EXISTS, then INCRBY). Every API request
counts a hit (portal.throttling), and under a neighbour's load each round trip is another wait
for Redis and then for the interpreter.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, RedisCacheClient] = {}
_clients_lock = threading.Lock()


# INCRBY only an existing key: Django's `incr` raises for a missing one (the caller then
# `add`s it with its timeout), and a bare INCRBY would create it without any.
INCR_EXISTING = (
    "if redis.call('exists', KEYS[1]) == 1 then "
    "return redis.call('incrby', KEYS[1], ARGV[1]) end return false"
)


class OneTripRedisCacheClient(RedisCacheClient):
    """Django's Redis cache client, one `redis.Redis` per connection pool, `incr` in one trip."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._redis_by_pool: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._redis_by_pool.get(id(pool))
        if client is None:  # two threads may both build one: either serves
            client = self._redis_by_pool[id(pool)] = self._client(connection_pool=pool)
        return client

    def incr(self, key, delta):
        value = self.get_client(key, write=True).eval(INCR_EXISTING, 1, key, delta)
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class SharedRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache`, its client shared by the process."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = OneTripRedisCacheClient  # Django sets its own here, per instance

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
