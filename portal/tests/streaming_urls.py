"""A URLconf for portal/tests/test_asgi_threads.py: one view whose answer is streamed."""

from django.http import StreamingHttpResponse
from django.urls import path


def stream(request):
    return StreamingHttpResponse(iter([b"one,", b"two,", b"three"]), content_type="text/plain")


urlpatterns = [path("stream/", stream)]
