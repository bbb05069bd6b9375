"""Properties: list, create, edit, detail with its doors and locks, and a stay timeline."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from portal.tenancy import get_scoped_or_404
from properties.models import Property
from properties.services import PropertyInUse, property_create, property_delete, property_update
from web.access import page_tenant
from web.forms import IcalFeedForm, PropertyForm
from web.selectors.properties import property_list, property_timeline
from web.views.common import page, paginate
from web.views.feeds import property_context
from web.zones import read_in


@login_required
def properties(request, slug: str):
    tenant = page_tenant(request, slug)
    q = request.GET.get("q", "").strip()
    return page(
        request,
        "web/properties/list.html",
        tenant,
        {
            "page_obj": paginate(request, property_list(organization=tenant.organization, query=q)),
            "q": q,
        },
    )


def _save(form, *, organization=None, instance=None):
    fields = {name: form.cleaned_data[name] for name in form.Meta.fields}
    try:
        if instance is None:
            return property_create(organization=organization, **fields)
        return property_update(property=instance, **fields)
    except ValidationError as exc:
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return None


@login_required
def property_new(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    form = PropertyForm(
        request.POST or None,
        initial={"timezone": "Europe/Vienna"},
        organization=tenant.organization,
    )
    if request.method == "POST" and form.is_valid():
        prop = _save(form, organization=tenant.organization)
        if prop is not None:
            messages.success(request, _("Property created."))
            return redirect("property-page", slug=slug, pk=prop.pk)
    return page(request, "web/properties/form.html", tenant, {"form": form})


@login_required
def property_edit(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    prop = get_scoped_or_404(Property, tenant, pk=pk)
    form = PropertyForm(request.POST or None, instance=prop, organization=tenant.organization)
    if request.method == "POST" and form.is_valid():
        prop.refresh_from_db()  # the ModelForm changed the instance in place
        if _save(form, instance=prop) is not None:
            messages.success(request, _("Saved. Future stays follow the new times."))
            return redirect("property-page", slug=slug, pk=prop.pk)
    return page(request, "web/properties/form.html", tenant, {"form": form, "prop": prop})


@login_required
def property_page(request, slug: str, pk: int):
    tenant = page_tenant(request, slug)
    prop = get_scoped_or_404(Property, tenant, pk=pk)
    ctx = {**property_context(prop), "feed_form": IcalFeedForm(prefix="feed")}
    return page(request, "web/properties/detail.html", tenant, ctx)


@login_required
def property_timeline_view(request, slug: str, pk: int):
    tenant = page_tenant(request, slug)
    prop = get_scoped_or_404(Property, tenant, pk=pk)
    read_in(prop.timezone)  # which day is today at the property
    try:
        start = dt.date.fromisoformat(request.GET.get("start", ""))
    except ValueError:
        start = timezone.localdate() - dt.timedelta(days=3)
    timeline = property_timeline(prop=prop, start=start)
    return page(
        request,
        "web/properties/timeline.html",
        tenant,
        {
            "prop": prop,
            "timeline": timeline,
            "earlier": start - dt.timedelta(days=28),
            "later": start + dt.timedelta(days=28),
        },
    )


@login_required
@require_POST
def property_delete_view(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    prop = get_scoped_or_404(Property, tenant, pk=pk)
    try:
        property_delete(property=prop)
    except PropertyInUse:
        messages.error(request, _("This property has stays, so it cannot be deleted."))
        return redirect("property-page", slug=slug, pk=pk)
    messages.success(request, _("Property deleted."))
    return redirect("properties", slug=slug)
