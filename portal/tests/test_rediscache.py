"""The Redis cache opens connections per process, not per request thread (portal.rediscache).

Against the Redis server on this machine (the one the suite's broker uses)."""

from __future__ import annotations

import os
import threading

from django.core.cache.backends.redis import RedisCache

from portal.rediscache import SharedRedisCache
from portal.tests.test_limits import settings_in_subprocess

REDIS = os.environ.get("LATCHKEY_TEST_REDIS", "redis://127.0.0.1:6379/3")


def _in_threads(cache_class, threads: int = 20) -> tuple[set[int], int]:
    """One fresh cache object per thread (as Django gives each request thread), one call
    each: the distinct clients and the connections their pools opened."""
    clients, done = [], []

    def request(n: int) -> None:
        cache = cache_class(REDIS, {"KEY_PREFIX": "rediscache-test"})
        cache.set(f"k{n}", n, timeout=30)
        done.append(cache.get(f"k{n}"))
        clients.append(cache._cache)

    for n in range(threads):  # one after the other, like requests on a quiet server
        thread = threading.Thread(target=request, args=(n,))
        thread.start()
        thread.join()
    assert sorted(done) == list(range(threads))
    opened = sum(
        pool._created_connections  # redis-py's own count
        for client in {id(c): c for c in clients}.values()
        for pool in client._pools.values()
    )
    return {id(c) for c in clients}, opened


def test_request_threads_share_one_client_and_its_connections():
    clients, opened = _in_threads(SharedRedisCache)
    assert len(clients) == 1
    assert opened == 1


def test_djangos_own_backend_opens_a_connection_per_thread():
    """What the shared client saves: the comparison that makes the test above mean something."""
    clients, opened = _in_threads(RedisCache)
    assert len(clients) == 20 and opened == 20


def test_a_redis_cache_url_uses_the_shared_backend():
    """Settings read in a fresh process, as a server starts, with CACHE_URL naming Redis."""
    shown = settings_in_subprocess(
        LATCHKEY_PRODUCTION="false", CACHE_URL="redis://127.0.0.1:6379/1"
    ).stdout.split()
    assert shown[-1] == "portal.rediscache.SharedRedisCache"


def _round_trips(cache) -> list[str]:
    """The commands the cache's client sends, one entry per round trip."""
    client = cache._cache.get_client(write=True)
    sent: list[str] = []
    real = client.execute_command

    def counted(*args, **options):
        sent.append(str(args[0]))
        return real(*args, **options)

    client.execute_command = counted
    return sent


def test_incr_is_one_round_trip_and_keeps_djangos_contract():
    cache = SharedRedisCache(REDIS, {"KEY_PREFIX": "rediscache-incr"})
    cache.delete("hits")
    sent = _round_trips(cache)
    try:
        cache.incr("hits")
        raise AssertionError("a missing key must raise, as Django's incr does")
    except ValueError:
        pass
    assert cache.get("hits") is None  # and nothing was created (it would have no timeout)
    cache.add("hits", 0, timeout=30)
    sent.clear()
    assert [cache.incr("hits"), cache.incr("hits", 5)] == [1, 6]
    assert len(sent) == 2  # one round trip each (Django's own: EXISTS, then INCRBY)
    assert 0 < cache._cache.get_client().ttl(cache.make_and_validate_key("hits")) <= 30
    assert cache._cache.get_client() is cache._cache.get_client()  # one redis.Redis, kept
