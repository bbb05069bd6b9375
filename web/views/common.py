"""What every manager page shares: the layout context (organization switcher) and paging."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.shortcuts import render

from portal.models import Membership
from portal.services import ServiceError
from portal.stored_errors import stored_error
from portal.tenancy import may_see_secrets
from web.zones import current_zone

PAGE_SIZE = 50


def page(request, template: str, tenant, context: dict | None = None, status: int = 200):
    ctx = {
        "tenant": tenant,
        "organization": tenant.organization,
        "can_write": tenant.can_write,
        # Codes and credentials: the one rule for the API and the pages (portal.tenancy).
        "may_see_secrets": may_see_secrets(tenant),
        "is_owner": tenant.label == "owner",
        # The zone every time on the page is shown in, named once by the layout (web.zones).
        "page_zone": current_zone(),
        "switch_to": list(
            Membership.objects.filter(user=request.user)
            .exclude(organization=tenant.organization)
            .select_related("organization")
            .order_by("organization__name")[:20]
        ),
    }
    ctx.update(context or {})
    return render(request, template, ctx, status=status)


def paginate(request, qs, size: int = PAGE_SIZE):
    return Paginator(qs, size).get_page(request.GET.get("page"))


def form_error(form, exc: ServiceError) -> None:
    """The service's refusal on the form, in the reader's language: most are translated where
    they are raised; a few carry the fetch guard's English sentence (a feed's refused URL)."""
    field = exc.field if exc.field in form.fields else None
    form.add_error(field, stored_error(str(exc)))


def wants_fragment(request) -> bool:
    """An htmx request that asked for the live part only (polling or a button in place)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted
