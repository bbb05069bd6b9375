"""Who may see or change a manager page: every page resolves its Tenant here first.

Outsiders get 404 (they learn nothing about the organization), read-only members get 403 on
writes. "Sudo" is a short re-authentication window kept in the session, asked for before the
actions a stolen session should not be able to do quietly (new API keys, removing members).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.urls import reverse

from portal.sudo import SUDO_KEY, SUDO_SECONDS, sudo_active, sudo_grant
from portal.tenancy import Tenant, tenant_for_user
from web.zones import read_in

__all__ = [  # the window itself lives in portal.sudo, shared with the API
    "SUDO_KEY",
    "SUDO_SECONDS",
    "owner_tenant",
    "page_tenant",
    "sudo_active",
    "sudo_grant",
    "sudo_redirect",
]


def page_tenant(request, slug: str, *, write: bool = False) -> Tenant:
    """The caller's tenant in the organization `slug`; the rest of the request reads times in
    the organization's zone (web.zones)."""
    tenant = tenant_for_user(request.user, slug=slug)
    read_in(tenant.organization.timezone)
    if write and not tenant.can_write:
        raise PermissionDenied("Only owners and managers can change this.")
    return tenant


def owner_tenant(request, slug: str) -> Tenant:
    tenant = tenant_for_user(request.user, slug=slug)
    read_in(tenant.organization.timezone)
    if tenant.label != "owner":
        raise PermissionDenied("Only owners can do this.")
    return tenant


def sudo_redirect(request, *, back: str | None = None):
    """None inside the window; otherwise a redirect to re-enter the password, then back to the
    same page (its GET: a POST is never replayed, they press the button again). POST-only
    actions pass `back`, the page their button is on. Called after the tenant check, so an
    outsider still gets 404 and learns nothing."""
    if sudo_active(request):
        return None
    return redirect(f"{reverse('sudo')}?{urlencode({'next': back or request.get_full_path()})}")
