"""The guest email log: every message sent (or not) to guests, searchable by address and
subject; the body is shown only to those who may see codes."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required

from web.access import page_tenant
from web.selectors.emails import email_log
from web.views.common import page, paginate


@login_required
def emails(request, slug: str):
    tenant = page_tenant(request, slug)
    q = request.GET.get("q", "").strip()
    emails_page = paginate(request, email_log(organization=tenant.organization, query=q))
    return page(request, "web/emails/list.html", tenant, {"page": emails_page, "q": q})
