"""Rate limits per organization (authenticated) on top of a per-IP limit for strangers."""

from rest_framework.throttling import SimpleRateThrottle

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
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until the window ends (DRF's Retry-After)."""
        return max(0.0, self.window_end - self.now)


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


def note_failed_authentication(request) -> bool:
    """Count a failed API key per client IP; True when that IP should now be throttled."""
    throttle = StrangerRateThrottle()
    key = f"throttle_badkey_{throttle.get_ident(request)}"
    num, duration = throttle.parse_rate(throttle.get_rate())
    try:
        count = throttle.cache.incr(key)
    except ValueError:
        throttle.cache.set(key, 1, duration)
        count = 1
    return count > num


def client_ip(request) -> str:
    """The client's address as the web server saw it (a proxy in front sets REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "unknown")


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
    from django.core.cache import cache

    num, duration = parse_rate(rate)
    cache_key = f"ratelimit:{key}"
    cache.add(cache_key, 0, duration)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, duration)
        count = 1
    return count > num


def rate_reached(*, key: str, rate: str) -> bool:
    """True when `key` has already used up its rate (counts nothing)."""
    from django.core.cache import cache

    num, _ = parse_rate(rate)
    return (cache.get(f"ratelimit:{key}") or 0) >= num
