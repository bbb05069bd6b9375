"""The properties' REST endpoints, included by the root URLconf (portal/urls.py)."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from properties.api import PropertyViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("properties", PropertyViewSet, basename="property")

urlpatterns = [
    path("api/v1/", include(router.urls)),
]
