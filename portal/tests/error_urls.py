"""The portal's URLs plus a view that refuses (403) and one that breaks (500), for
test_error_pages.py."""

from django.core.exceptions import PermissionDenied
from django.urls import path

from portal.urls import urlpatterns as portal_urlpatterns


def refuse(request):
    raise PermissionDenied("Only owners can do this.")


def crash(request):
    raise RuntimeError("a fault in the portal")


urlpatterns = [
    path("test-errors/403/", refuse),
    path("test-errors/500/", crash),
    *portal_urlpatterns,
]
