"""Account pages outside an organization: re-authentication ("sudo") and invitations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import authenticate, login
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from portal.invitations import invitation_accept, invitation_read
from portal.services import ServiceError
from portal.throttling import note_failed_authentication
from web.access import sudo_grant
from web.forms import AcceptForm, SudoForm

SUDO_FAILURES_ALLOWED = 5


def _safe_next(request, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


@login_required
def sudo(request):
    """Confirm the password again; a few wrong tries sign the session out."""
    form = SudoForm(request.POST or None)
    key = f"sudo-failures:{request.user.pk}"
    if request.method == "POST" and form.is_valid():
        user = authenticate(
            request, username=request.user.get_username(), password=form.cleaned_data["password"]
        )
        if user is not None and user.pk == request.user.pk:
            cache.delete(key)
            sudo_grant(request)
            return redirect(_safe_next(request))
        failures = cache.get_or_set(key, 0, 600) + 1
        cache.set(key, failures, 600)
        if failures >= SUDO_FAILURES_ALLOWED:
            from django.contrib.auth import logout

            logout(request)
            return redirect("login")
        form.add_error("password", _("That is not your password."))
    return render(request, "web/account/sudo.html", {"form": form, "next": _safe_next(request, "")})


def invitation(request, token: str):
    """Public: the signed token is the credential. Signed-in users join with their account
    (it must be the invited address); otherwise they choose a password."""
    inv = invitation_read(token)
    if inv is None:
        if note_failed_authentication(request):  # someone guessing links: slow them down
            return render(request, "registration/throttled.html", status=429)
        return render(request, "web/account/invitation_invalid.html", status=404)
    signed_in = request.user.is_authenticated
    form = None if signed_in else AcceptForm(request.POST or None)
    error = ""
    if request.method == "POST" and (signed_in or form.is_valid()):
        try:
            invitation_accept(
                invitation=inv,
                user=request.user if signed_in else None,
                password="" if signed_in else form.cleaned_data["password"],
            )
        except ServiceError as exc:
            error = str(exc)
        else:
            if not signed_in:
                user = authenticate(
                    request, username=inv.email, password=form.cleaned_data["password"]
                )
                login(request, user)
            messages.success(request, _("Welcome to %(org)s.") % {"org": inv.organization.name})
            return redirect("dashboard", slug=inv.organization.slug)
    return render(
        request, "web/account/invitation.html", {"inv": inv, "form": form, "error": error}
    )
