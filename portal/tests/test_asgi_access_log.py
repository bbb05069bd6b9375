"""The ASGI access log says what happened: the app's status, 500 when the app failed, and 499
(nginx's "client closed request") when the client left before any answer, not a 500 that
reads as a server error (agents and benchmarks close long-polls all the time)."""

from __future__ import annotations

import asyncio

import pytest

from portal.asgi_worker import CLIENT_CLOSED, AccessLog


class Log:
    access_log_enabled = True

    def __init__(self):
        self.lines = []

    def access(self, resp, req, environ, elapsed):
        self.lines.append((resp.status, resp.sent, environ["RAW_URI"]))


SCOPE = {"type": "http", "method": "GET", "path": "/agent/v1/jobs", "query_string": b"wait=30",
         "headers": [], "client": ("127.0.0.1", 5000)}  # fmt: skip


def run(app) -> tuple[list, list]:
    log, sent = Log(), []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    asyncio.run(AccessLog(app, log)(SCOPE, receive, send))
    return log.lines, sent


def test_an_answer_is_logged_with_its_status_and_size():
    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"jobs": []}'})

    lines, sent = run(app)
    assert lines == [(200, 12, "/agent/v1/jobs?wait=30")]
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]


def test_a_client_that_left_before_the_answer_is_499_not_500():
    async def app(scope, receive, send):
        return  # Django stops a request whose client disconnected, sending nothing

    assert run(app)[0] == [(CLIENT_CLOSED, 0, "/agent/v1/jobs?wait=30")]


def test_an_app_that_fails_is_logged_500():
    log = Log()

    async def app(scope, receive, send):
        raise RuntimeError("boom")

    async def main():
        with pytest.raises(RuntimeError):
            await AccessLog(app, log)(SCOPE, None, None)

    asyncio.run(main())
    assert log.lines == [(500, 0, "/agent/v1/jobs?wait=30")]
