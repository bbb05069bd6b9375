"""Nuki Web's webhook receiver and the "Connect Nuki Web" OAuth flow."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseBadRequest, HttpResponseForbidden, JsonResponse
from django.shortcuts import redirect
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from locks.integrations.nuki_web.connection import (
    NotConfigured,
    authorization_start,
    connection_from_code,
)
from locks.integrations.nuki_web.webhooks import WebhookRejected, webhook_receive
from portal.tenancy import membership_for, tenant_for_user
from portal.throttling import note_failed_authentication


@csrf_exempt
@require_POST
def nuki_web_webhook(request, key: str):
    """Nuki Web's decentral webhook: signature over the raw body checked before anything."""
    try:
        outcome = webhook_receive(
            key=key, body=request.body, signature=request.headers.get("X-Nuki-Signature-SHA256", "")
        )
    except WebhookRejected as exc:
        if exc.status in (401, 404) and note_failed_authentication(request):
            return JsonResponse({"detail": "Too many rejected webhooks."}, status=429)
        return JsonResponse({"detail": str(exc)}, status=exc.status)
    return JsonResponse({"ok": True, "outcome": outcome})


@login_required
@require_POST
def nuki_web_connect(request, slug: str):
    """Start "Connect Nuki Web": state and the PKCE verifier stay in the session."""
    tenant = tenant_for_user(request.user, slug=slug)
    if not tenant.can_write:
        return HttpResponseForbidden("Only owners and managers can connect Nuki Web.")
    try:
        url, state, verifier = authorization_start()
    except NotConfigured as exc:
        return HttpResponseBadRequest(str(exc))
    request.session["nuki_web_oauth"] = {
        "state": state,
        "verifier": verifier,
        "organization": tenant.organization.pk,
    }
    return redirect(url)


@login_required
def nuki_web_callback(request):
    """Nuki sends the manager back here; the code is exchanged on the server."""
    pending = request.session.pop("nuki_web_oauth", None)
    state = request.GET.get("state", "")
    if not pending or not constant_time_compare(state, pending["state"]):
        return HttpResponseBadRequest("This sign-in link is stale; start Connect Nuki Web again.")
    if "error" in request.GET or "code" not in request.GET:
        return HttpResponseBadRequest("Nuki Web did not grant access; start again to retry.")
    membership = membership_for(request.user, organization_id=pending["organization"])
    if membership is None or not membership.can_write:
        return HttpResponseForbidden("You can no longer manage this organization.")
    try:
        connection_from_code(
            organization=membership.organization,
            code=request.GET["code"],
            verifier=pending["verifier"],
        )
    except Exception as exc:  # OAuth errors: tell the manager in plain words
        return HttpResponseBadRequest(f"Nuki Web refused the sign-in ({exc}); please try again.")
    return redirect("dashboard", slug=membership.organization.slug)
