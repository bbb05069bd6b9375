"""The PMS webhook endpoint: /hooks/pms/<webhook key>/. Verify, store raw, answer fast."""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.throttling import SimpleRateThrottle

from bookings.pms.adapters import Rejected
from bookings.pms.services import delivery_throttled, event_receive
from portal.throttling import note_failed_authentication


def _over_rate(key: str) -> float:
    """Per-webhook-URL limit (LATCHKEY_PMS_HOOK_RATE): a PMS in a retry storm, or someone who
    learnt the URL, cannot flood the workers. Fixed window, one cache counter. Returns the
    seconds until the window ends when over the limit (the answer's Retry-After), else 0."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["pms_hook"]
    num, duration = SimpleRateThrottle.parse_rate(None, rate)
    now = time.time()
    window = int(now // duration)
    counter = f"throttle_pmshook_{key[:16]}:{window}"
    if cache.add(counter, 1, duration + 1):
        return 0
    try:
        over = cache.incr(counter) > num
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, duration + 1)
        return 0
    return max(1.0, (window + 1) * duration - now) if over else 0


@csrf_exempt
@require_POST
def pms_webhook(request, key: str):
    retry = _over_rate(key)
    if retry:
        rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["pms_hook"]
        delivery_throttled(key=key, rate=rate, window_seconds=retry)
        response = JsonResponse(
            {"detail": f"Too many deliveries (at most {rate} per connection); retry later."},
            status=429,
        )
        response["Retry-After"] = str(math.ceil(retry))
        return response
    try:
        event, created = event_receive(key=key, body=request.body, headers=request.headers)
    except Rejected as exc:
        # Unknown URLs are counted per address (someone probing). Bad credentials on a real
        # URL are not: PMSes deliver for all their customers from a few shared addresses, and
        # one customer's wrong password must not block the others. The per-URL limit above
        # caps those, and the connection counts them (rejected_count).
        if exc.status == 404 and note_failed_authentication(request):
            return JsonResponse({"detail": "Too many unknown webhook URLs."}, status=429)
        response = JsonResponse({"detail": str(exc)}, status=exc.status)
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Basic realm="latchkey-pms"'
        return response
    return JsonResponse(
        {"ok": True, "event": event.pk, "duplicate": not created},
        status=202 if created else 200,
    )
