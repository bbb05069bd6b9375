"""Stays: list with filters, create by hand, detail (code hidden until asked, sync state per
lock polled live, guest emails), change dates, cancel, new code, send the code again."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings.models import AccessGrant, Booking
from bookings.stay.services import (
    stay_cancel,
    stay_change_dates,
    stay_create,
    stay_new_code,
    stay_send_code,
)
from portal.services import ServiceError
from portal.tenancy import get_scoped_or_404, may_see_secrets
from web.access import page_tenant
from web.forms import DatesForm, StayFilterForm, StayForm
from web.selectors.stays import stay_detail, stay_list, stays_with_access
from web.views.common import form_error, page, paginate, wants_fragment
from web.zones import read_in


@login_required
def stays(request, slug: str):
    tenant = page_tenant(request, slug)
    filters = StayFilterForm(request.GET or None, organization=tenant.organization)
    f = filters.cleaned_data if filters.is_valid() else {}
    qs = stay_list(
        organization=tenant.organization,
        query=f.get("q", ""),
        status=f.get("status", ""),
        property_id=f.get("property"),
        when=f.get("when") or "upcoming",
    )
    page_obj = paginate(request, qs)
    stays_with_access(page_obj.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    return page(
        request,
        "web/stays/list.html",
        tenant,
        {"filters": filters, "page_obj": page_obj, "query": query.urlencode()},
    )


@login_required
def stay_new(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    form = StayForm(
        request.POST or None,
        organization=tenant.organization,
        initial={"property": request.GET.get("property")},
    )
    if request.method == "POST" and form.is_valid():
        try:
            booking = stay_create(organization=tenant.organization, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Stay created. Its code is on its way to the locks."))
            return redirect("stay-page", slug=slug, pk=booking.pk)
    return page(request, "web/stays/form.html", tenant, {"form": form})


def _booking(tenant, pk):
    """The stay `pk`; the rest of the request reads times in its property's zone."""
    booking = get_scoped_or_404(Booking.objects.select_related("property"), tenant, pk=pk)
    read_in(booking.property.timezone)
    return booking


@login_required
def stay_page(request, slug: str, pk: int):
    tenant = page_tenant(request, slug)
    booking = _booking(tenant, pk)
    ctx = {"stay": booking, **stay_detail(booking=booking)}
    if wants_fragment(request):
        return page(request, "web/stays/_sync.html", tenant, ctx)
    ctx["dates"] = DatesForm(initial={"check_in": booking.check_in, "check_out": booking.check_out})
    return page(request, "web/stays/detail.html", tenant, ctx)


@login_required
def stay_code(request, slug: str, pk: int):
    """The code itself, only when asked for (it is not in the page until then), and only to
    someone who could change it (owners and managers: portal.tenancy.may_see_secrets)."""
    tenant = page_tenant(request, slug)
    if not may_see_secrets(tenant):
        raise PermissionDenied("Codes are shown to owners and managers.")
    booking = _booking(tenant, pk)
    grant = AccessGrant.objects.filter(booking=booking).first()
    response = page(request, "web/stays/_code.html", tenant, {"stay": booking, "grant": grant})
    response["Cache-Control"] = "no-store"
    return response


def _act(request, slug, pk, action, done: str):
    tenant = page_tenant(request, slug, write=True)
    booking = _booking(tenant, pk)
    try:
        action(booking=booking)
    except ServiceError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)
    return redirect("stay-page", slug=slug, pk=pk)


@login_required
@require_POST
def stay_dates(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    booking = _booking(tenant, pk)
    form = DatesForm(request.POST)
    if form.is_valid():
        try:
            stay_change_dates(booking=booking, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Dates changed; the locks follow."))
            return redirect("stay-page", slug=slug, pk=pk)
    ctx = {"stay": booking, **stay_detail(booking=booking), "dates": form}
    return page(request, "web/stays/detail.html", tenant, ctx, status=400)


@login_required
@require_POST
def stay_cancel_view(request, slug: str, pk: int):
    return _act(request, slug, pk, stay_cancel, _("Stay cancelled; its code leaves the locks."))


@login_required
@require_POST
def stay_new_code_view(request, slug: str, pk: int):
    return _act(
        request, slug, pk, stay_new_code, _("New code drawn; it replaces the old one on the locks.")
    )


@login_required
@require_POST
def stay_send_view(request, slug: str, pk: int):
    return _act(request, slug, pk, stay_send_code, _("Email sent to the guest."))
