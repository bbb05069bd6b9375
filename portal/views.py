"""Sign-in, throttled per client address so a stranger cannot guess passwords at speed."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpResponse
from django.template.loader import render_to_string

LOGIN_FAILURES_ALLOWED = 10
LOGIN_WINDOW_SECONDS = 300


def _client_ip(request) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


class RateLimitedLoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def _key(self) -> str:
        return f"login-failures:{_client_ip(self.request)}"

    def post(self, request, *args, **kwargs):
        limit = getattr(settings, "LATCHKEY_LOGIN_FAILURES_ALLOWED", LOGIN_FAILURES_ALLOWED)
        if (cache.get(self._key()) or 0) >= limit:
            body = render_to_string("registration/throttled.html", request=request)
            return HttpResponse(body, status=429)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        try:
            cache.incr(self._key())
        except ValueError:
            cache.set(self._key(), 1, LOGIN_WINDOW_SECONDS)
        return super().form_invalid(form)


RESET_PER_HOUR = 5


class PasswordResetView(auth_views.PasswordResetView):
    """Password reset emails, a few per client address per hour: a stranger cannot use the
    form to flood someone's inbox. The answer never says whether the address has an account."""

    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def post(self, request, *args, **kwargs):
        key = f"password-resets:{_client_ip(request)}"
        count = cache.get_or_set(key, 0, 3600)
        if count >= RESET_PER_HOUR:
            body = render_to_string("registration/throttled.html", request=request)
            return HttpResponse(body, status=429)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, 3600)
        return super().post(request, *args, **kwargs)
