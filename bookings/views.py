"""The minimal manager pages: the organization dashboard and the guest email log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from bookings.dashboard import dashboard_for, email_log
from portal.tenancy import membership_for, tenant_for_user


@login_required
def home(request):
    membership = membership_for(request.user)
    if membership is None:
        return render(request, "portal/no_organization.html", status=200)
    return redirect("dashboard", slug=membership.organization.slug)


@login_required
def dashboard(request, slug: str):
    tenant = tenant_for_user(request.user, slug=slug)
    data = dashboard_for(organization=tenant.organization)
    return render(
        request,
        "bookings/dashboard.html",
        {"tenant": tenant, "organization": tenant.organization, "data": data},
    )


@login_required
def emails(request, slug: str):
    tenant = tenant_for_user(request.user, slug=slug)
    page = Paginator(email_log(organization=tenant.organization), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "bookings/emails.html",
        {"tenant": tenant, "organization": tenant.organization, "page": page},
    )
