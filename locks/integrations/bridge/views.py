"""The Nuki Bridge's callback: the bridge posts its locks' state changes here."""

from __future__ import annotations

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from locks.integrations.bridge.callbacks import CallbackRejected, callback_receive
from portal.throttling import note_failed_authentication


@csrf_exempt
@require_POST
def bridge_callback(request, secret: str):
    try:
        lock = callback_receive(secret=secret, body=request.body)
    except CallbackRejected as exc:
        if exc.status == 404 and note_failed_authentication(request):
            return JsonResponse({"detail": "Too many unknown callbacks."}, status=429)
        return JsonResponse({"detail": str(exc)}, status=exc.status)
    return JsonResponse({"ok": True, "lock": lock.pk})
