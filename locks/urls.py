"""The locks' URLs: the REST endpoints, the integrations' callbacks and webhooks (bridge, Nuki
Web), the Nuki Web connect flow and the on-site agent's API. Included by the root URLconf
(portal/urls.py); the manager's pages are in web/urls.py."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from locks.api import ActionViewSet, LockViewSet
from locks.integrations.ble_agent import api as agent_api
from locks.integrations.bridge.api import BridgeViewSet
from locks.integrations.bridge.views import bridge_callback
from locks.integrations.nuki_web.api import NukiWebConnectionView
from locks.integrations.nuki_web.views import nuki_web_callback, nuki_web_connect, nuki_web_webhook

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("locks", LockViewSet, basename="lock")
router.register("bridges", BridgeViewSet, basename="bridge")
router.register("actions", ActionViewSet, basename="action")

urlpatterns = [
    path("api/v1/nuki-web/", NukiWebConnectionView.as_view(), name="nuki-web-connection"),
    path("api/v1/", include(router.urls)),
    path("hooks/bridge/<str:secret>/", bridge_callback, name="bridge-callback"),
    path("hooks/nuki-web/<str:key>/", nuki_web_webhook, name="nuki-web-webhook"),
    path("integrations/nuki-web/callback/", nuki_web_callback, name="nuki-web-callback"),
    path("o/<slug:slug>/integrations/nuki-web/connect/", nuki_web_connect, name="nuki-web-connect"),
    path("agent/v1/enroll", agent_api.EnrollView.as_view(), name="agent-enroll"),
    path("agent/v1/locks", agent_api.LocksView.as_view(), name="agent-locks"),
    path("agent/v1/jobs", agent_api.JobsView.as_view(), name="agent-jobs"),
    path(
        "agent/v1/jobs/<int:pk>/result", agent_api.JobResultView.as_view(), name="agent-job-result"
    ),
    path("agent/v1/events", agent_api.EventsView.as_view(), name="agent-events"),
]
