"""Sign-in pages (ours and Django admin's), throttled per client address and per username so a
stranger cannot guess passwords at speed (portal.throttling.login_attempt_allowed)."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.template.loader import render_to_string

from portal.throttling import client_ip, count_hit, login_attempt_allowed, login_succeeded


def _throttled(request) -> HttpResponse:
    body = render_to_string("registration/throttled.html", request=request)
    return HttpResponse(body, status=429)


class RateLimitedLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        if not login_attempt_allowed(request=request, username=request.POST.get("username", "")):
            return _throttled(request)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        login_succeeded(request=self.request, username=self.request.POST.get("username", ""))
        return super().form_valid(form)


def admin_login(request, extra_context=None):
    """Django admin's sign-in (/admin/login/) under the same limits as ours: it checks the same
    passwords, so it must not be the way around them."""
    if request.method != "POST":
        return admin.site.login(request, extra_context)
    username = request.POST.get("username", "")
    if not login_attempt_allowed(request=request, username=username):
        return _throttled(request)
    response = admin.site.login(request, extra_context)
    if response.status_code == 302:  # the admin's LoginView redirects only a valid sign-in
        login_succeeded(request=request, username=username)
    return response


RESET_PER_HOUR = 5


class PasswordResetView(auth_views.PasswordResetView):
    """Password reset emails, a few per client address per hour: a stranger cannot use the
    form to flood someone's inbox. The answer never says whether the address has an account."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def post(self, request, *args, **kwargs):
        key = f"password-resets:{client_ip(request)}"
        if count_hit(key, 3600) > RESET_PER_HOUR:  # counted first: parallel ones cannot overshoot
            return _throttled(request)
        return super().post(request, *args, **kwargs)
