"""Settings: the organization (name, preload horizon, backup lead, foreign codes), the code
policy, backup code pools and step-up policy (overviews; set per lock and per property), API
keys, members and pending invitations.

What changes a credential or who belongs (API keys, roles, invitations, removals) asks for
the password again first (web.access.sudo_redirect).

Sections are templates under templates/web/settings/ listed in SECTIONS, so a later feature
(backup code pools, step-up policy) adds one include and its context."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings.codes import LENGTH
from portal.invitations import invitation_send, invitation_withdraw, invitations_pending
from portal.models import ApiKey, Invitation, Membership
from portal.services import (
    ServiceError,
    api_key_create,
    api_key_revoke,
    membership_remove,
    membership_set_role,
    organization_retention_update,
    organization_update,
)
from portal.tenancy import get_scoped_or_404
from web.access import owner_tenant, page_tenant, sudo_redirect
from web.forms import ApiKeyForm, InviteForm, OrganizationForm, RetentionForm, RoleForm
from web.selectors.settings import settings_for
from web.views.common import form_error, page

SECTIONS = [
    "web/settings/_organization.html",
    "web/settings/_code_policy.html",
    "web/settings/_backup_pools.html",
    "web/settings/_step_up.html",
    "web/settings/_api_keys.html",
    "web/settings/_members.html",
    "web/settings/_retention.html",
]


def settings_context(tenant, **forms):
    org = tenant.organization
    return {
        **settings_for(organization=org),
        "sections": SECTIONS,
        "code_length": LENGTH,
        "org_form": forms.get("org_form")
        or OrganizationForm(
            initial={
                "name": org.name,
                "timezone": org.timezone,
                "preload_hours": org.preload_hours,
                "backup_lead_minutes": org.backup_lead_minutes,
                "remove_foreign_codes": org.remove_foreign_codes,
            }
        ),
        "invite_form": forms.get("invite_form") or InviteForm(),
        "retention_form": forms.get("retention_form")
        or RetentionForm(initial={f: getattr(org, f) for f in org.RETENTION_FIELDS}),
        "invitations": list(invitations_pending(organization=org)[:100]),
    }


def _members_section(slug: str) -> str:
    """Where a POST-only members action returns after the password page (never the POST)."""
    return reverse("settings", kwargs={"slug": slug}) + "#members-h"


@login_required
def settings_page(request, slug: str):
    tenant = page_tenant(request, slug, write=request.method == "POST")
    if request.method == "POST":
        form = OrganizationForm(request.POST)
        if form.is_valid():
            try:
                organization_update(organization=tenant.organization, **form.cleaned_data)
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("settings", slug=slug)
        return page(
            request, "web/settings/page.html", tenant, settings_context(tenant, org_form=form), 400
        )
    return page(request, "web/settings/page.html", tenant, settings_context(tenant))


@login_required
def api_key_new(request, slug: str):
    tenant = owner_tenant(request, slug)
    if (confirm := sudo_redirect(request)) is not None:
        return confirm
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        key, raw = api_key_create(organization=tenant.organization, **form.cleaned_data)
        response = page(
            request, "web/settings/api_key_created.html", tenant, {"key": key, "raw": raw}
        )
        response["Cache-Control"] = "no-store"
        return response
    return page(request, "web/settings/api_key_form.html", tenant, {"form": form})


@login_required
@require_POST
def api_key_revoke_view(request, slug: str, pk: int):
    tenant = owner_tenant(request, slug)
    key = get_scoped_or_404(ApiKey, tenant, pk=pk)
    back = reverse("settings", kwargs={"slug": slug})
    if (confirm := sudo_redirect(request, back=back)) is not None:
        return confirm
    api_key_revoke(key=key)
    messages.success(request, _("API key revoked."))
    return redirect("settings", slug=slug)


@login_required
@require_POST
def member_invite(request, slug: str):
    tenant = owner_tenant(request, slug)
    if (confirm := sudo_redirect(request, back=_members_section(slug))) is not None:
        return confirm
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            invitation_send(
                organization=tenant.organization,
                inviter=request.user,
                accept_url_for=lambda token: request.build_absolute_uri(
                    reverse("invitation", kwargs={"token": token})
                ),
                **form.cleaned_data,
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Invitation sent."))
            return redirect("settings", slug=slug)
    return page(
        request, "web/settings/page.html", tenant, settings_context(tenant, invite_form=form), 400
    )


@login_required
@require_POST
def member_role(request, slug: str, pk: int):
    tenant = owner_tenant(request, slug)
    membership = get_scoped_or_404(Membership, tenant, pk=pk)
    if (confirm := sudo_redirect(request, back=_members_section(slug))) is not None:
        return confirm
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            membership_set_role(membership=membership, role=form.cleaned_data["role"])
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Role changed."))
    return redirect("settings", slug=slug)


@login_required
def member_remove(request, slug: str, pk: int):
    tenant = owner_tenant(request, slug)
    membership = get_scoped_or_404(Membership.objects.select_related("user"), tenant, pk=pk)
    if (confirm := sudo_redirect(request)) is not None:
        return confirm
    if request.method == "POST":
        try:
            membership_remove(membership=membership)
        except ServiceError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Member removed."))
        return redirect("settings", slug=slug)
    return page(request, "web/settings/member_remove.html", tenant, {"membership": membership})


@login_required
@require_POST
def invitation_withdraw_view(request, slug: str, pk: int):
    """Withdraw a pending invitation (owners, after the password): its link stops working."""
    tenant = owner_tenant(request, slug)
    invitation = get_scoped_or_404(Invitation, tenant, pk=pk)
    if (confirm := sudo_redirect(request, back=_members_section(slug))) is not None:
        return confirm
    invitation_withdraw(invitation=invitation)
    messages.success(request, _("Invitation withdrawn: its link no longer works."))
    return redirect(_members_section(slug))


@login_required
@require_POST
def retention_update(request, slug: str):
    """Owners decide how long the organization keeps data (a privacy policy, not day-to-day
    operation): managers and viewers get 403, a bad value 400 naming the field."""
    tenant = owner_tenant(request, slug)
    form = RetentionForm(request.POST)
    if form.is_valid():
        try:
            organization_retention_update(organization=tenant.organization, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Retention saved."))
            return redirect(reverse("settings", kwargs={"slug": slug}) + "#retention-h")
    context = settings_context(tenant, retention_form=form)
    return page(request, "web/settings/page.html", tenant, context, 400)
