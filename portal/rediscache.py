"""Django's Redis cache with one connection pool per process instead of one per thread.

Why: Django keeps a cache object per thread, and its Redis client keeps its connection pool on
that object. Under ASGI (portal.asgi) every sync request runs in a thread of its own, so every
request built a new pool and opened a new TCP connection to Redis for its first cache call:
the API's rate throttle on every request. Under a neighbour's load that connect was the
largest wait of `GET /api/v1/ping/` (bench/noisy_neighbour.py, py-spy). redis-py's pool is
thread-safe and notices a fork, so one client per process and server serves every thread.
"""

from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, RedisCacheClient] = {}
_clients_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache`, its client shared by the process."""

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
