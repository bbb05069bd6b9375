"""The site's front door: a signed-in manager goes to their first organization's Today page."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from portal.tenancy import membership_for


@login_required
def home(request):
    membership = membership_for(request.user)
    if membership is None:
        return render(request, "portal/no_organization.html", status=200)
    return redirect("dashboard", slug=membership.organization.slug)
