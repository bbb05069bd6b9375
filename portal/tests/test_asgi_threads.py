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


def test_the_middleware_chain_and_the_view_are_one_trip(monkeypatch):
    """Each trip from the loop to the request's thread needs the interpreter twice; under
    another tenant's burst each one queued. The chain loaded for sync is one trip."""
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
    assert len(ours) <= 4
    assert len(trips) >= 2 * len(ours)
