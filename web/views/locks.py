"""Locks: list, add a virtual lock, detail (state, codes ours and foreign, commands), remote
actions behind a confirmation, the activity log with filters and its CSV export."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from locks.actions import ActionRefused, action_state, lock_action_request
from locks.integrations.base import ACTIONS, Capability
from locks.models import DriverKind, Lock
from locks.selectors import lock_codes
from locks.services import lock_create, lock_update
from portal.tenancy import get_scoped_or_404
from portal.times import zone
from web.access import page_tenant
from web.advice import advice
from web.forms import BackupPoolForm, EventFilterForm, LockForm
from web.selectors.locks import (
    backup_pool,
    backup_pool_codes,
    failed_commands,
    lock_event_kinds,
    lock_events,
    lock_events_csv,
    lock_list,
    recent_commands,
)
from web.views.common import page, paginate
from web.zones import read_in, zone_of

VIRTUAL_KEYS = ("offline", "failure_rate", "delay_ms")


@login_required
def locks(request, slug: str):
    tenant = page_tenant(request, slug)
    q = request.GET.get("q", "").strip()
    return page(
        request,
        "web/locks/list.html",
        tenant,
        {
            "page_obj": paginate(request, lock_list(organization=tenant.organization, query=q)),
            "q": q,
        },
    )


def _virtual_config(data: dict) -> dict:
    return {
        "offline": bool(data.get("offline")),
        "failure_rate": float(data.get("failure_rate") or 0),
        "delay_ms": int(data.get("delay_ms") or 0),
    }


@login_required
def lock_new(request, slug: str):
    tenant = page_tenant(request, slug, write=True)
    initial = {"property": request.GET.get("property")}
    form = LockForm(request.POST or None, organization=tenant.organization, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        lock = lock_create(
            organization=tenant.organization,
            name=data["name"],
            property=data["property"],
            capacity=data["capacity"],
            driver=DriverKind.VIRTUAL,
            config=_virtual_config(data),
        )
        messages.success(request, _("Lock added."))
        return redirect("lock-page", slug=slug, pk=lock.pk)
    return page(request, "web/locks/form.html", tenant, {"form": form})


@login_required
def lock_edit(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    lock = get_scoped_or_404(Lock, tenant, pk=pk)
    virtual = lock.driver == DriverKind.VIRTUAL
    initial = {"name": lock.name, "property": lock.property_id, "capacity": lock.capacity}
    if virtual:
        initial.update({k: lock.config.get(k) for k in VIRTUAL_KEYS})
    form = LockForm(
        request.POST or None, organization=tenant.organization, virtual=virtual, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields = {"name": data["name"], "property": data["property"], "capacity": data["capacity"]}
        if virtual:
            fields["config"] = {**lock.config, **_virtual_config(data)}
        lock_update(lock=lock, **fields)
        messages.success(request, _("Lock saved."))
        return redirect("lock-page", slug=slug, pk=lock.pk)
    return page(request, "web/locks/form.html", tenant, {"form": form, "lock": lock})


@login_required
def lock_page(request, slug: str, pk: int):
    tenant = page_tenant(request, slug)
    lock = get_scoped_or_404(
        Lock.objects.select_related("property", "bridge", "agent"), tenant, pk=pk
    )
    return _lock_page(request, tenant, lock)


def _lock_page(request, tenant, lock, *, pool_form=None, status: int = 200):
    read_in(zone_of(tenant.organization, lock.property))  # its codes, log, commands
    filters = EventFilterForm(request.GET or None)
    filters.is_valid()
    f = getattr(filters, "cleaned_data", {}) or {}
    events = lock_events(
        lock=lock, kind=f.get("kind", ""), since=f.get("since"), until=f.get("until")
    )
    caps = lock.capabilities
    return page(
        request,
        "web/locks/detail.html",
        tenant,
        {
            "lock": lock,
            "capabilities": sorted(caps),
            "actions": ACTIONS if Capability.ACTIONS in caps else (),
            "codes": lock_codes(lock=lock),
            "backups": backup_pool(lock=lock),
            "pool_form": pool_form
            or BackupPoolForm(initial={"backup_pool_size": lock.backup_pool_size}),
            "commands": recent_commands(lock=lock),
            "failed": failed_commands(organization=tenant.organization, lock=lock, limit=5),
            "filters": filters,
            "kinds": lock_event_kinds(lock=lock),
            "events": paginate(request, events),
            "query": request.GET.urlencode(),
        },
        status,
    )


@login_required
def lock_events_export(request, slug: str, pk: int):
    tenant = page_tenant(request, slug)
    lock = get_scoped_or_404(Lock.objects.select_related("property"), tenant, pk=pk)
    zone_name = read_in(zone_of(tenant.organization, lock.property))  # times and date filter
    filters = EventFilterForm(request.GET or None)
    filters.is_valid()
    f = getattr(filters, "cleaned_data", {}) or {}
    events = lock_events(
        lock=lock, kind=f.get("kind", ""), since=f.get("since"), until=f.get("until")
    )
    body = lock_events_csv(events=events, tz=zone(zone_name))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="lock-{lock.pk}-activity.csv"'
    return response


@login_required
@require_POST
def lock_action(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    lock = get_scoped_or_404(Lock, tenant, pk=pk)
    try:
        command = lock_action_request(lock=lock, action=request.POST.get("action", ""))
    except ActionRefused as exc:
        messages.error(request, advice(str(exc)))
        return redirect("lock-page", slug=slug, pk=pk)
    if getattr(request, "htmx", False):
        return page(
            request,
            "web/commands/_status.html",
            tenant,
            {"cmd": command, "state": action_state(command)},
        )
    messages.info(request, _("Sent to the lock."))
    return redirect("lock-page", slug=slug, pk=pk)


@login_required
@require_POST
def lock_backup_pool(request, slug: str, pk: int):
    """Set how many backup codes the lock keeps; the pool fills (or shrinks) after commit."""
    tenant = page_tenant(request, slug, write=True)
    lock = get_scoped_or_404(
        Lock.objects.select_related("property", "bridge", "agent"), tenant, pk=pk
    )
    form = BackupPoolForm(request.POST)
    if not form.is_valid():
        return _lock_page(request, tenant, lock, pool_form=form, status=400)
    size = form.cleaned_data["backup_pool_size"]
    lock_update(lock=lock, backup_pool_size=size)
    if size and Capability.CODES not in lock.capabilities:
        messages.warning(request, _("Saved, but this lock cannot hold keypad codes: no pool."))
    else:
        messages.success(request, _("Backup pool saved; the lock gets its codes shortly."))
    return redirect("lock-page", slug=slug, pk=pk)


@login_required
def lock_backup_codes(request, slug: str, pk: int):
    """The pool's digits, only when asked for, and only to owners and managers."""
    tenant = page_tenant(request, slug, write=True)
    lock = get_scoped_or_404(Lock, tenant, pk=pk)
    response = page(
        request,
        "web/locks/_backup_codes.html",
        tenant,
        {"lock": lock, "backups": backup_pool_codes(lock=lock)},
    )
    response["Cache-Control"] = "no-store"
    return response
