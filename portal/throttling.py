"""Rate limits per organization (authenticated) on top of a per-IP limit for strangers.

Every count lives in Django's cache, which must be shared by every web process (Redis in
production, locked files under var/cache in `make run`: see portal.filecache): a cache of
each process's own would let every gunicorn worker count alone. Client addresses come from
`client_ip` only (portal.client_address explains when X-Forwarded-For is believed).
"""

from __future__ import annotations

import contextlib
import hashlib
from functools import lru_cache

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from portal.client_address import client_address, parse_networks
from portal.permissions import request_tenant


class CountedRateThrottle(SimpleRateThrottle):
    """DRF's rate throttle, counting with an atomic increment instead of a history.

    Why: SimpleRateThrottle keeps the time of every request in the window in one cache entry,
    reads it and writes it back: work that grows with the rate (6,000 timestamps a minute at the
    default API rate, on every request) and hits lost when two web processes interleave, so the
    limit lets more through than it says. This counts per fixed window with the cache's atomic
    increment (Redis INCR in production), as `rate_exceeded` below does for pages outside DRF.
    A fixed window can let up to twice the rate through around a window's edge: acceptable for
    what these limits guard (fair use, key guessing).
    """

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        counter = f"{self.key}:{window}"
        try:
            count = self.cache.incr(counter)  # the usual case: the window's counter exists
        except ValueError:  # the window's first request (two processes may both get here)
            self.cache.add(counter, 0, self.duration + 1)
            count = self.cache.incr(counter)
        allowed = count <= self.num_requests
        if not allowed:
            mark_refused(request)
        return allowed

    def wait(self) -> float:
        """Seconds until the window ends (DRF's Retry-After)."""
        return max(0.0, self.window_end - self.now)

    def get_ident(self, request) -> str:
        """The client's address by the portal's one rule (DRF's own believes any
        X-Forwarded-For a client sends, so a stranger could pick a fresh address per request)."""
        return client_ip(request)


class OrganizationThrottle(CountedRateThrottle):
    """Counted per organization; requests without a valid key are left to StrangerRateThrottle."""

    def get_cache_key(self, request, view):
        tenant = request_tenant(request)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.organization.pk}


class OrganizationRateThrottle(OrganizationThrottle):
    scope = "organization"


class StrangerRateThrottle(CountedRateThrottle):
    """Per-IP limit for requests that carry no valid credentials."""

    scope = "anon"

    def get_cache_key(self, request, view):
        if request_tenant(request) is not None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


_REFUSED = "latchkey_throttled"  # attribute of the Django request once a rate refused it


def mark_refused(request) -> None:
    """Note on the request that a rate limit refused it: DRF still asks the throttles after
    it, and the bulkhead (portal.bulkhead) then lets it through at once instead of making a
    request that will get 429 anyway wait for one of its organization's slots."""
    setattr(getattr(request, "_request", request), _REFUSED, True)


def refused(request) -> bool:
    return getattr(getattr(request, "_request", request), _REFUSED, False)


def note_failed_authentication(request) -> bool:
    """Count a failed API key per client IP; True when that IP should now be throttled."""
    throttle = StrangerRateThrottle()
    key = f"throttle_badkey_{throttle.get_ident(request)}"
    num, duration = throttle.parse_rate(throttle.get_rate())
    return count_hit(key, duration) > num


@lru_cache(maxsize=4)
def _networks(items: tuple[str, ...]) -> tuple:
    return parse_networks(items)


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For's rightmost untrusted entry when
    REMOTE_ADDR is one of LATCHKEY_TRUSTED_PROXIES. Throttles, audit records and logs all use
    this, so they agree on who a client is."""
    return client_address(
        remote_addr=request.META.get("REMOTE_ADDR"),
        forwarded_for=request.META.get("HTTP_X_FORWARDED_FOR"),
        trusted=_networks(tuple(settings.LATCHKEY_TRUSTED_PROXIES)),
    )


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/h' -> (10, 3600); the same notation as DRF's throttle rates."""
    num, _, period = rate.partition("/")
    return int(num), _PERIODS[period.strip()[:1]]


def rate_exceeded(*, key: str, rate: str) -> bool:
    """Count one hit for `key` in a fixed window; True once more than the rate allows.

    For pages outside DRF (the guest's stay page). Atomic with a shared cache (Redis), so
    several web processes count together.
    """
    num, duration = parse_rate(rate)
    return count_hit(f"ratelimit:{key}", duration) > num


def count_hit(key: str, seconds: int) -> int:
    """One more hit for `key` in a window of `seconds` from its first hit (atomic)."""
    from django.core.cache import cache

    cache.add(key, 0, seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, seconds)
        return 1


def _login_keys(request, username: str) -> tuple[str, str]:
    user = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"login-attempts:ip:{client_ip(request)}", f"login-attempts:user:{user}"


def login_attempt_allowed(*, request, username: str) -> bool:
    """Count a sign-in attempt per client address and per username; False once either has
    used up LATCHKEY_LOGIN_FAILURES_ALLOWED in the window (the caller answers 429).

    Why count before checking the password: check-then-count lets every request in flight
    pass the check before any of them is counted, so parallel guesses overshoot the limit.
    Counting first gives each attempt its own number; a successful sign-in hands its attempt
    back (`login_succeeded`), so the limit still counts failures. Per username too, so
    guesses spread over many addresses still meet a limit for the account.
    """
    limit = settings.LATCHKEY_LOGIN_FAILURES_ALLOWED
    window = settings.LATCHKEY_LOGIN_WINDOW_SECONDS
    by_address, by_user = _login_keys(request, username)
    over_address = count_hit(by_address, window) > limit
    over_user = count_hit(by_user, window) > limit
    return not (over_address or over_user)


def login_succeeded(*, request, username: str) -> None:
    """Hand back the attempt `login_attempt_allowed` counted: only failures use the limit."""
    from django.core.cache import cache

    for key in _login_keys(request, username):
        with contextlib.suppress(ValueError):  # the window ended meanwhile
            cache.decr(key)
