"""The API's human-readable docs: Swagger UI at /api/docs/ and ReDoc at /api/redoc/.

Both are served from the portal itself (drf-spectacular-sidecar's copies under /static/, chosen
in SPECTACULAR_SETTINGS), never from a CDN: the docs work offline and on networks that block
third-party hosts, and the Content-Security-Policy needs no outside origin. Our templates hold
no inline <script> or <style> (the page styles are a static file; Swagger UI's start-up script
comes from the split view's own URL), so no 'unsafe-inline' is needed for scripts.

Its `urlpatterns` are included by portal/urls.py under /api/.
"""

from __future__ import annotations

from csp.decorators import csp_update
from django.urls import path
from django.utils.decorators import method_decorator
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView


class SwaggerDocsView(SpectacularSwaggerSplitView):
    """Swagger UI ("Try it out", "Authorize" with an API key) under the default policy."""

    template_name = "api/swagger_ui.html"


# ReDoc renders with styled-components, which inserts <style> elements at run time, and runs its
# search index in a Web Worker made from a blob: URL. Styles cannot run code; scripts stay 'self'.
@method_decorator(
    csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]}),
    name="dispatch",
)
class RedocDocsView(SpectacularRedocView):
    """ReDoc: the same schema as one long, searchable reference page."""

    template_name = "api/redoc.html"


urlpatterns = [
    path("docs/", SwaggerDocsView.as_view(url_name="schema"), name="api-docs"),
    path("redoc/", RedocDocsView.as_view(url_name="schema"), name="api-redoc"),
]
