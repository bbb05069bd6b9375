"""The guest email log: every message sent (or not) to guests, searchable by address and
subject. Those who may see codes read each body with its door code and stay link masked, and
get the full text only when they ask for it (like the code on a stay's page)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied

from bookings.models import GuestEmail
from portal.tenancy import get_scoped_or_404, may_see_secrets
from web.access import page_tenant
from web.selectors.emails import email_log
from web.views.common import page, paginate


@login_required
def emails(request, slug: str):
    tenant = page_tenant(request, slug)
    q = request.GET.get("q", "").strip()
    emails_page = paginate(request, email_log(organization=tenant.organization, query=q))
    return page(request, "web/emails/list.html", tenant, {"page": emails_page, "q": q})


@login_required
def email_body(request, slug: str, pk: int):
    """One email's full text, door code included: only when asked for, and only to someone
    who could change the code (owners and managers)."""
    tenant = page_tenant(request, slug)
    if not may_see_secrets(tenant):
        raise PermissionDenied("Codes are shown to owners and managers.")
    email = get_scoped_or_404(GuestEmail, tenant, pk=pk)
    response = page(request, "web/emails/_body.html", tenant, {"email": email})
    response["Cache-Control"] = "no-store"
    return response
