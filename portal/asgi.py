"""ASGI entry point: `gunicorn portal.asgi -k portal.asgi_worker.UvicornWorker` (Procfile,
docker-compose). Agent long-polls (locks.integrations.ble_agent.api) are async views that
wait without a thread; every other view is sync and Django runs it in a thread of its own per
request.

Long-polls (LATCHKEY_LONG_POLL_PATHS) go to a second Django handler that gives a request no
thread of its own. Django's own handler opens a "thread-sensitive context" per request, and the
first short database step of a poll then starts a thread that lives until the request ends:
one idle thread per waiting agent, hundreds for hundreds of agents. Without that context the
polls' short steps (token check, claim) take turns on one shared thread, and a waiting poll
is only a coroutine. Every middleware runs in both modes (portal.middleware), so none of them
parks a thread either.

Database connections come from a pool per process here (LATCHKEY_DB_POOL, on PostgreSQL; at
most LATCHKEY_DB_POOL_MAX, 20): under ASGI each sync request runs in a fresh thread, so a
connection kept per thread (CONN_MAX_AGE) would be one left behind by every request.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("LATCHKEY_DB_POOL", "true")

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.handlers.asgi import ASGIHandler

from portal.startup import settle


class LongPollHandler(ASGIHandler):
    """Django's handler without a thread per request: its sync steps share one thread."""

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


class Router:
    """GETs on a long-poll path to `polls`, everything else to `main`."""

    def __init__(self, main, polls, paths):
        self.main, self.polls, self.paths = main, polls, frozenset(paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in self.paths:
            return await self.polls(scope, receive, send)
        return await self.main(scope, receive, send)


django_application = get_asgi_application()
application = Router(django_application, LongPollHandler(), paths=settings.LATCHKEY_LONG_POLL_PATHS)
settle()
