"""Today: who arrives and leaves today and tomorrow, locks needing attention, failed commands
with the reason and what to do, and the retry button. The live part re-renders by polling."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from locks.actions import action_state
from locks.models import LockCommand
from locks.sync.runner import command_retry
from portal.models import Alert
from portal.services import alert_resolve
from portal.tenancy import get_scoped_or_404
from web.access import page_tenant
from web.selectors.today import today_for
from web.views.common import page, wants_fragment


@login_required
def today(request, slug: str):
    tenant = page_tenant(request, slug)
    data = today_for(organization=tenant.organization)
    template = "web/today/_live.html" if wants_fragment(request) else "web/today/page.html"
    return page(request, template, tenant, {"data": data})


@login_required
def command_status(request, slug: str, pk: int):
    """One command's state, for the polling badge next to a remote action or a retry."""
    tenant = page_tenant(request, slug)
    command = get_scoped_or_404(LockCommand.objects.select_related("lock"), tenant, pk=pk)
    return page(
        request,
        "web/commands/_status.html",
        tenant,
        {"cmd": command, "state": action_state(command)},
    )


@login_required
@require_POST
def command_retry_view(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    command = get_scoped_or_404(LockCommand.objects.select_related("lock"), tenant, pk=pk)
    command = command_retry(command=command)
    if wants_fragment(request):
        return page(
            request,
            "web/commands/_status.html",
            tenant,
            {"cmd": command, "state": action_state(command)},
        )
    messages.success(request, _("Retrying: the lock gets the command again."))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    if back:
        return redirect(back)
    return redirect("dashboard", slug=slug)


@login_required
@require_POST
def alert_dismiss(request, slug: str, pk: int):
    """Mark an alert handled; if the problem is still there, the engine raises it again."""
    tenant = page_tenant(request, slug, write=True)
    alert = get_scoped_or_404(Alert, tenant, pk=pk)
    alert_resolve(organization=tenant.organization, kind=alert.kind, subject=alert.subject)
    return redirect("dashboard", slug=slug)
