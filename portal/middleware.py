"""Refuse oversized request bodies with 413 before any view reads them; end idle sessions; serve
static files. Each runs in the server's own mode (sync under WSGI, async under ASGI).

Why both modes: Django runs a sync-only middleware under ASGI in a thread that then waits for
the rest of the chain, the view included. One such middleware made every agent long-poll
(locks.integrations.ble_agent.api, an async view) hold a thread for its whole wait.
"""

from __future__ import annotations

import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import JsonResponse
from django.utils.decorators import sync_and_async_middleware
from whitenoise.middleware import WhiteNoiseMiddleware

SESSION_SEEN_KEY = "_latchkey_seen"
SESSION_REFRESH_SECONDS = 60


def _too_large(request) -> JsonResponse | None:
    limit = settings.LATCHKEY_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"detail": "Invalid Content-Length header."}, status=400)
    if length > limit:
        return JsonResponse(
            {"detail": f"Request body too large: the limit is {limit // 1024} KiB."},
            status=413,
        )
    return None


@sync_and_async_middleware
def body_size_limit_middleware(get_response):
    if iscoroutinefunction(get_response):

        async def middleware(request):
            return _too_large(request) or await get_response(request)

    else:

        def middleware(request):
            return _too_large(request) or get_response(request)

    return middleware


def _counts_as_activity(request) -> bool:
    """htmx GETs do not count: the live parts poll (Today every 3 s), so an open tab would
    otherwise keep its session for ever. Pages, forms and every POST do count."""
    polling = request.method == "GET" and request.headers.get("HX-Request") == "true"
    return getattr(request, "session", None) is not None and not polling


def _stale(seen) -> bool:
    return not isinstance(seen, int | float) or time.time() - seen >= SESSION_REFRESH_SECONDS


@sync_and_async_middleware
def session_idle_middleware(get_response):
    """Sign a session out after LATCHKEY_SESSION_IDLE_MINUTES without a request.

    Django ends a session SESSION_COOKIE_AGE (the idle time) after it was last saved, in the
    database as well as in the cookie, but saves it only when it changes. This marks a signed-in
    session changed when its last mark is a minute old, so requests keep pushing the end out
    while an idle session expires on the server: a laptop left open is signed out. Once a minute,
    not on every request (SESSION_SAVE_EVERY_REQUEST): one write per minute per user instead of
    one per page and API call. Signing in sets the first mark (`stamp_session`), so no request
    right after it pays a write. Anonymous visitors get no session from this.
    """
    if iscoroutinefunction(get_response):

        async def middleware(request):
            response = await get_response(request)
            if (
                _counts_as_activity(request)
                and await request.session.aget(SESSION_KEY)
                and _stale(await request.session.aget(SESSION_SEEN_KEY))
            ):
                await request.session.aset(SESSION_SEEN_KEY, time.time())
            return response

    else:

        def middleware(request):
            response = get_response(request)
            if (
                _counts_as_activity(request)
                and request.session.get(SESSION_KEY)
                and _stale(request.session.get(SESSION_SEEN_KEY))
            ):
                request.session[SESSION_SEEN_KEY] = time.time()
            return response

    return middleware


def stamp_session(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver (portal.apps): the idle clock starts at sign-in."""
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_SEEN_KEY] = time.time()


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise (sync only in 6.x) with an async path: a static file is looked up and opened
    in a thread, anything else goes on without one."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, settings=settings):
        super().__init__(get_response, settings=settings)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request):
        if self.autorefresh:  # DEBUG: looks on disk
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
