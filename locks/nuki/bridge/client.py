"""An HTTP client for the Nuki Bridge HTTP API v1.13.

    client = BridgeClient("192.168.1.50", token="abc123", lock_factory=RedisBridgeLock(r))
    for device in client.list_devices():
        print(device.nuki_id, device.last_known_state.state_name)
    client.lock_action(device.nuki_id, LockAction.UNLOCK)

- Tokens: encrypted (`ctoken`) by default; hashed and plain on request (see tokens.py).
- One request at a time per bridge: the client takes a lock from its lock factory around every
  HTTP request (see locking.py). The token parameters are made after the lock is taken.
- Every request has a timeout. 503 (bridge busy), timeouts and refused connections are retried
  with exponential backoff and jitter. Calls that must not run twice (/auth, /callback/add,
  /unpair, /reboot, /fwupdate, /factoryReset, /configAuth) are retried only when the request
  cannot have reached the bridge (503, connection errors, connect timeouts).
- Every failure is a `BridgeError` with a plain-words message and a `permanent` flag.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2

from ..ratelimit import RequestBudget, retry_after_seconds, shared_tls_context
from .errors import BridgeError
from .failures import body_excerpt, rate_limited, status_error, unreachable
from .locking import LockFactory, default_lock_factory
from .models import (
    ActionResult,
    BridgeInfo,
    Callback,
    Device,
    DeviceType,
    LockAction,
    LockState,
    LogEntry,
)
from .redact import redaction_install
from .tokens import TokenMode, TokenSigner

log = logging.getLogger(__name__)
redaction_install()  # the token never reaches a log line through httpx2

DEFAULT_PORT = 8080
MAX_CALLBACKS = 3
MAX_CALLBACK_URL_LENGTH = 254


@dataclass(frozen=True)
class RetryPolicy:
    """attempts: total tries including the first. Before retry n (1, 2, ...) the client sleeps
    min(max_delay, base_delay * 2**(n-1)), of which the fraction `jitter` is random, so that
    clients that collided do not collide again."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    jitter: float = 0.5

    def delay(self, retry_number: int) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))
        return ceiling * (1.0 - self.jitter * random.random())


NO_RETRY = RetryPolicy(attempts=1)

_ACTION_WORDS = {
    LockAction.UNLOCK: "unlock",
    LockAction.LOCK: "lock",
    LockAction.UNLATCH: "unlatch (open the door)",
    LockAction.LOCK_N_GO: "lock 'n' go",
    LockAction.LOCK_N_GO_UNLATCH: "lock 'n' go with unlatch",
}

_UNREACHABLE_LOCK_FIX = (
    "The lock may be out of the bridge's Bluetooth range, its batteries may be empty, or it "
    "may be jammed. Check it and try again."
)


