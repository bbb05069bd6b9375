"""The PMS webhook endpoint: /hooks/pms/<webhook key>/. Verify, store raw, answer fast."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework.throttling import SimpleRateThrottle

from bookings.pms.adapters import Rejected
from bookings.pms.services import event_receive
from portal.throttling import note_failed_authentication


def _over_rate(key: str) -> bool:
    """Per-webhook-URL limit (LATCHKEY_PMS_HOOK_RATE): a PMS in a retry storm, or someone who
    learnt the URL, cannot flood the workers. Fixed window, one cache counter."""
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["pms_hook"]
    num, duration = SimpleRateThrottle.parse_rate(None, rate)
    counter = f"throttle_pmshook_{key[:16]}"
    if cache.add(counter, 1, duration):
        return False
    try:
        return cache.incr(counter) > num
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, duration)
        return False


@csrf_exempt
@require_POST
def pms_webhook(request, key: str):
    if _over_rate(key):
        return JsonResponse({"detail": "Too many deliveries; retry later."}, status=429)
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
