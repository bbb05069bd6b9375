"""The bookings' URLs: the REST endpoints, the PMS webhook and the guest's stay page. Included
by the root URLconf (portal/urls.py); the manager's pages are in web/urls.py."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from bookings.api import BookingViewSet
from bookings.ical.api import IcalFeedViewSet
from bookings.pms.api import PmsConnectionViewSet
from bookings.pms.views import pms_webhook
from bookings.standing.api import StandingAccessViewSet
from bookings.stay.views import stay_open_door, stay_opening, stay_page

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("bookings", BookingViewSet, basename="booking")
router.register("ical-feeds", IcalFeedViewSet, basename="icalfeed")
router.register("standing-access", StandingAccessViewSet, basename="standing-access")
router.register("pms-connections", PmsConnectionViewSet, basename="pms-connection")

urlpatterns = [
    path("api/v1/", include(router.urls)),
    path("hooks/pms/<str:key>/", pms_webhook, name="pms-webhook"),
    path("stay/<str:token>/", stay_page, name="stay"),
    path("stay/<str:token>/open/", stay_open_door, name="stay-open"),
    path("stay/<str:token>/opening/<str:ref>/", stay_opening, name="stay-opening"),
]
