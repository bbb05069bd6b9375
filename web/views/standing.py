"""Standing access of a property (cleaning staff, owners): add, edit, deactivate, and its code
shown only when asked for (owners and managers)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings.models import StandingAccess
from bookings.standing.services import (
    standing_access_create,
    standing_access_update,
    weekdays_mask,
    weekdays_names,
)
from portal.services import ServiceError
from portal.tenancy import get_scoped_or_404
from properties.models import Property
from web.access import page_tenant
from web.forms import StandingAccessForm
from web.views.common import form_error, page

FIELDS = ("name", "role", "from_time", "until_time", "starts_on", "ends_on")


def _access(tenant, pk: int) -> StandingAccess:
    return get_scoped_or_404(StandingAccess.objects.select_related("property"), tenant, pk=pk)


def _fields(form) -> dict:
    data = {name: form.cleaned_data[name] for name in FIELDS}
    data["weekdays"] = weekdays_mask(form.cleaned_data["weekdays"])
    return data


@login_required
def standing_new(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    prop = get_scoped_or_404(Property, tenant, pk=pk)
    form = StandingAccessForm(
        request.POST or None,
        property=prop,
        initial={"weekdays": ["mon", "tue", "wed", "thu", "fri"], "role": "cleaning"},
    )
    if request.method == "POST" and form.is_valid():
        try:
            standing_access_create(
                organization=tenant.organization,
                property=prop,
                locks=list(form.cleaned_data["locks"]),
                **_fields(form),
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Standing access added; its code goes on the locks."))
            return redirect("property-page", slug=slug, pk=prop.pk)
    status = 400 if request.method == "POST" else 200
    return page(request, "web/standing/form.html", tenant, {"form": form, "prop": prop}, status)


@login_required
def standing_edit(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    access = _access(tenant, pk)
    initial = {name: getattr(access, name) for name in FIELDS}
    initial["weekdays"] = weekdays_names(access.weekdays)
    initial["locks"] = list(access.locks.values_list("pk", flat=True))
    form = StandingAccessForm(request.POST or None, property=access.property, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            standing_access_update(
                access=access, locks=list(form.cleaned_data["locks"]), **_fields(form)
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Standing access saved; the locks follow."))
            return redirect("property-page", slug=slug, pk=access.property_id)
    status = 400 if request.method == "POST" else 200
    return page(
        request,
        "web/standing/form.html",
        tenant,
        {"form": form, "prop": access.property, "access": access},
        status,
    )


@login_required
@require_POST
def standing_active(request, slug: str, pk: int):
    """Deactivate (the code leaves the locks) or, with active=1, reactivate."""
    tenant = page_tenant(request, slug, write=True)
    access = _access(tenant, pk)
    active = request.POST.get("active") == "1"
    standing_access_update(access=access, active=active)
    messages.success(
        request,
        _("Reactivated; the code goes back on the locks.")
        if active
        else _("Deactivated; the code is removed from the locks."),
    )
    return redirect("property-page", slug=slug, pk=access.property_id)


@login_required
def standing_code(request, slug: str, pk: int):
    """The code itself, only when asked for, and only to owners and managers."""
    tenant = page_tenant(request, slug, write=True)
    access = _access(tenant, pk)
    response = page(request, "web/standing/_code.html", tenant, {"access": access})
    response["Cache-Control"] = "no-store"
    return response
