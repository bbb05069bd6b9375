"""Rate limits per organization (authenticated) on top of DRF's per-IP anonymous limit."""

from rest_framework.throttling import SimpleRateThrottle

from portal.permissions import request_tenant


class OrganizationRateThrottle(SimpleRateThrottle):
    scope = "organization"

    def get_cache_key(self, request, view):
        tenant = request_tenant(request)
        if tenant is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": tenant.organization.pk}


class StrangerRateThrottle(SimpleRateThrottle):
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
