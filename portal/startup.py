"""What both server entry points (portal.wsgi, portal.asgi) do once Django is set up."""

import gc


def settle() -> None:
    """Load the URL configuration (and every view module it imports) now rather than on the
    first request, then move all that was loaded out of the garbage collector's sight.

    Why: a full collection walks every object alive, and Django's import-time objects are
    most of them: one such pass held a worker for ~90 ms, far above the p99 this server is
    held to (bench/ingest.py). Frozen objects are never freed, which is what they are anyway.
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the property loads the modules)
    gc.freeze()
