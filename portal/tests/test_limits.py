"""Limits that hold (issue 12 item 6), in-process: who a client is (trusted proxies only), the
sign-in limits on both login pages, the page-size ceiling, idle sessions, masked log lines and
the shared file cache's atomic counting. The same across real gunicorn workers:
test_limits_live.py."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.test import Client
from gunicorn.config import Config
from rest_framework.test import APIClient

from portal.access_log import MaskingGunicornLogger
from portal.client_address import client_address, parse_networks
from portal.filecache import LockedFileCache
from portal.log_masking import MaskTokensFilter, mask
from portal.testing import ROOT
from portal.throttling import StrangerRateThrottle
from properties.services import property_create

TOKEN = "Zk3vQ9xWc1LrT8bN2mY5pA7sD4fG6hJ0kL_qE-uI9oP"  # the shape of a stay link token

# --- Client addresses --------------------------------------------------------------------------

PROXY = parse_networks(["10.0.0.2", "172.16.0.0/12"])


@pytest.mark.parametrize(
    ("remote", "xff", "trusted", "client"),
    [
        # No proxy configured: a client's own X-Forwarded-For is ignored (no spoofing).
        ("203.0.113.9", "1.2.3.4", (), "203.0.113.9"),
        # The peer is not a listed proxy: ignored too.
        ("203.0.113.9", "1.2.3.4", PROXY, "203.0.113.9"),
        # Behind the proxy: the address the proxy saw, not what the client wrote before it.
        ("10.0.0.2", "6.6.6.6, 198.51.100.4", PROXY, "198.51.100.4"),
        # Two trusted hops: the rightmost untrusted entry.
        ("10.0.0.2", "6.6.6.6, 198.51.100.4, 172.20.1.1", PROXY, "198.51.100.4"),
        # A trusted proxy with no header: the proxy itself.
        ("10.0.0.2", None, PROXY, "10.0.0.2"),
        # Garbage where a trusted proxy should have written an address: the peer.
        ("10.0.0.2", "6.6.6.6, not-an-ip", PROXY, "10.0.0.2"),
        ("::ffff:10.0.0.2", "198.51.100.4", PROXY, "198.51.100.4"),
    ],
)
def test_client_address_believes_forwarded_for_only_from_trusted_proxies(
    remote, xff, trusted, client
):
    assert client_address(remote_addr=remote, forwarded_for=xff, trusted=trusted) == client


def test_a_bad_trusted_proxy_entry_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"LATCHKEY_TRUSTED_PROXIES: 'proxy\.local'"):
        parse_networks(["10.0.0.1", "proxy.local"])


@pytest.mark.django_db
def test_a_stranger_cannot_dodge_the_api_limit_with_a_forwarded_for_header(
    throttle_window, monkeypatch
):
    # DRF's own get_ident believed any X-Forwarded-For: a new header, a new allowance.
    rates = {**StrangerRateThrottle.THROTTLE_RATES, "anon": "3/min"}
    monkeypatch.setattr(StrangerRateThrottle, "THROTTLE_RATES", rates)
    codes = [
        APIClient()
        .get(
            "/api/v1/properties/",
            HTTP_AUTHORIZATION="Bearer lk_bad_key",
            HTTP_X_FORWARDED_FOR=f"198.51.100.{i}",
        )
        .status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]


# --- Sign-in limits ----------------------------------------------------------------------------


def _login(path: str, username: str, password: str = "wrong", **extra):
    return Client(**extra).post(path, {"username": username, "password": password}).status_code


@pytest.fixture
def three_failures(settings):
    settings.LATCHKEY_LOGIN_FAILURES_ALLOWED = 3


@pytest.mark.django_db
def test_forwarded_for_from_a_client_does_not_reset_the_login_limit(world, three_failures):
    codes = [
        _login("/accounts/login/", f"x{i}@acme.test", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_counts_alone(world, three_failures, settings):
    settings.LATCHKEY_TRUSTED_PROXIES = ["10.0.0.2"]
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for i in range(4):
        _login("/accounts/login/", f"x{i}@acme.test", HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)
    assert (
        _login("/accounts/login/", "y@acme.test", HTTP_X_FORWARDED_FOR="198.51.100.1", **proxy)
        == 429
    )
    # Another client behind the same proxy is not locked out by the first one.
    res = Client(REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.2").post(
        "/accounts/login/", {"username": "member@acme.test", "password": "pw-member-1"}
    )
    assert res.status_code == 302


@pytest.mark.django_db
def test_a_username_is_limited_whatever_the_address(world, three_failures):
    codes = [
        _login("/accounts/login/", "member@acme.test", REMOTE_ADDR=f"198.51.100.{i}")
        for i in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    # The same (case-folded) account from yet another address: still 429; others are not.
    assert _login("/accounts/login/", "Member@Acme.test", REMOTE_ADDR="198.51.100.9") == 429
    assert _login("/accounts/login/", "owner@acme.test", REMOTE_ADDR="198.51.100.9") == 200


@pytest.mark.django_db
def test_successful_sign_ins_do_not_use_up_the_limit(world, three_failures):
    for _ in range(5):
        assert _login("/accounts/login/", "member@acme.test", "pw-member-1") == 302
    assert _login("/accounts/login/", "member@acme.test") == 200


@pytest.mark.django_db
def test_admin_login_is_limited_too_and_shares_the_count(world, three_failures):
    get_user_model().objects.create_superuser("root@acme.test", "root@acme.test", "pw-root-123")
    codes = [_login("/admin/login/", "root@acme.test") for _ in range(2)]
    codes.append(_login("/accounts/login/", "root@acme.test"))
    codes.append(_login("/admin/login/", "root@acme.test"))
    assert codes == [200, 200, 200, 429]
    # Even the right password waits out the window, on both pages.
    assert _login("/admin/login/", "root@acme.test", "pw-root-123") == 429
    assert Client().get("/admin/login/").status_code == 200  # the page itself still shows


@pytest.mark.django_db
def test_admin_login_still_signs_in(world, three_failures):
    get_user_model().objects.create_superuser("root@acme.test", "root@acme.test", "pw-root-123")
    client = Client()
    res = client.post(
        "/admin/login/?next=/admin/", {"username": "root@acme.test", "password": "pw-root-123"}
    )
    assert res.status_code == 302 and client.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_parallel_failures_cannot_overshoot_the_limit(world, three_failures):
    # Counted before the password is checked, so requests in flight each get their own number
    # (check-then-count let all of them pass the check first). Two counters (address and
    # username) may stop one more in a race: never fewer than one, never more than the limit.
    from django.db import connection

    def attempt(_):
        try:
            return _login("/accounts/login/", "x@acme.test")
        finally:
            connection.close()

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(attempt, range(8)))
    assert set(codes) == {200, 429} and 1 <= codes.count(200) <= 3, codes


# --- Page size ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_page_size_is_capped(world, settings):
    settings.LATCHKEY_API_MAX_LIMIT = 3
    for i in range(5):
        property_create(organization=world.org, name=f"P{i}", timezone="Europe/Vienna")
    body = world.api(world.read_key).get("/api/v1/properties/?limit=100000").json()
    assert body["count"] == 5 and len(body["results"]) == 3 and "offset=3" in body["next"]


# --- Idle sessions -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_session_ends_after_the_idle_time_and_activity_keeps_it(world, settings):
    settings.LATCHKEY_SESSION_IDLE_MINUTES = 30
    settings.SESSION_COOKIE_AGE = 30 * 60
    home = f"/o/{world.org.slug}/"
    start = dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC)
    client = Client()
    with time_machine.travel(start, tick=False) as clock:
        client.force_login(world.member)
        assert client.get(home).status_code == 200
        for _ in range(3):  # a request every 25 minutes: 75 minutes, still signed in
            clock.shift(dt.timedelta(minutes=25))
            assert client.get(home).status_code == 200
        clock.shift(dt.timedelta(minutes=31))  # 31 idle minutes: signed out on the server
        res = client.get(home)
    assert res.status_code == 302 and res["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_a_polling_tab_does_not_keep_an_idle_session(world, settings):
    settings.SESSION_COOKIE_AGE = 30 * 60
    home = f"/o/{world.org.slug}/"
    client = Client()
    with time_machine.travel(dt.datetime(2027, 1, 10, 9, 0, tzinfo=dt.UTC), tick=False) as clock:
        client.force_login(world.member)
        for _ in range(9):  # htmx polls the page's live parts for 27 minutes; nobody is there
            clock.shift(dt.timedelta(minutes=3))
            assert client.get(home, HTTP_HX_REQUEST="true").status_code == 200
        clock.shift(dt.timedelta(minutes=4))  # 31 minutes since the last real request
        assert client.get(home, HTTP_HX_REQUEST="true").status_code != 200


# --- Log masking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "masked"),
    [
        (f"GET /stay/{TOKEN}/ HTTP/1.1", "GET /stay/***/ HTTP/1.1"),
        (f"POST /stay/{TOKEN}/open/ HTTP/1.1", "POST /stay/***/open/ HTTP/1.1"),
        (f"/stay/{TOKEN}/opening/ab12/?lang=de", "/stay/***/opening/ab12/?lang=de"),
        (f"GET /invitations/{TOKEN}/", "GET /invitations/***/"),
        (f"POST /hooks/pms/{TOKEN}/ HTTP/1.1", "POST /hooks/pms/***/ HTTP/1.1"),
        (f"/hooks/nuki-web/{TOKEN}/", "/hooks/nuki-web/***/"),
        (f"/hooks/bridge/{TOKEN}/", "/hooks/bridge/***/"),
        ("/accounts/password/reset/MQ/cabc-123def/", "/accounts/password/reset/MQ/***/"),
        ("/accounts/password/reset/MQ/set-password/", "/accounts/password/reset/MQ/set-password/"),
        (
            "/integrations/nuki-web/callback/?code=s3cr3t&state=xyz",
            "/integrations/nuki-web/callback/?code=***&state=***",
        ),
        ("/api/v1/x/?token=abc&api_key=def&page=2", "/api/v1/x/?token=***&api_key=***&page=2"),
        ("redis://user:hunter2@cache:6379/1", "redis://***@cache:6379/1"),
        ("GET /api/v1/bookings/?limit=5 HTTP/1.1", "GET /api/v1/bookings/?limit=5 HTTP/1.1"),
    ],
)
def test_mask_hides_url_credentials(line, masked):
    assert mask(line) == masked


def test_django_log_lines_are_masked(caplog):
    logger = logging.getLogger("django.request")
    record = logger.makeRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "%s: %s",
        ("Not Found", f"/stay/{TOKEN}/"),
        None,
    )
    MaskTokensFilter().filter(record)
    assert record.getMessage() == "Not Found: /stay/***/"


def test_gunicorn_error_lines_are_masked():
    logger = MaskingGunicornLogger(Config())
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.error_log.addHandler(handler)
    try:
        logger.error("Error handling request %s", f"/stay/{TOKEN}/open/")
    finally:
        logger.error_log.removeHandler(handler)
    assert [r.getMessage() for r in records] == ["Error handling request /stay/***/open/"]


def test_the_settings_mask_every_console_log_line(settings):
    handler = settings.LOGGING["handlers"]["console"]
    assert "mask_tokens" in handler["filters"]
    assert settings.LOGGING["filters"]["mask_tokens"]["()"] == "portal.log_masking.MaskTokensFilter"


# --- The shared file cache ---------------------------------------------------------------------


HAMMER = """
import sys
from django.core.cache.backends.filebased import FileBasedCache
from portal.filecache import LockedFileCache
import time
cls = LockedFileCache if sys.argv[2] == "locked" else FileBasedCache
cache = cls(sys.argv[1], {})
while time.time() < float(sys.argv[3]):  # all four start together
    time.sleep(0.005)
