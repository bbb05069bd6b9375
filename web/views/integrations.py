"""Integrations: PMS connections (webhook URL and secret, deliveries, unmapped listings),
bridges (with import progress), on-site agents (token shown once), Nuki Web,
iCal feeds (added on each property's page, listed here with their status).

Each integration is one section template under templates/web/integrations/, listed in
SECTIONS; a new integration (PMS, iCal) adds its section and its context here."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from locks.integrations.ble_agent.enrollment import agent_create
from locks.integrations.bridge.services import bridge_create
from locks.integrations.nuki_web.connection import connection_from_api_token
from portal.services import ServiceError
from web.access import page_tenant, sudo_redirect
from web.forms import AgentForm, BridgeForm, NukiWebTokenForm, PmsConnectionForm
from web.selectors.integrations import integrations_for, pms_for
from web.views.common import form_error, page, wants_fragment
from web.views.feeds import mark_waiting

NUKI_WEB_IMPORT_WINDOW = dt.timedelta(minutes=5)  # a first import that finds nothing stops here
SECTIONS = [  # rendered in order inside one live region (polled while something imports)
    "web/integrations/_pms.html",  # where bookings come from first, then the locks' links
    "web/integrations/_ical.html",
    "web/integrations/_bridges.html",
    "web/integrations/_agents.html",
    "web/integrations/_nuki_web.html",
]


def integrations_context(tenant, **forms) -> dict:
    """The Integrations page's context (every section's data and forms); a form given by name
    replaces the blank one (a POST that failed validation shows its errors). Shared with the PMS
    views (web/views/pms.py), which render the same page."""
    data = {
        **integrations_for(organization=tenant.organization),
        **pms_for(organization=tenant.organization),
    }
    mark_waiting(data["feeds"])
    conn = data["nuki_web"]
    data["nuki_web_importing"] = bool(
        conn
        and conn.status == "ok"
        and not data["nuki_web_locks"]
        and timezone.now() - conn.created_at < NUKI_WEB_IMPORT_WINDOW
    )
    busy = data["nuki_web_importing"] or any(
        b.status in ("importing", "waiting_for_button") for b in data["bridges"]
    )
    return {
        **data,
        "busy": busy,
        "sections": SECTIONS,
        # Prefixes keep the three forms' field ids apart on one page (labels stay attached).
        "bridge_form": forms.get("bridge_form") or BridgeForm(prefix="bridge"),
        "agent_form": forms.get("agent_form") or AgentForm(prefix="agent"),
        "nuki_form": forms.get("nuki_form") or NukiWebTokenForm(prefix="nuki"),
        "pms_form": forms.get("pms_form") or PmsConnectionForm(prefix="pms"),
        "site_url": settings.SITE_URL.rstrip("/"),
    }


def _back(slug: str) -> str:
    """Where a POST-only button returns after the password page (a POST is never replayed)."""
    return reverse("integrations", kwargs={"slug": slug})


@login_required
def integrations(request, slug: str):
    tenant = page_tenant(request, slug)
    ctx = integrations_context(tenant)
    if wants_fragment(request):
        return page(request, "web/integrations/_live.html", tenant, ctx)
    return page(request, "web/integrations/page.html", tenant, ctx)


@login_required
@require_POST
def bridge_new(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    if (confirm := sudo_redirect(request, back=_back(slug))) is not None:
        return confirm  # stores the bridge's API token, a credential: the password first
    form = BridgeForm(request.POST, prefix="bridge")
    if form.is_valid():
        try:
            bridge_create(organization=tenant.organization, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Bridge added; importing its locks."))
            return redirect("integrations", slug=slug)
    return page(
        request,
        "web/integrations/page.html",
        tenant,
        integrations_context(tenant, bridge_form=form),
        400,
    )


@login_required
@require_POST
def agent_new(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    if (confirm := sudo_redirect(request, back=_back(slug))) is not None:
        return confirm  # shows a new enrollment token, a secret: the password first
    form = AgentForm(request.POST, prefix="agent")
    if not form.is_valid():
        return page(
            request,
            "web/integrations/page.html",
            tenant,
            integrations_context(tenant, agent_form=form),
            400,
        )
    try:
        agent, token = agent_create(
            organization=tenant.organization, name=form.cleaned_data["name"]
        )
    except ServiceError as exc:  # as many agents as the organization may have
        form_error(form, exc)
        return page(
            request,
            "web/integrations/page.html",
            tenant,
            integrations_context(tenant, agent_form=form),
            400,
        )
    portal_url = request.build_absolute_uri("/").rstrip("/")
    response = page(
        request,
        "web/integrations/agent_token.html",
        tenant,
        {"agent": agent, "token": token, "portal_url": portal_url},
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def nuki_web_token(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    if (confirm := sudo_redirect(request, back=_back(slug))) is not None:
        return confirm  # a credential for every lock of the account: the password first
    form = NukiWebTokenForm(request.POST, prefix="nuki")
    if form.is_valid():
        connection_from_api_token(
            organization=tenant.organization, api_token=form.cleaned_data["api_token"]
        )
        messages.success(request, _("Nuki Web connected; importing your smart locks."))
        return redirect("integrations", slug=slug)
    return page(
        request,
        "web/integrations/page.html",
        tenant,
        integrations_context(tenant, nuki_form=form),
        400,
    )
