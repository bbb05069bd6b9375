"""Home (to the first organization's Today page) and the guest email log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render

from bookings.dashboard import email_log
from portal.tenancy import membership_for, tenant_for_user
from web.views.common import page


@login_required
def home(request):
    membership = membership_for(request.user)
    if membership is None:
        return render(request, "portal/no_organization.html", status=200)
    return redirect("dashboard", slug=membership.organization.slug)


@login_required
def emails(request, slug: str):
    tenant = tenant_for_user(request.user, slug=slug)
    q = request.GET.get("q", "").strip()
    emails_page = Paginator(email_log(organization=tenant.organization, query=q), 50).get_page(
        request.GET.get("page")
    )
    return page(request, "bookings/emails.html", tenant, {"page": emails_page, "q": q})
