"""ASGI entry point: `gunicorn portal.asgi -k portal.asgi_worker.UvicornWorker` (Procfile,
docker-compose). Agent long-polls (locks.integrations.ble_agent.api) are async views that
wait without a thread; every other view is sync and runs, with the whole middleware chain, in
one step on a kept thread (PooledThreadHandler, below).

Long-polls (LATCHKEY_LONG_POLL_PATHS) go to a second Django handler that gives a request no
thread of its own. Django's own handler opens a "thread-sensitive context" per request, and the
first short database step of a poll then starts a thread that lives until the request ends:
one idle thread per waiting agent, hundreds for hundreds of agents. Without that context the
polls' short steps (token check, claim) take turns on one shared thread, and a waiting poll
is only a coroutine. Every middleware runs in both modes (portal.middleware), so none of them
parks a thread either.

Every other request runs its sync steps on a thread taken from a pool of kept threads
(`PooledThreadHandler`), not on one started for it and joined after it: Django's own handler
starts a thread per request, and the event loop itself waits for each start (and for the
thread that joins it). With another tenant's burst keeping the interpreter busy those waits
grew long, and every request of every tenant waited behind them in the loop (py-spy in
bench/noisy_neighbour.py: the loop blocked in `Thread.start` and in asgiref's join).

Database connections come from a pool per process here (LATCHKEY_DB_POOL, on PostgreSQL; at
most LATCHKEY_DB_POOL_MAX, 20): under ASGI each sync request runs in a fresh thread, so a
connection kept per thread (CONN_MAX_AGE) would be one left behind by every request.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("LATCHKEY_DB_POOL", "true")

import threading
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from portal.startup import settle


class LongPollHandler(ASGIHandler):
    """Django's handler without a thread per request: its sync steps share one thread."""

    async def __call__(self, scope, receive, send):
        await self.handle(scope, receive, send)


class ThreadPool:
    """Single-thread executors kept for reuse: one per request in flight, at most `keep` idle.
    A request's sync steps all run on its executor's one thread, as on the thread Django would
    have started for it (its connection, its thread-locals), and that thread is there already."""

    def __init__(self, *, keep: int, warm: int):
        self.keep, self.idle, self.guard = keep, [], threading.Lock()
        for executor in [self.take() for _ in range(warm)]:
            executor.submit(int).result()  # start its thread now, not in a request
            self.give(executor)

    def take(self) -> ThreadPoolExecutor:
        with self.guard:
            if self.idle:
                return self.idle.pop()
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def give(self, executor: ThreadPoolExecutor) -> None:
        with self.guard:
            if len(self.idle) < self.keep:
                self.idle.append(executor)
                return
        executor.shutdown(wait=False)  # a burst is over: its thread ends on its own


class PooledThreadHandler(ASGIHandler):
    """Django's handler, each request's sync steps on a kept thread (`ThreadPool`), and its
    whole middleware chain and view in one step there.

    Why one step: with the chain loaded for async, each sync middleware hook (sessions, CSRF,
    security, messages...) and the view is its own trip from the event loop to the request's
    thread and back, a dozen or more per request. Each trip needs the interpreter twice, and
    under another tenant's burst every one of them queued for it (B's ping in
    bench/noisy_neighbour.py: hundreds of ms while the loop itself sat idle). Loaded for sync,
    as under WSGI, the chain is one trip. Long-polls keep the async chain (LongPollHandler)."""

    def __init__(self, pool: ThreadPool):
        super().__init__()
        self.load_middleware(is_async=False)
        self.pool = pool

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def __call__(self, scope, receive, send):
        executor = self.pool.take()
        try:
            # The caller owns the executor: asgiref neither starts nor joins a thread here.
            async with ThreadSensitiveContext(executor=executor):
                await self.handle(scope, receive, send)
        finally:
            self.pool.give(executor)


class Router:
    """GETs on a long-poll path to `polls`, everything else to `main`."""

    def __init__(self, main, polls, paths):
        self.main, self.polls, self.paths = main, polls, frozenset(paths)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and scope["path"] in self.paths:
            return await self.polls(scope, receive, send)
        return await self.main(scope, receive, send)


django.setup(set_prefix=False)  # as get_asgi_application does
django_application = PooledThreadHandler(ThreadPool(keep=64, warm=8))
application = Router(django_application, LongPollHandler(), paths=settings.LATCHKEY_LONG_POLL_PATHS)
settle()
