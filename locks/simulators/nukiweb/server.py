"""The simulated api.nuki.io's HTTP side: the server, bearer tokens, routing and replies.

The account and its behaviour are `Cloud` (cloud.py), the hooks for tests `CloudControls`
(controls.py), the endpoints the route modules (routes/). See the package docstring for the
behaviour and field lists."""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..loopback import ServerThread
from ..ratelimit import WindowLimit, retry_after_header
from .controls import CloudControls
from .model import Invalid
from .reply import Reply, api_error
from .routes import ROUTES, Request

log = logging.getLogger(__name__)

SECRET_PARAMS = re.compile(r"(?<=[?&])(code|state|code_challenge|client_secret)=[^&\s\"']*")


class NukiWebSimulator(CloudControls):
    """A simulated Nuki Web API. start() it (port=0 picks a free port), then use .url.

    Options besides host and port: api_tokens (static tokens that never expire), client_id,
    client_secret, redirect_uris, access_token_ttl, refresh_token_ttl, code_ttl, scopes,
    auto_consent, revoke_grant_on_reuse, revoke_access_on_refresh (OAuth, see oauth.py);
    apply_delay (queue to lock, s), action_seconds (per movement), smartlocks (how many),
    keypad, first_nuki_id, device_type, timezone (the locks' IANA zone); webhook_timeout,
    webhook_retry_delays; latency (added to every answer); account_id, account_name.

    counters (a Counter): requests, "GET /smartlock/{smartlockId}/auth" and the like per
    endpoint, "status:NNN", unauthorized, auth_ops_queued / auth_ops_applied (and per kind),
    actions, actions_dropped_offline, log_entries, oauth_* (codes issued, exchanges,
    refreshes, reuse detected, errors by code), webhook_events:FEATURE, webhook_attempts,
    webhook_attempts_failed, webhook_deliveries, webhook_given_up.
    max_concurrent_seen: the most API requests ever in flight at once.

    rate_limit (requests) per rate_window (seconds, default 60): the account's request limit
    (/oauth aside); a request over it answers 429 with Retry-After (whole seconds, or an HTTP
    date with retry_after_date=True) and counts in counters["rate_limited"]. None: no limit.
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
        self._http: ServerThread | None = None
        self._applier: threading.Thread | None = None

    # Life cycle ------------------------------------------------------------------------------

    def start(self) -> NukiWebSimulator:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "NukiWebSimulator/1.0"
            protocol_version = "HTTP/1.1"  # keep-alive, as a cloud API behind a load balancer
            timeout = 60  # idle keep-alive connections are closed after this
            disable_nagle_algorithm = True  # headers and body go out as separate writes

            def do_GET(self) -> None:
                sim.serve(self, "GET")

            def do_POST(self) -> None:
                sim.serve(self, "POST")

            def do_PUT(self) -> None:
                sim.serve(self, "PUT")

            def do_DELETE(self) -> None:
                sim.serve(self, "DELETE")

            def do_PATCH(self) -> None:
                sim.serve(self, "PATCH")

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("nukiweb-sim %s", SECRET_PARAMS.sub(r"\1=***", format % args))

        self._http = ServerThread(self.host, self._requested_port, Handler, name="nukiweb-sim-http")
        self.allow_applying()
        self._applier = threading.Thread(
            target=self.apply_loop, name="nukiweb-sim-bridge", daemon=True
        )
        self._http.start()
        self._applier.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop(cut_connections=True)
        self.stop_applying()
        if self._applier is not None:
            self._applier.join(timeout=5)
        self.webhooks.stop()
        self._http = None
        self._applier = None

    def __enter__(self) -> NukiWebSimulator:
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

    # HTTP --------------------------------------------------------------------------------------

    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        """Answer one HTTP request (the handler's do_GET, do_POST, ...)."""
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = read_body(handler, headers)
        except ValueError:
            write_reply(handler, api_error(400, "malformed request body"))
            return
        if path.startswith("/__sim__/"):
            reply = self.sim_endpoint(method, path, body)
        else:
            reply = self._handle(method, path, params, headers, body)
        write_reply(handler, reply)

    def _handle(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        with self.mutex:
            self._in_flight += 1
            self.max_concurrent_seen = max(self.max_concurrent_seen, self._in_flight)
            self.counters["requests"] += 1
        status = 500
        try:
            if self.latency:
                time.sleep(self.latency)
            over = self._over_limit(path)
            if over is not None:
                reply = over
            elif self.outage_status:
                reply = api_error(self.outage_status, "service unavailable (simulated outage)")
            else:
                reply = self._dispatch(method, path, params, headers, body)
            status = reply.status
            return reply
        except Exception:
            log.exception("nukiweb-sim: %s %s failed", method, path)
            return api_error(500, "internal error")
        finally:
            with self.mutex:
                self._in_flight -= 1
                self.counters[f"status:{status}"] += 1

    def _over_limit(self, path: str) -> Reply | None:
        """The 429 for a request over the account's limit (the OAuth server has its own)."""
        if self.rate_limit is None or path.startswith("/oauth"):
            return None
        wait = self.rate_limit.admit()
        if wait is None:
            return None
        self.count("rate_limited")
        reply = api_error(429, "Too many requests")
        reply.headers["Retry-After"] = retry_after_header(wait, http_date=self.retry_after_date)
        return reply

    def _dispatch(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        allowed = False
        for route_method, pattern, template, handler, needs_token in ROUTES:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            self.count(f"{method} {template}")
            if needs_token:
                refused = self._check_bearer(headers.get("authorization", ""))
                if refused is not None:
                    return refused
            request = Request(params, headers, body)
            try:
                return handler(self, request, *match.groups())
            except Invalid as exc:
                return api_error(400, str(exc))
        if allowed:
            return api_error(405, f"{method} is not allowed here")
        return api_error(404, "not found")

    def _check_bearer(self, authorization: str) -> Reply | None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            if any(hmac.compare_digest(token.encode(), t.encode()) for t in self.api_tokens):
                return None
            problem = self.oauth.access_token_problem(token)
            if problem is None:
                return None
        else:
            problem = "no bearer token"
        self.count("unauthorized")
        reply = api_error(401, f"Your access token is not authorized ({problem})")
        reply.headers["WWW-Authenticate"] = (
            f'Bearer realm="api.nuki.io", error="invalid_token", error_description="{problem}"'
        )
        return reply


def read_body(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
    """The request body, plain or chunked; ValueError if it cannot be read."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(headers.get("content-length") or 0)
    return handler.rfile.read(length) if length > 0 else b""


def write_reply(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    try:
        handler.send_response(reply.status)
        if reply.content_type:
            handler.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.status not in (204, 304):
            handler.send_header("Content-Length", str(len(reply.body)))
        handler.end_headers()
        if reply.body and reply.status not in (204, 304):
            handler.wfile.write(reply.body)
    except (BrokenPipeError, ConnectionResetError):
        log.debug("nukiweb-sim: client went away before the answer")


def run_forever(sim: NukiWebSimulator) -> None:
    """Block until Ctrl-C (or SIGTERM mapped to it), then stop the started simulator."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            sim.stop()
