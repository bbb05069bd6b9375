"""The web's uvicorn runs the C HTTP parser and event loop (portal/asgi_worker.py): named, so a
deployment without them fails at start instead of quietly serving on the slower pure-Python
ones, as it did while "auto" was asked for and neither was installed."""

from __future__ import annotations

import asyncio

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from portal.asgi_worker import UvicornWorker


async def _app(scope, receive, send) -> None:  # pragma: no cover - never called
    raise AssertionError("not served")


def test_the_worker_asks_for_httptools_and_uvloop_and_gets_them():
    config = uvicorn.Config(_app, **UvicornWorker.CONFIG_KWARGS)
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
    loop = config.get_loop_factory()()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_asyncio_alone_would_not_do():
    config = uvicorn.Config(_app, **{**UvicornWorker.CONFIG_KWARGS, "loop": "asyncio"})
    config.load()
    factory = config.get_loop_factory()
    loop = factory() if factory else asyncio.new_event_loop()
    try:
        assert not isinstance(loop, uvloop.Loop)  # the check above can tell the two apart
    finally:
        loop.close()
