"""The request budgets (locks/budgets.py): the token bucket on the real Redis, shared with
another process, held by a Retry-After, the per-process fallback without Redis, and reading
Retry-After in both of its forms. Real time, in fractions of a second: nothing here depends on
the date or the hour."""

from __future__ import annotations

import datetime as dt
import email.utils
import os
import subprocess
import sys
import time
import uuid

import pytest

from locks import budgets
from locks.nuki.ratelimit import DEFAULT_RETRY_AFTER, MAX_RETRY_AFTER, retry_after_seconds
from portal.testing import ROOT


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex}"


@pytest.fixture(params=["redis", "local"])
def store(request, settings):
    """Each test runs against the Redis bucket and against the per-process fallback."""
    if request.param == "redis":
        if not settings.LATCHKEY_BUDGET_REDIS_URL:
            pytest.skip("no Redis configured (LATCHKEY_LOCK_REDIS_URL / CACHE_URL)")
    else:
        settings.LATCHKEY_BUDGET_REDIS_URL = ""
    return request.param


def test_a_burst_goes_at_once_then_one_per_interval(store, key):
    granted = [budgets.take(key=key, rate_per_minute=60, burst=3) for _ in range(3)]
    assert granted == [0.0, 0.0, 0.0]
    wait = budgets.take(key=key, rate_per_minute=60, burst=3)
    assert 0.5 < wait <= 1.0  # one token a second
    assert budgets.take(key=key, rate_per_minute=60, burst=3) > 0  # a refusal takes nothing


def test_a_short_wait_is_reserved_and_slept_not_refused(store, key):
    assert budgets.take(key=key, rate_per_minute=120, burst=1) == 0.0
    started = time.monotonic()
    assert budgets.take(key=key, rate_per_minute=120, burst=1, max_wait=1.0) == 0.0
    assert time.monotonic() - started >= 0.4  # slept for its reserved slot (0.5 s)
    # The slot it reserved is gone: the next one is another interval away.
    assert budgets.take(key=key, rate_per_minute=120, burst=1) > 0.3


def test_hold_closes_the_bucket_until_retry_after(store, key):
    assert budgets.hold(key=key, seconds=5) == pytest.approx(5, abs=0.2)
    wait = budgets.take(key=key, rate_per_minute=6000, burst=100)
    assert 4.5 < wait <= 5.0
    assert budgets.hold(key=key, seconds=1) > 4  # a shorter hold never shortens a longer one
    budgets.forget_all()
    assert budgets.take(key=key, rate_per_minute=6000, burst=100) == 0.0


def test_no_rate_means_no_budget(store, key):
    assert all(budgets.take(key=key, rate_per_minute=0, burst=1) == 0.0 for _ in range(50))


def test_unreachable_redis_lets_requests_through(settings, key):
    settings.LATCHKEY_BUDGET_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert budgets.take(key=key, rate_per_minute=1, burst=1) == 0.0
    assert budgets.take(key=key, rate_per_minute=1, burst=1) == 0.0


TAKE_ALL = """
import django, sys
django.setup()
from locks import budgets
key = sys.argv[1]
print(sum(budgets.take(key=key, rate_per_minute=6, burst=4) == 0.0 for _ in range(10)))
"""


def test_the_bucket_is_shared_with_another_process_through_redis(settings, key):
    """Another worker process drains the account's bucket; this process then gets nothing."""
    if not settings.LATCHKEY_BUDGET_REDIS_URL:
        pytest.skip("no Redis configured (LATCHKEY_LOCK_REDIS_URL / CACHE_URL)")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "LATCHKEY_BUDGET_REDIS_URL": settings.LATCHKEY_BUDGET_REDIS_URL,
    }
    out = subprocess.run(
        [sys.executable, "-c", TAKE_ALL, key],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip().splitlines()[-1] == "4"  # its burst, no more
    wait = budgets.take(key=key, rate_per_minute=6, burst=4)
    assert wait > 0  # one token every 10 s: nothing left for us


def test_threads_of_one_process_share_the_bucket(store, key):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(
            pool.map(lambda _: budgets.take(key=key, rate_per_minute=6, burst=5), range(40))
        )
    assert sum(r == 0.0 for r in results) == 5


def test_retry_after_in_seconds_and_as_an_http_date():
    now = 1_900_000_000.0
    assert retry_after_seconds("120", now=lambda: now) == 120.0
    date = email.utils.formatdate(now + 90, usegmt=True)
    assert retry_after_seconds(date, now=lambda: now) == pytest.approx(90, abs=1)
    past = email.utils.formatdate(now - 90, usegmt=True)
    assert retry_after_seconds(past, now=lambda: now) == 0.0
    assert retry_after_seconds(None) == DEFAULT_RETRY_AFTER
    assert retry_after_seconds("soon") == DEFAULT_RETRY_AFTER
    assert retry_after_seconds("-5") == 0.0
    assert retry_after_seconds(str(10 * 86400)) == MAX_RETRY_AFTER
    naive = dt.datetime.fromtimestamp(now + 30, dt.UTC).strftime("%a, %d %b %Y %H:%M:%S")
    assert retry_after_seconds(naive, now=lambda: now) == pytest.approx(30, abs=1)
