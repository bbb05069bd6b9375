"""The HTTP plumbing every simulator shares: a threaded loopback server and a callback receiver.

The bridge and Nuki Web stand-ins serve their API from a `LoopbackServer` run by a
`ServerThread`; tests point the bridge's callbacks and Nuki Web's webhooks at a
`CallbackReceiver` (each simulator keeps a thin subclass with the view its tests read). Stdlib
only, no Django.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class LoopbackServer(ThreadingHTTPServer):
    """A threaded HTTP server that remembers its open connections.

    `request_queue_size` is large so that many clients connecting at once reach the
    simulator's own answer (a 503, say) instead of a reset; `close_connections()` cuts open
    keep-alive connections so a stopped simulator really stops answering."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class ServerThread:
    """One `LoopbackServer` served by a daemon thread: start(), stop(), port."""

    def __init__(
        self, host: str, port: int, handler: type[BaseHTTPRequestHandler], *, name: str
    ) -> None:
        self.host = host
        self.server = LoopbackServer((host, port), handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=name,
            daemon=True,
        )

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def start(self) -> None:
        self.thread.start()

    def stop(self, *, cut_connections: bool = False) -> None:
        """Stop serving; `cut_connections` also closes idle keep-alive connections."""
        self.server.shutdown()
        if cut_connections:
            self.server.close_connections()
        self.server.server_close()
        self.thread.join(timeout=5)


class CallbackReceiver:
    """A tiny HTTP server that records what a simulator POSTs to it (callbacks, webhooks).

    Every POST is answered 200 with an empty body, after `delay` seconds and, with `gate` (a
    threading.Event), once the gate is set (at most 10 s): to check that a simulator never
    waits for its receivers. The first `fail_first` requests are answered `fail_status` and not
    recorded, to exercise retries. Subclasses decide what to keep in `record()` (called with
    the receiver's condition held) and offer the view their tests read.
    """

    default_path = "/callback"
    thread_name = "callback-receiver"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float = 0.0,
        gate: threading.Event | None = None,
        fail_first: int = 0,
    ) -> None:
        self.host = host
        self.delay = delay
        self.gate = gate
        self.fail_first = fail_first
        self.fail_status = 500
        self.requests = 0
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.receive(self)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s %s", receiver.thread_name, format % args)

        self._service = ServerThread(host, port, Handler, name=self.thread_name)

    def receive(self, request: BaseHTTPRequestHandler) -> None:
        """Read one POST, record it (unless it is one of the failing first ones), answer."""
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if self.delay:
            time.sleep(self.delay)
        if self.gate is not None:
            self.gate.wait(10)
        with self._cond:
            self.requests += 1
            failing = self.requests <= self.fail_first
            if not failing:
                headers = {k.lower(): v for k, v in request.headers.items()}
                self.record(request.path, headers, body)
            self._cond.notify_all()
        request.send_response(self.fail_status if failing else 200)
        request.send_header("Content-Length", "0")
        request.end_headers()

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        raise NotImplementedError

    def start(self) -> CallbackReceiver:
        self._service.start()
        return self

    def stop(self) -> None:
        self._service.stop()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def url(self, path: str | None = None) -> str:
        return f"http://{self.host}:{self._service.port}{path or self.default_path}"

    def wait_until(self, check: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until check() (called with the condition held) is true; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
