"""Under ASGI no request starts a thread: each runs its sync steps on a kept one
(portal/asgi.py, PooledThreadHandler). Django's own handler starts a thread per request, and
the event loop waits for every start: under another tenant's burst, every tenant's requests
queued behind those waits (bench/noisy_neighbour.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _scope(path: str) -> dict:
    return {"type": "http", "method": "GET", "path": path, "raw_path": path.encode(),
            "query_string": b"", "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
            "scheme": "http", "http_version": "1.1", "asgi": {"version": "3.0"}}  # fmt: skip


async def _get(app, path: str) -> int:
    sent: list[dict] = []
    bodies = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict:
        if bodies:
            return bodies.pop()
        await asyncio.Event().wait()  # the client stays: Django stops listening when done
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    await app(_scope(path), receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


def _count_starts(monkeypatch) -> list[str]:
    started: list[str] = []
    real_start = threading.Thread.start

    def start(self):
        started.append(self.name)
        return real_start(self)

    monkeypatch.setattr(threading.Thread, "start", start)
    return started


def test_requests_run_on_kept_threads_and_start_none(monkeypatch):
    from portal.asgi import PooledThreadHandler, ThreadPool

    app = PooledThreadHandler(ThreadPool(keep=4, warm=2))
    started = _count_starts(monkeypatch)

    async def many() -> list[int]:
        return [await _get(app, "/healthz") for _ in range(20)]

    assert asyncio.run(many()) == [200] * 20
    assert started == []
    assert len(app.pool.idle) == 2  # both kept threads back in the pool


def test_django_handler_starts_threads_per_request(monkeypatch):
    """The comparison: what PooledThreadHandler saves."""
    from django.core.handlers.asgi import ASGIHandler

    app = ASGIHandler()
    started = _count_starts(monkeypatch)

    async def many() -> list[int]:
        return [await _get(app, "/healthz") for _ in range(5)]

    assert asyncio.run(many()) == [200] * 5
    assert len(started) >= 5


def test_a_burst_grows_the_pool_and_keeps_at_most_its_share():
    from portal.asgi import PooledThreadHandler, ThreadPool

    app = PooledThreadHandler(ThreadPool(keep=3, warm=0))

    async def burst() -> list[int]:
        return await asyncio.gather(*(_get(app, "/healthz") for _ in range(8)))

    assert asyncio.run(burst()) == [200] * 8
    assert len(app.pool.idle) == 3


def _count_trips(monkeypatch) -> list[str]:
    """Every hand-over of sync work from the event loop to a thread."""
    from concurrent.futures import ThreadPoolExecutor

    trips: list[str] = []
    real_submit = ThreadPoolExecutor.submit

    def submit(self, fn, /, *args, **kwargs):
        trips.append(getattr(fn, "__qualname__", repr(fn)))
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(ThreadPoolExecutor, "submit", submit)
    return trips


def test_a_request_is_one_trip(monkeypatch):
    """Each trip from the loop to the request's thread needs the interpreter twice; under
    another tenant's burst each one queued. The signals, the chain loaded for sync, the view
    and the response's close are one trip; Django's own handler makes several."""
    from django.core.handlers.asgi import ASGIHandler

    from portal.asgi import PooledThreadHandler, ThreadPool

    pooled = PooledThreadHandler(ThreadPool(keep=2, warm=1))
    django_own = ASGIHandler()
    asyncio.run(_get(pooled, "/healthz"))  # first requests of each: imports, URL resolver
    asyncio.run(_get(django_own, "/healthz"))
    trips = _count_trips(monkeypatch)
    assert asyncio.run(_get(pooled, "/healthz")) == 200
    ours = list(trips)
    trips.clear()
    assert asyncio.run(_get(django_own, "/healthz")) == 200
    assert len(ours) == 1
    assert len(trips) >= 3


async def _exchange(app, scope: dict, bodies: list[dict]) -> tuple[dict, bytes, int]:
    """Send `bodies` as the request; the answer's start, its body, and how many of the
    request's messages the app read."""
    sent: list[dict] = []
    pending = list(bodies)

    async def receive() -> dict:
        if pending:
            return pending.pop(0)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start, body, len(bodies) - len(pending)


def _post(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {**_scope(path), "method": "POST", "headers": [(b"host", b"testserver"), *headers]}


def test_a_chunked_body_reaches_the_view(world):
    """A body sent without Content-Length (chunked) is read whole and the view sees it, as
    under Django's ASGI handler (Django's WSGI request alone would read nothing)."""
    from portal.asgi import PooledThreadHandler, ThreadPool

    app = PooledThreadHandler(ThreadPool(keep=1, warm=0))
    scope = _post("/api/v1/properties/", [
        (b"authorization", f"Bearer {world.write_key}".encode()),
        (b"content-type", b"application/json"),
    ])  # fmt: skip
    halves = [b'{"name": "Chunked ', b'Loft", "timezone": "Europe/Vienna", "address": "A 1"}']
    bodies = [{"type": "http.request", "body": half, "more_body": i == 0}
              for i, half in enumerate(halves)]  # fmt: skip
    start, body, _ = asyncio.run(_exchange(app, scope, bodies))
    assert start["status"] == 201, body
    assert b"Chunked Loft" in body


def test_a_body_over_the_limit_is_413_without_reading_the_rest(world, settings):
    from portal.asgi import PooledThreadHandler, ThreadPool
    from properties.models import Property

    settings.LATCHKEY_MAX_BODY_BYTES = 1000
    app = PooledThreadHandler(ThreadPool(keep=1, warm=0))
    scope = _post("/api/v1/properties/", [
        (b"authorization", f"Bearer {world.write_key}".encode()),
        (b"content-type", b"application/json"),
    ])  # fmt: skip
    chunk = {"type": "http.request", "body": b"x" * 600, "more_body": True}
    start, body, read = asyncio.run(_exchange(app, scope, [chunk] * 50))
    assert start["status"] == 413
    assert b"Request body too large" in body
    assert read == 2  # stopped at the first chunk past the limit
    assert not Property.objects.exists()


def test_a_streamed_answer_goes_out_chunk_by_chunk(settings):
    from portal.asgi import PooledThreadHandler, ThreadPool

    settings.ROOT_URLCONF = "portal.tests.streaming_urls"
    app = PooledThreadHandler(ThreadPool(keep=1, warm=0))
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(_scope("/stream/"), receive, send))
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    assert (b"content-type", b"text/plain") in [(k.lower(), v) for k, v in sent[0]["headers"]]
    assert [m.get("body") for m in sent[1:]] == [b"one,", b"two,", b"three", b""]
    assert [m.get("more_body", False) for m in sent[1:]] == [True, True, True, False]


def test_cookies_and_repeated_headers_pass_both_ways(world):
    """Set-Cookie headers go out one per cookie; a repeated request header reaches Django
    joined with commas, as Django's ASGI request joins it."""
    import io

    from portal.asgi import PooledThreadHandler, ThreadPool

    scope = {**_scope("/x/"), "headers": [(b"accept", b"a"), (b"accept", b"b"),
                                          (b"content-type", b"text/plain")]}  # fmt: skip
    handler = PooledThreadHandler(ThreadPool(keep=0, warm=0))
    request, _ = handler.request_for(scope, io.BytesIO(), 0)
    environ = request.META
    assert environ["HTTP_ACCEPT"] == "a,b"
    assert environ["CONTENT_TYPE"] == "text/plain" and environ["CONTENT_LENGTH"] == "0"
    assert environ["REMOTE_ADDR"] == "127.0.0.1" and environ["SERVER_NAME"] == "testserver"
