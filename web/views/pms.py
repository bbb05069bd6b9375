"""PMS connections on the Integrations page: create, delete (after a confirmation), reveal or
rotate the webhook secret (owners and managers, after re-entering their password), and map a
PMS listing that arrived without a property."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings.pms.api import AUTH_HELP
from bookings.pms.models import PmsConnection
from bookings.pms.services import (
    connection_create,
    connection_delete,
    connection_secret_set,
    mapping_set,
)
from portal.services import ServiceError
from portal.tenancy import get_scoped_or_404
from web.access import page_tenant, sudo_active
from web.forms import PmsConnectionForm, PmsMappingForm
from web.views.common import form_error, page, wants_fragment
from web.views.integrations import integrations_context


def _connection(tenant, pk: int) -> PmsConnection:
    return get_scoped_or_404(PmsConnection, tenant, pk=pk)


@login_required
@require_POST
def pms_new(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    form = PmsConnectionForm(request.POST, prefix="pms")
    if form.is_valid():
        try:
            conn = connection_create(organization=tenant.organization, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s connected: paste its webhook URL and secret into the PMS.")
                % {"name": conn},
            )
            return redirect(reverse("integrations", kwargs={"slug": slug}) + "#pms-h")
    return page(
        request,
        "web/integrations/page.html",
        tenant,
        integrations_context(tenant, pms_form=form),
        400,
    )


@login_required
def pms_delete_view(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    conn = _connection(tenant, pk)
    if request.method == "POST":
        connection_delete(connection=conn)
        messages.success(request, _("Connection removed. Its stays are kept, with their codes."))
        return redirect("integrations", slug=slug)
    return page(request, "web/pms/delete.html", tenant, {"conn": conn})


@login_required
@require_POST
def pms_secret(request, slug: str, pk: int):
    """Reveal the secret (rotate=1: replace it first). A credential that lets anyone forge
    bookings, so only owners and managers, and only inside the re-authentication window."""
    tenant = page_tenant(request, slug, write=True)
    conn = _connection(tenant, pk)
    if not sudo_active(request):
        back = reverse("integrations", kwargs={"slug": slug}) + "#pms-h"
        target = f"{reverse('sudo')}?{urlencode({'next': back})}"
        if wants_fragment(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = target
            return response
        return redirect(target)
    if request.POST.get("rotate") == "1":
        connection_secret_set(connection=conn)
        messages.success(request, _("New secret made: the old one no longer works."))
    ctx = {"conn": conn, "auth_help": AUTH_HELP[conn.kind]}
    template = "web/pms/_secret.html" if wants_fragment(request) else "web/pms/secret.html"
    response = page(request, template, tenant, ctx)
    response["Cache-Control"] = "no-store"
    return response


@login_required
def pms_map(request, slug: str, pk: int):
    """Link a PMS listing to a property; the deliveries that waited for it are then applied."""
    tenant = page_tenant(request, slug, write=True)
    conn = _connection(tenant, pk)
    form = PmsMappingForm(
        request.POST or None,
        organization=tenant.organization,
        initial={"listing_id": request.GET.get("listing", "")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            mapping_set(connection=conn, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Listing mapped; its waiting bookings are applied now."))
            return redirect(reverse("integrations", kwargs={"slug": slug}) + "#pms-h")
    status = 400 if request.method == "POST" else 200
    return page(request, "web/pms/map.html", tenant, {"conn": conn, "form": form}, status)
