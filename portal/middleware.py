"""Refuse oversized request bodies with 413 before any view reads them; end idle sessions."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import JsonResponse


class BodySizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
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
        return self.get_response(request)


class SessionIdleMiddleware:
    """Sign a session out after LATCHKEY_SESSION_IDLE_MINUTES without a request.

    Django ends a session SESSION_COOKIE_AGE (the idle time) after it was last saved, in the
    database as well as in the cookie, but saves it only when it changes. This marks a signed-in
    session changed when its last mark is a minute old, so requests keep pushing the end out
    while an idle session expires on the server: a laptop left open is signed out. Once a minute,
    not on every request (SESSION_SAVE_EVERY_REQUEST): one write per minute per user instead of
    one per page and API call. Signing in sets the first mark (`stamp_session`), so no request
    right after it pays a write. Anonymous visitors get no session from this.

    htmx GETs do not count as activity: the live parts poll (Today every 3 s), so an open tab
    would otherwise keep its session for ever. Pages, forms and every POST do count.
    """

    KEY = "_latchkey_seen"
    REFRESH_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        polling = request.method == "GET" and request.headers.get("HX-Request") == "true"
        if session is not None and not polling and session.get(SESSION_KEY):
            seen = session.get(self.KEY)
            if not isinstance(seen, int | float) or time.time() - seen >= self.REFRESH_SECONDS:
                session[self.KEY] = time.time()
        return response


def stamp_session(sender, request, user, **kwargs) -> None:
    """user_logged_in receiver (portal.apps): the idle clock starts at sign-in."""
    if request is not None and hasattr(request, "session"):
        request.session[SessionIdleMiddleware.KEY] = time.time()
