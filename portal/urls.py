from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.i18n import set_language
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from bookings import views as booking_views
from bookings.api import BookingViewSet
from bookings.ical.api import IcalFeedViewSet
from bookings.pms.api import PmsConnectionViewSet
from bookings.pms.views import pms_webhook
from bookings.standing.api import StandingAccessViewSet
from bookings.stay.views import stay_open_door, stay_opening, stay_page
from locks import agent_api
from locks.api import ActionViewSet, BridgeViewSet, LockViewSet, NukiWebConnectionView
from locks.views import bridge_callback, nuki_web_callback, nuki_web_connect, nuki_web_webhook
from portal.api import OrganizationSettingsView, PingView
from portal.health import healthz
from portal.views import PasswordResetView, RateLimitedLoginView, admin_login
from properties.api import PropertyViewSet

# Swagger UI comes from its CDN: the page's policy allows that origin, scripts still from files
# (the split view serves its start-up script from a URL, not inline) and its one <style> block.
api_docs = csp_update(
    {
        "script-src": ["https://cdn.jsdelivr.net"],
        "style-src": ["https://cdn.jsdelivr.net", "'unsafe-inline'"],
        "img-src": ["https://cdn.jsdelivr.net"],
    }
)(SpectacularSwaggerSplitView.as_view(url_name="schema"))

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("properties", PropertyViewSet, basename="property")
router.register("locks", LockViewSet, basename="lock")
router.register("bookings", BookingViewSet, basename="booking")
router.register("bridges", BridgeViewSet, basename="bridge")
router.register("actions", ActionViewSet, basename="action")
router.register("ical-feeds", IcalFeedViewSet, basename="icalfeed")
router.register("standing-access", StandingAccessViewSet, basename="standing-access")
router.register("pms-connections", PmsConnectionViewSet, basename="pms-connection")

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/ping/", PingView.as_view(), name="ping"),
    path("api/v1/organization/", OrganizationSettingsView.as_view(), name="organization-settings"),
    path("api/v1/nuki-web/", NukiWebConnectionView.as_view(), name="nuki-web-connection"),
    path("api/v1/", include(router.urls)),
    path("hooks/bridge/<str:secret>/", bridge_callback, name="bridge-callback"),
    path("hooks/nuki-web/<str:key>/", nuki_web_webhook, name="nuki-web-webhook"),
    path("hooks/pms/<str:key>/", pms_webhook, name="pms-webhook"),
    path("integrations/nuki-web/callback/", nuki_web_callback, name="nuki-web-callback"),
    path("o/<slug:slug>/integrations/nuki-web/connect/", nuki_web_connect, name="nuki-web-connect"),
    path("agent/v1/enroll", agent_api.EnrollView.as_view(), name="agent-enroll"),
    path("agent/v1/locks", agent_api.LocksView.as_view(), name="agent-locks"),
    path("agent/v1/jobs", agent_api.JobsView.as_view(), name="agent-jobs"),
    path(
        "agent/v1/jobs/<int:pk>/result", agent_api.JobResultView.as_view(), name="agent-job-result"
    ),
    path("agent/v1/events", agent_api.EventsView.as_view(), name="agent-events"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="api-docs"),
    path("accounts/login/", RateLimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("stay/<str:token>/", stay_page, name="stay"),
    path("stay/<str:token>/open/", stay_open_door, name="stay-open"),
    path("stay/<str:token>/opening/<str:ref>/", stay_opening, name="stay-opening"),
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
    path("", booking_views.home, name="home"),
    path("o/<slug:slug>/emails/", booking_views.emails, name="emails"),
    path("", include("web.urls")),
    path("admin/login/", admin_login),  # the admin's own sign-in, under the login limits
    path("admin/", admin.site.urls),
]