for _ in range(150):
    cache.add("hits", 0, 60)
    cache.incr("hits")
"""


def _count_in_processes(location: str, backend: str) -> int:
    """Four fresh interpreters add 150 hits each to one counter at the same time."""
    start = str(time.time() + 4)
    procs = [
        subprocess.Popen([sys.executable, "-c", HAMMER, location, backend, start], cwd=ROOT)
        for _ in range(4)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0, 0, 0, 0]
    return LockedFileCache(location, {}).get("hits")


def test_the_file_cache_counts_every_hit_across_processes(tmp_path):
    assert _count_in_processes(str(tmp_path / "locked"), "locked") == 600


def test_django_file_cache_would_lose_hits(tmp_path):
    # Why portal.filecache exists: Django's own file cache reads, adds and writes back.
    assert _count_in_processes(str(tmp_path / "plain"), "plain") < 600


def test_file_cache_increments_keep_their_expiry(tmp_path):
    cache = LockedFileCache(str(tmp_path), {})
    with time_machine.travel(dt.datetime(2027, 1, 1, tzinfo=dt.UTC), tick=False) as clock:
        cache.add("k", 0, 60)
        clock.shift(dt.timedelta(seconds=50))
        assert cache.incr("k") == 1
        clock.shift(dt.timedelta(seconds=11))  # 61 s after add: the window is over
        assert cache.get("k") is None
        with pytest.raises(ValueError):
            cache.incr("k")


# --- Which cache: shared, or no start in production ----------------------------------------------


def settings_in_subprocess(**env: str | None) -> subprocess.CompletedProcess:
    import os
    import secrets

    base = {
        **os.environ,
        "LATCHKEY_ENV_FILE": "/nonexistent",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LATCHKEY_ENCRYPTION_KEY": secrets.token_urlsafe(32),
    }
    base.update(env)
    code = "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); " + code],
        cwd=ROOT,
        env={k: v for k, v in base.items() if v is not None},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("cache_url", [None, "locmemcache://", "dummycache://"])
def test_production_refuses_a_cache_each_process_keeps_alone(cache_url):
    result = settings_in_subprocess(LATCHKEY_PRODUCTION="true", CACHE_URL=cache_url)
    assert result.returncode != 0 and "Environment variable CACHE_URL" in result.stderr


def test_without_cache_url_the_demo_counts_in_the_shared_file_cache():
    result = settings_in_subprocess(LATCHKEY_PRODUCTION="false", CACHE_URL=None)
    assert result.stdout.strip() == "portal.filecache.LockedFileCache", result.stderr
    production = settings_in_subprocess(LATCHKEY_PRODUCTION="true")  # this run's Redis
    assert production.stdout.strip() == "portal.rediscache.SharedRedisCache", (
        production.stderr[-1500:]
    )
