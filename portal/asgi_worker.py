"""gunicorn's worker for the ASGI app: uvicorn_worker.UvicornWorker, with the access log that
gunicorn's own workers write (`--access-logformat`, `--logger-class`), masked as before.

Why not uvicorn's access log: it has its own fixed format (no size, no referer) and skips the
logger class, so portal.access_log.MaskingGunicornLogger would mask nothing. Here a thin ASGI
wrapper times each request and hands gunicorn's logger the same atoms a sync worker does.
uvicorn's proxy-header rewrite is off: the client address is decided by the portal's one rule
(portal.client_address, LATCHKEY_TRUSTED_PROXIES), as under the sync workers. Imported by
gunicorn before Django is set up: nothing here needs settings.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from types import SimpleNamespace
from typing import Any

from uvicorn_worker import UvicornWorker as BaseUvicornWorker

from portal.log_masking import MaskTokensFilter

CLIENT_CLOSED = 499


def _environ(scope: dict) -> dict[str, str]:
    """The WSGI-style environ gunicorn's logger reads, from an ASGI scope."""
    path = scope.get("raw_path") or scope.get("path", "").encode()
    query = scope.get("query_string") or b""
    raw_uri = path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    client = scope.get("client") or ("-", 0)
    environ = {
        "REMOTE_ADDR": client[0],
        "REQUEST_METHOD": scope.get("method", ""),
        "RAW_URI": raw_uri,
        "PATH_INFO": scope.get("path", ""),
        "QUERY_STRING": query.decode("latin-1"),
        "SERVER_PROTOCOL": "HTTP/" + scope.get("http_version", "1.1"),
    }
    for name, value in scope.get("headers", []):
        key = "HTTP_" + name.decode("latin-1").upper().replace("-", "_")
        environ[key] = value.decode("latin-1")
    return environ


class AccessLog:
    """ASGI middleware: one gunicorn access line per HTTP request, after its response."""

    def __init__(self, app: Any, log: Any):
        self.app, self.log = app, log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.log.access_log_enabled:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        resp = SimpleNamespace(status=None, sent=0, headers=[])

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                resp.status = message["status"]
                resp.headers = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                ]
            elif message["type"] == "http.response.body":
                resp.sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            resp.status = resp.status or 500  # uvicorn answers 500 for the app
            raise
        finally:
            if resp.status is None:
                # No answer was started and the app did not fail: the client went away first
                # (Django stops a request whose client disconnected). nginx's 499, not a 500
                # that would read as a server error in the log.
                resp.status = CLIENT_CLOSED
            headers = [
                (k.decode("latin-1").upper(), v.decode("latin-1"))
                for k, v in scope.get("headers", [])
            ]
            elapsed = dt.timedelta(seconds=time.monotonic() - started)
            self.log.access(resp, SimpleNamespace(headers=headers), _environ(scope), elapsed)


class UvicornWorker(BaseUvicornWorker):
    """`-k portal.asgi_worker.UvicornWorker`: uvicorn under gunicorn, gunicorn's access log."""

    # httptools and uvloop by name, not "auto": "auto" quietly fell back to h11 and asyncio's own
    # loop when they were not installed (they were not), and the event loop is the one thread
    # every request of the process passes through: h11 took 0.21 ms of CPU per request there,
    # httptools with uvloop 0.07 ms (a request with an empty answer, measured with uvicorn).
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "proxy_headers": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's loggers write through gunicorn's handlers, past the filter gunicorn's
        # error logger has: give them the same (an error line may name a URL).
        for name in ("uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, MaskTokensFilter) for f in logger.filters):
                logger.addFilter(MaskTokensFilter())

    def load_wsgi(self) -> None:
        super().load_wsgi()
        self.wsgi = AccessLog(self.wsgi, self.log)
