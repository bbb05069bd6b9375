"""The API's rate limits count with an atomic increment (see CountedRateThrottle)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIRequestFactory

from portal.throttling import CountedRateThrottle


class ThreePerMinute(CountedRateThrottle):
    rate = "3/min"

    def get_cache_key(self, request, view):
        return f"test-throttle:{request.META['REMOTE_ADDR']}"


def _request(ip: str):
    return APIRequestFactory().get("/api/v1/ping/", REMOTE_ADDR=ip)


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


def test_the_limit_holds_across_instances_as_across_processes():
    # A new instance per request, as DRF makes them; several web processes share the cache.
    answers = [ThreePerMinute().allow_request(_request("192.0.2.1"), None) for _ in range(5)]
    assert answers == [True, True, True, False, False]
    throttle = ThreePerMinute()
    assert throttle.allow_request(_request("192.0.2.1"), None) is False
    assert 0 < throttle.wait() <= 60  # Retry-After: until the window ends


def test_each_key_counts_on_its_own():
    for _ in range(3):
        assert ThreePerMinute().allow_request(_request("192.0.2.1"), None)
    assert ThreePerMinute().allow_request(_request("192.0.2.2"), None)


def test_the_cache_holds_a_count_not_a_history(monkeypatch):
    throttle = ThreePerMinute()
    monkeypatch.setattr(throttle, "timer", lambda: 1_000_000.0)
    throttle.allow_request(_request("192.0.2.9"), None)
    throttle.allow_request(_request("192.0.2.9"), None)
    window = int(1_000_000.0 // 60)
    assert cache.get(f"test-throttle:192.0.2.9:{window}") == 2


def test_a_new_window_starts_a_new_count(monkeypatch):
    now = [1_000_000.0]
    for _ in range(3):
        t = ThreePerMinute()
        monkeypatch.setattr(t, "timer", lambda: now[0])
        assert t.allow_request(_request("192.0.2.3"), None)
    t = ThreePerMinute()
    monkeypatch.setattr(t, "timer", lambda: now[0])
    assert not t.allow_request(_request("192.0.2.3"), None)
    now[0] += 60
    t = ThreePerMinute()
    monkeypatch.setattr(t, "timer", lambda: now[0])
    assert t.allow_request(_request("192.0.2.3"), None)
