"""Who is asking, for which organization, and may they write.

Every view resolves a Tenant first and reaches tenant data only through `scoped()`, so another
organization's object is simply not found (404) and a read-only caller's write is refused (403).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from portal.models import ApiKey, Membership, Organization


@dataclass(frozen=True)
class Tenant:
    organization: Organization
    can_write: bool
    label: str  # "owner", "manager", "viewer", "key:read", "key:write"


MASK = "••••"


def may_see_secrets(tenant: Tenant | None) -> bool:
    """May this caller read credentials and guest codes? Only someone who could change them:
    owners and managers (pages and session API) and write-scope API keys. Viewers and read
    keys get masked values: a code or a webhook URL is as good as the thing it opens, so
    reading it is a write in disguise (a Smoobu URL lets anyone post a forged reservation)."""
    return tenant is not None and tenant.label in {"owner", "manager", "key:write"}


def tenant_from_key(key: ApiKey) -> Tenant:
    return Tenant(organization=key.organization, can_write=key.can_write, label=f"key:{key.scope}")


def tenant_from_membership(membership: Membership) -> Tenant:
    return Tenant(
        organization=membership.organization,
        can_write=membership.can_write,
        label=membership.role,
    )


def membership_for(user, *, slug: str | None = None, organization_id: int | None = None):
    """The user's membership in the organization, or None (callers turn None into 404)."""
    if not getattr(user, "is_authenticated", False):
        return None
    qs = Membership.objects.select_related("organization").filter(user=user)
    if slug is not None:
        qs = qs.filter(organization__slug=slug)
    elif organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    return qs.order_by("created_at", "id").first()


def tenant_for_user(user, *, slug: str | None = None) -> Tenant:
    """Tenant for a signed-in user; 404 when the user is not a member (outsiders learn nothing)."""
    membership = membership_for(user, slug=slug)
    if membership is None:
        raise Http404("No such organization")
    return tenant_from_membership(membership)


def scoped(model_or_qs: type[Model] | QuerySet, tenant: Tenant) -> QuerySet:
    """The rows of a tenant-owned model that belong to the tenant's organization."""
    qs = model_or_qs if isinstance(model_or_qs, QuerySet) else model_or_qs.objects.all()
    return qs.filter(organization=tenant.organization)


def get_scoped_or_404(model_or_qs, tenant: Tenant, **lookup):
    return get_object_or_404(scoped(model_or_qs, tenant), **lookup)