class BridgeClient:
    """A client for one bridge.

    token_mode: TokenMode.ENCRYPTED (default; needs bridge firmware that supports `ctoken`),
        HASHED or PLAIN.
    timeout: seconds for ordinary calls; action_timeout for lock actions that wait for the lock
        (nowait=False); auth_timeout for /auth, which waits for the button (30 s on a bridge).
    retry: a RetryPolicy; NO_RETRY turns retries off.
    lock_factory: callable(key) -> context manager, taken around every request. Defaults to a
        process-wide LocalBridgeLock; use RedisBridgeLock across processes.
    clock_offset: seconds added to this server's clock when making hashed/encrypted tokens,
        for a bridge whose clock is known to be off.
    budget: taken before every request (also a retry's); a 429 holds it for its Retry-After.
        Without a token, or on a 429, the call raises a BridgeError with `retry_after`.
    """

    def __init__(
        self,
        host: str,
        token: str | None,
        *,
        port: int = DEFAULT_PORT,
        token_mode: TokenMode | str = TokenMode.ENCRYPTED,
        timeout: float = 10.0,
        action_timeout: float = 40.0,
        auth_timeout: float = 40.0,
        retry: RetryPolicy | None = None,
        lock_factory: LockFactory | None = None,
        clock: Callable[[], float] = time.time,
        clock_offset: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
        budget: RequestBudget | None = None,
    ):
        self.host = host
        self.budget = budget
        self.port = int(port)
        self.key = f"{host}:{self.port}"
        self.base_url = f"http://{self.key}"
        self.token_mode = TokenMode(token_mode)
        self.signer = (
            TokenSigner(token, self.token_mode, clock=clock, clock_offset=clock_offset)
            if token
            else None
        )
        self.timeout = timeout
        self.action_timeout = action_timeout
        self.auth_timeout = auth_timeout
        self.retry = retry or RetryPolicy()
        self.lock_factory = lock_factory or default_lock_factory
        self._sleep = sleep
        self._http = httpx2.Client(
            base_url=self.base_url, timeout=timeout, trust_env=False, verify=shared_tls_context()
        )

    @classmethod
    def from_url(cls, url: str, token: str | None, **kwargs) -> BridgeClient:
        """From "http://host:port" (the port defaults to 8080)."""
        parts = urlsplit(url if "//" in url else f"http://{url}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a bridge URL: {url!r} (expected http://host:port)")
        return cls(parts.hostname, token, port=parts.port or DEFAULT_PORT, **kwargs)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BridgeClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<BridgeClient {self.key} token_mode={self.token_mode.value}>"

    # Endpoints -----------------------------------------------------------------------------

    def auth(self) -> str:
        """/auth: returns the API token once someone presses the bridge's button (the bridge
        waits 30 s for it). Enables the API if it was off."""
        data = self._call("/auth", signed=False, timeout=self.auth_timeout, idempotent=False)
        token = data.get("token") if isinstance(data, dict) else None
        if not (isinstance(data, dict) and data.get("success") and token):
            raise BridgeError(
                f"Nobody pressed the button on the bridge at {self.key} in time, so it did "
                "not hand out its API token.",
                fix="Ask for the token again and press the bridge's button within 30 seconds, "
                "while its LED is lit.",
                permanent=False,
                endpoint="/auth",
                detail=f"/auth answered {data!r}",
            )
        return str(token)

    def config_auth(self, enable: bool) -> None:
        """/configAuth: turn /auth (and publication to the discovery service) on or off."""
        data = self._call("/configAuth", {"enable": "1" if enable else "0"}, idempotent=False)
        self._require_success(data, "/configAuth", "change whether /auth is allowed")

    def list_devices(self) -> list[Device]:
        """/list: paired devices with their last known state, cached on the bridge (no radio
        traffic, so poll this rather than lock_state)."""
        data = self._call("/list")
        if not isinstance(data, list):
            raise self._malformed("/list", data)
        return [Device.from_json(d) for d in data if isinstance(d, dict)]

    def lock_state(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK) -> LockState:
        """/lockState: asks the lock itself (wakes it up, costs battery)."""
        params = self._device_params(nuki_id, device_type)
        data = self._call("/lockState", params, timeout=self.action_timeout)
        if not isinstance(data, dict):
            raise self._malformed("/lockState", data)
        if not data.get("success"):
            raise BridgeError(
                f"The bridge at {self.key} could not read the state of the lock with Nuki ID "
                f"{nuki_id}.",
                fix=_UNREACHABLE_LOCK_FIX,
                permanent=False,
                endpoint="/lockState",
                detail=f"/lockState answered {data!r}",
            )
        return LockState.from_json(data)

    def lock_action(
        self,
        nuki_id: int,
        action: LockAction | int,
        device_type: int = DeviceType.SMARTLOCK,
        *,
        nowait: bool = False,
    ) -> ActionResult:
        """/lockAction. With nowait=False the bridge answers when the lock has finished."""
        action = int(action)
        params = self._device_params(nuki_id, device_type)
        params.update(action=str(action), nowait="1" if nowait else "0")
        timeout = self.timeout if nowait else self.action_timeout
        data = self._call("/lockAction", params, timeout=timeout)
        words = _ACTION_WORDS.get(action, f"action {action}")
        return self._action_result(data, "/lockAction", words, nuki_id)

    def unlock(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK, **kw) -> ActionResult:
        return self.lock_action(nuki_id, LockAction.UNLOCK, device_type, **kw)

    def lock(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK, **kw) -> ActionResult:
        return self.lock_action(nuki_id, LockAction.LOCK, device_type, **kw)

    def unlatch(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK, **kw) -> ActionResult:
        return self.lock_action(nuki_id, LockAction.UNLATCH, device_type, **kw)

    def simple_lock(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK) -> ActionResult:
        """/lock: the firmware picks what "lock" means for the device."""
        params = self._device_params(nuki_id, device_type)
        data = self._call("/lock", params, timeout=self.action_timeout)
        return self._action_result(data, "/lock", "lock", nuki_id)

    def simple_unlock(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK) -> ActionResult:
        """/unlock: unlock (lock with a handle), unlatch (knob) or open (opener)."""
        params = self._device_params(nuki_id, device_type)
        data = self._call("/unlock", params, timeout=self.action_timeout)
        return self._action_result(data, "/unlock", "unlock", nuki_id)

    def unpair(self, nuki_id: int, device_type: int = DeviceType.SMARTLOCK) -> None:
        params = self._device_params(nuki_id, device_type)
        data = self._call("/unpair", params, timeout=self.action_timeout, idempotent=False)
        self._require_success(data, "/unpair", f"unpair the device with Nuki ID {nuki_id}")

    def info(self) -> BridgeInfo:
        data = self._call("/info")
        if not isinstance(data, dict):
            raise self._malformed("/info", data)
        return BridgeInfo.from_json(data)

    def callback_add(self, url: str) -> None:
        """/callback/add. The bridge POSTs every state change to `url` (http only, no
        signature: put an unguessable secret in the URL). At most 3 per bridge."""
        if urlsplit(url).scheme != "http":
            raise BridgeError(
                "A bridge can only call back plain http:// URLs.",
                fix="Use an http:// callback URL that carries a secret, reachable from the "
                "bridge's network.",
                permanent=True,
                endpoint="/callback/add",
            )
        if len(url) > MAX_CALLBACK_URL_LENGTH:
            raise BridgeError(
                f"The callback URL is {len(url)} characters long; a bridge accepts at most "
                f"{MAX_CALLBACK_URL_LENGTH}.",
                fix="Use a shorter host name or path.",
                permanent=True,
                endpoint="/callback/add",
            )
        data = self._call("/callback/add", {"url": url}, idempotent=False)
        if not (isinstance(data, dict) and data.get("success")):
            said = data.get("message") if isinstance(data, dict) else None
            raise BridgeError(
                f"The bridge at {self.key} refused the callback URL"
                + (f": {said}." if said else "."),
                fix=f"A bridge keeps at most {MAX_CALLBACKS} callback URLs, each only once; "
                "remove one it no longer needs first.",
                permanent=True,
                endpoint="/callback/add",
                detail=f"/callback/add answered {data!r}",
            )

    def callback_list(self) -> list[Callback]:
        data = self._call("/callback/list")
        callbacks = data.get("callbacks") if isinstance(data, dict) else None
        if not isinstance(callbacks, list):
            raise self._malformed("/callback/list", data)
        return [Callback.from_json(c) for c in callbacks if isinstance(c, dict)]

    def callback_remove(self, callback_id: int) -> None:
        data = self._call("/callback/remove", {"id": str(int(callback_id))})
        if not (isinstance(data, dict) and data.get("success")):
            said = data.get("message") if isinstance(data, dict) else None
            raise BridgeError(
                f"The bridge at {self.key} did not remove callback {callback_id}"
                + (f": {said}." if said else "."),
                fix="List the callbacks again; it may have been removed already.",
                permanent=True,
                endpoint="/callback/remove",
                detail=f"/callback/remove answered {data!r}",
            )

    def log(self, offset: int = 0, count: int = 100) -> list[LogEntry]:
        data = self._call("/log", {"offset": str(int(offset)), "count": str(int(count))})
        if not isinstance(data, list):
            raise self._malformed("/log", data)
        return [LogEntry.from_json(e) for e in data if isinstance(e, dict)]

    def clear_log(self) -> None:
        self._call("/clearlog")

    def reboot(self) -> None:
        self._call("/reboot", idempotent=False)

    def fw_update(self) -> None:
        self._call("/fwupdate", idempotent=False)

    def factory_reset(self) -> None:
        self._call("/factoryReset", idempotent=False)

    # Plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _device_params(nuki_id: int, device_type: int) -> dict[str, str]:
        return {"nukiId": str(int(nuki_id)), "deviceType": str(int(device_type))}

    def _call(
        self,
        endpoint: str,
        params: dict[str, str] | None = None,
        *,
        signed: bool = True,
        timeout: float | None = None,
        idempotent: bool = True,
    ) -> Any:
        """One API call: lock, send, retry, decode. Returns the decoded JSON (None for an
        empty body) of a 200 answer; raises BridgeError otherwise."""
        if signed and self.signer is None:
            raise BridgeError(
                f"No API token is set for the bridge at {self.key}.",
                fix="Enter the token shown in the Nuki app (Manage bridge, HTTP API), or get "
                "one with /auth.",
                permanent=True,
                endpoint=endpoint,
            )
        timeout = self.timeout if timeout is None else timeout
        attempt = 0
        refused_once = False
        while True:
            attempt += 1
            can_retry = attempt < self.retry.attempts
            if self.budget is not None:
                wait = self.budget.take()
                if wait > 0:
                    raise rate_limited(self.key, endpoint, wait)
            try:
                response = self._send(endpoint, params, signed=signed, timeout=timeout)
            except httpx2.TimeoutException as exc:
                unsent = isinstance(exc, httpx2.ConnectTimeout | httpx2.PoolTimeout)
                if can_retry and (idempotent or unsent):
                    self._backoff(endpoint, attempt, repr(exc))
                    continue
                raise unreachable(endpoint, f"{exc!r} after {attempt} attempt(s)") from exc
            except httpx2.TransportError as exc:
                unsent = isinstance(exc, httpx2.ConnectError)
                if can_retry and (idempotent or unsent):
                    self._backoff(endpoint, attempt, repr(exc))
                    continue
                raise unreachable(endpoint, f"{exc!r} after {attempt} attempt(s)") from exc
            except BridgeError as exc:
                exc.endpoint = exc.endpoint or endpoint
                raise

            status = response.status_code
            if status == 429:
                seconds = retry_after_seconds(response.headers.get("Retry-After"))
                if self.budget is not None:
                    seconds = max(seconds, self.budget.hold(seconds))
                raise rate_limited(self.key, endpoint, seconds, status=status)
            if status == 503:
                if can_retry:
                    self._backoff(endpoint, attempt, "503 busy")
                    continue
                raise BridgeError(
                    f"The bridge at {self.key} stayed busy with other requests; gave up after "
                    f"{attempt} attempt(s).",
                    fix="Another app or integration may be using the bridge heavily, or a lock "
                    "action is still running. Try again shortly.",
                    permanent=False,
                    status=503,
                    endpoint=endpoint,
                    detail=body_excerpt(response),
                )
            # A hashed/encrypted token can collide with another process's (same second, same
            # random number): try once more with a fresh one before giving up.
            if (
                status == 401
                and signed
                and self.token_mode is not TokenMode.PLAIN
                and not refused_once
            ):
                refused_once = True
                continue
            if status != 200:
                raise status_error(
                    response, endpoint, params, key=self.key, token_mode=self.token_mode
                )
            return self._decode(response, endpoint)

    def _send(
        self, endpoint: str, params: dict[str, str] | None, *, signed: bool, timeout: float
    ) -> httpx2.Response:
        with self.lock_factory(self.key):
            query = dict(params or {})
            if signed:
                assert self.signer is not None
                query.update(self.signer.params())
            started = time.monotonic()
            response = self._http.get(endpoint, params=query, timeout=timeout)
            log.debug(
                "bridge %s %s -> %s in %.3fs",
                self.key,
                endpoint,
                response.status_code,
                time.monotonic() - started,
            )
            return response

    def _backoff(self, endpoint: str, attempt: int, why: str) -> None:
        delay = self.retry.delay(attempt)
        log.info(
            "bridge %s %s: %s; retry %d/%d in %.2fs",
            self.key,
            endpoint,
            why,
            attempt,
            self.retry.attempts - 1,
            delay,
        )
        self._sleep(delay)

    def _decode(self, response: httpx2.Response, endpoint: str) -> Any:
        if not response.content.strip():
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise unreachable(endpoint, body_excerpt(response)) from exc

    def _action_result(self, data: Any, endpoint: str, words: str, nuki_id: int) -> ActionResult:
        if not isinstance(data, dict):
            raise self._malformed(endpoint, data)
        if not data.get("success"):
            raise BridgeError(
                f"The bridge at {self.key} could not {words} the lock with Nuki ID {nuki_id}.",
                fix=_UNREACHABLE_LOCK_FIX,
                permanent=False,
                endpoint=endpoint,
                detail=f"{endpoint} answered {data!r}",
            )
        return ActionResult.from_json(data)

    def _require_success(self, data: Any, endpoint: str, what: str) -> None:
        if not (isinstance(data, dict) and data.get("success")):
            raise BridgeError(
                f"The bridge at {self.key} could not {what}.",
                fix="Try again; if it keeps failing, check the bridge in the Nuki app.",
                permanent=False,
                endpoint=endpoint,
                detail=f"{endpoint} answered {data!r}",
            )

    def _malformed(self, endpoint: str, data: Any) -> BridgeError:
        return BridgeError(
            f"The bridge at {self.key} answered {endpoint} in an unexpected format.",
            fix="The bridge firmware may be newer or older than Latchkey supports; report it.",
            permanent=False,
            endpoint=endpoint,
            detail=f"{endpoint} answered {str(data)[:300]!r}",
        )
