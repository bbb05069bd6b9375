"""DRF permission: a tenant is required; writes need a write scope or role."""

from __future__ import annotations

from rest_framework import exceptions, permissions

from portal.tenancy import Tenant, membership_for, tenant_from_membership


def request_tenant(request) -> Tenant | None:
    """The tenant of an API request: the key's organization, or the signed-in user's.

    Session users may pick the organization with the `X-Organization` header (its slug); without
    it, their first membership is used.
    """
    cached = getattr(request, "_latchkey_tenant", None)
    if cached is not None:
        return cached
    tenant = request.auth if isinstance(request.auth, Tenant) else None
    if tenant is None and request.user is not None and request.user.is_authenticated:
        membership = membership_for(request.user, slug=request.headers.get("X-Organization"))
        tenant = tenant_from_membership(membership) if membership else None
    request._latchkey_tenant = tenant
    return tenant


class OrganizationAccess(permissions.BasePermission):
    message = "Your API key or role only allows reading."

    def has_permission(self, request, view) -> bool:
        tenant = request_tenant(request)
        if tenant is None:
            if request.auth is None and not getattr(request.user, "is_authenticated", False):
                raise exceptions.NotAuthenticated("Send Authorization: Bearer <api key>.")
            raise exceptions.NotFound()
        return request.method in permissions.SAFE_METHODS or tenant.can_write
