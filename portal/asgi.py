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

Every other request runs on a thread taken from a pool of kept threads
(`PooledThreadHandler`), not on one started for it and joined after it: Django's own handler
starts a thread per request, and the event loop itself waits for each start (and for the
thread that joins it). With another tenant's burst keeping the interpreter busy those waits
grew long, and every request of every tenant waited behind them in the loop (py-spy in
bench/noisy_neighbour.py: the loop blocked in `Thread.start` and in asgiref's join). There it
is handled whole (the signals, the request, the middleware chain and view, the response and its
close), in one trip from the loop and back.

Database connections come from a pool per process here (LATCHKEY_DB_POOL, on PostgreSQL; at
most LATCHKEY_DB_POOL_MAX, 20): under ASGI each sync request runs in a fresh thread, so a
connection kept per thread (CONN_MAX_AGE) would be one left behind by every request.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("LATCHKEY_DB_POOL", "true")

import asyncio
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import django
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse
from django.urls import set_script_prefix

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
    """Each request in ONE trip to a kept thread (`ThreadPool`): there, all of it as Django's
    handlers do it (request_started, Django's ASGIRequest, the middleware chain loaded for sync,
    the view, the response's content and its close, which sends request_finished and gives the
    database connection back). The event loop only reads the body before and writes the answer
    after.

    Why one trip: each trip from the event loop to a thread and back needs the interpreter
    twice, and under another tenant's burst each one queued for it (B's ping in
    bench/noisy_neighbour.py: hundreds of ms while the loop itself sat idle). Django's own
    handler makes a trip per signal, per sync middleware hook loaded for async, for the view and
    for the response's close: about half of a ping's CPU was those trips and the loop's work
    around them. Long-polls keep Django's async handling (LongPollHandler).

    A streamed response (static files, exports) sends its chunks from the thread as it reads
    them. The body is read before the request starts, as Django's handler does, but no further
    than LATCHKEY_MAX_BODY_BYTES: past that the request's length says so and
    portal.middleware answers 413, without the rest being read or stored."""

    def __init__(self, pool: ThreadPool):
        BaseHandler.__init__(self)  # not ASGIHandler's: it loads the chain for async
        self.load_middleware(is_async=False)
        self.pool = pool

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body, size = await self.read_capped(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        executor = self.pool.take()
        try:
            answer = await loop.run_in_executor(
                executor, self.respond, scope, body, size, loop, send
            )
        finally:
            self.pool.give(executor)
            body.close()
        if answer is not None:  # not streamed: its start and content go out from here
            start, content = answer
            await send(start)
            await send({"type": "http.response.body", "body": content})

    async def read_capped(self, receive) -> tuple[tempfile.SpooledTemporaryFile, int]:
        """The request's body (spooled to disk past FILE_UPLOAD_MAX_MEMORY_SIZE) and its
        size; reading stops once it is over LATCHKEY_MAX_BODY_BYTES."""
        limit = settings.LATCHKEY_MAX_BODY_BYTES
        body = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed by __call__ after the answer
            max_size=settings.FILE_UPLOAD_MAX_MEMORY_SIZE
        )
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                body.close()
                raise RequestAborted()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                body.write(chunk)
            if not message.get("more_body", False) or size > limit:
                break
        body.seek(0)
        return body, size

    def request_for(self, scope, body, size: int):
        """Django's request for the scope (`create_request`: or its 400 answer), its length
        the body's size when the client gave none (a chunked body) or sent more than the
        limit: then the size limit answers."""
        request, error = self.create_request(scope, body)
        if request is not None and (
            "CONTENT_LENGTH" not in request.META or size > settings.LATCHKEY_MAX_BODY_BYTES
        ):
            request.META["CONTENT_LENGTH"] = str(size)
        return request, error

    def respond(self, scope, body, size: int, loop, send) -> tuple[dict, bytes] | None:
        """On the request's kept thread: the whole request, up to its response's close."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.request_for(scope, body, size)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__
        try:
            start = {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response_headers(response),
            }
            if not response.streaming:
                return start, response.content
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size  # the server chunks; fewer trips back
            deliver = partial(_deliver, loop, send)
            deliver(start)
            for chunk in response:
                if chunk:
                    deliver({"type": "http.response.body", "body": chunk, "more_body": True})
            deliver({"type": "http.response.body", "body": b""})
            return None
        finally:
            response.close()


def _deliver(loop, send, message: dict) -> None:
    """Send one ASGI message from a request's thread, through the event loop, and wait."""
    asyncio.run_coroutine_threadsafe(send(message), loop).result()


def response_headers(response) -> list[tuple[bytes, bytes]]:
    """A Django response's headers and cookies as ASGI wants them (bytes pairs)."""
    headers = [(name.encode("ascii"), value.encode("latin-1")) for name, value in response.items()]
    for cookie in response.cookies.values():
        headers.append((b"Set-Cookie", cookie.output(header="").strip().encode("ascii")))
    return headers


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
