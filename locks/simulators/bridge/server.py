"""The simulated bridge's HTTP side: the server, token checks, and the test endpoints."""

from __future__ import annotations

import json
import logging
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..loopback import ServerThread
from ..ratelimit import WindowLimit, retry_after_header
from .routes import ROUTES, Answer
from .state import BridgeState
from .tokens import TokenGuard

log = logging.getLogger(__name__)

SECRET_PARAMS = re.compile(r"(?<=[?&])(token|hash|ctoken|nonce)=[^&\s\"']*")  # masked in logs


class BridgeSimulator(BridgeState):
    """A simulated bridge. start() it (port=0 picks a free port), read .url and .token.

    counters (a Counter): requests (API requests), busy (503 answers), unauthorized (401),
    actions, state_changes, callbacks_sent, callbacks_failed, button_presses, auth_granted,
    reboots, fw_updates, factory_resets, and "endpoint:/path" per endpoint.
    max_concurrent_seen: the most API requests ever in flight at once (503s included).

    rate_limit (requests) per rate_window (seconds, default 60): the bridge's request limit; a
    request over it answers 429 with Retry-After (whole seconds, or an HTTP date with
    retry_after_date=True) and counts in counters["rate_limited"]. None: no limit. (The Bridge
    HTTP API documents none; this stands in for a bridge, or a proxy in front of one, that
    sheds load.)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = None,
        rate_window: float = 60.0,
        retry_after_date: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.rate_limit = WindowLimit(rate_limit, rate_window) if rate_limit else None
        self.retry_after_date = retry_after_date
        self.host = host
        self._requested_port = port
        self._in_flight = 0
        self._tokens = TokenGuard()
        self._http: ServerThread | None = None

    # Life cycle ----------------------------------------------------------------------------

    def start(self) -> BridgeSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "NukiBridgeSimulator/1.13"

            def do_GET(self) -> None:
                sim.serve(self, "GET")

            def do_POST(self) -> None:
                sim.serve(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("bridge-sim %s", SECRET_PARAMS.sub(r"\1=***", format % args))

        self._http = ServerThread(self.host, self._requested_port, Handler, name="bridge-sim-http")
        self._http.start()
        self.start_callbacks()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
        self.stop_callbacks()
        self._http = None

    def __enter__(self) -> BridgeSimulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._http is None:
            raise RuntimeError("the simulator is not running")
        return self._http.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # HTTP ------------------------------------------------------------------------------------

    def serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one HTTP request (the handler's do_GET / do_POST)."""
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers: dict[str, str] = {}
        wait = None if path.startswith("/__sim__/") else self._over_limit()
        if path.startswith("/__sim__/"):
            status, body = self._sim_endpoint(path, params)
        elif wait is not None:
            status, body = 429, {"success": False, "message": "too many requests"}
            headers["Retry-After"] = retry_after_header(wait, http_date=self.retry_after_date)
        else:
            status, body = self._api(path, method, params)
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            request.send_response(status)
            for name, value in headers.items():
                request.send_header(name, value)
            request.send_header("Content-Type", "application/json;charset=UTF-8")
            request.send_header("Content-Length", str(len(payload)))
            request.send_header("Connection", "close")
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("bridge-sim: client went away before the answer to %s", path)

    def _over_limit(self) -> float | None:
        """Seconds until a request over the limit may come (counted), else None."""
        if self.rate_limit is None:
            return None
        wait = self.rate_limit.admit()
        if wait is not None:
            self.count("rate_limited")
        return wait

    def _api(self, path: str, method: str, params: dict[str, str]) -> Answer:
        with self.mutex:
            self._in_flight += 1
            concurrent = self._in_flight
            self.max_concurrent_seen = max(self.max_concurrent_seen, concurrent)
            self.counters["requests"] += 1
            self.counters[f"endpoint:{path}"] += 1
        try:
            if concurrent > 1:
                self.count("busy")
                return 503, {"success": False, "message": "bridge busy"}
            if self.latency:
                time.sleep(self.latency)
            if method != "GET":
                return 405, {"success": False, "message": "use GET"}
            return self._dispatch(path, params)
        except Exception:
            log.exception("bridge-sim: %s failed", path)
            return 500, {"success": False, "message": "internal error"}
        finally:
            # Leave before the answer is written, as the client may send its next request the
            # moment it has read this one.
            with self.mutex:
                self._in_flight -= 1

    def _dispatch(self, path: str, p: dict[str, str]) -> Answer:
        endpoint = ROUTES.get(path)
        if endpoint is None:
            return 404, {"success": False, "message": "unknown endpoint"}
        if path != "/auth":
            refused = self._tokens.problem(p, self.token, self.now(), self.max_skew)
            if refused:
                self.count("unauthorized")
                log.debug("bridge-sim: 401 for %s: %s", path, refused)
                return 401, {"success": False, "message": refused}
        return endpoint(self, p)

    # Test endpoints (not part of the bridge API, never counted) -----------------------------

    def _sim_endpoint(self, path: str, p: dict[str, str]) -> Answer:
        if path == "/__sim__/press-button":
            self.press_button()
            return 200, {"success": True}
        if path == "/__sim__/state":
            with self.mutex:
                return 200, {
                    "maxConcurrentSeen": self.max_concurrent_seen,
                    "counters": dict(self.counters),
                    "callbacks": [self.callback_slots[i] for i in sorted(self.callback_slots)],
                    "locks": [
                        {"nukiId": lock.nuki_id, "name": lock.name, **lock.state_json()}
                        for lock in self.locks.values()
                    ],
                }
        return 404, {"success": False, "message": "unknown simulator endpoint"}
