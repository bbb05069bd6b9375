"""The root URLconf: the floor's own endpoints (health, ping, organization settings, API schema,
sign-in, admin) and each app's `urls.py`, included by dotted path so portal imports no app."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView

from portal.api import OrganizationSettingsView, PingView
from portal.favicon import favicon
from portal.health import healthz
from portal.views import PasswordResetView, RateLimitedLoginView, admin_login

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("api/v1/ping/", PingView.as_view(), name="ping"),
    path("api/v1/organization/", OrganizationSettingsView.as_view(), name="organization-settings"),
    # Each app owns its URLs; included by dotted path, so the floor imports no app above it.
    path("", include("properties.urls")),
    path("", include("locks.urls")),
    path("", include("bookings.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/", include("portal.api_docs")),  # /api/docs/ (Swagger UI), /api/redoc/
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/reset/", PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/password/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("web.urls")),
    path("admin/login/", admin_login),  # the admin's own sign-in, under the login limits
    path("admin/", admin.site.urls),
]
