"""The simulated api.nuki.io: HTTP server, routing, the API endpoints and the bridge that
applies queued changes. See the package docstring for the behaviour and field lists."""

from __future__ import annotations

import contextlib
import hmac
import itertools
import json
import logging
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import model as m
from .model import Invalid, SimSmartlock
from .oauth import DEFAULT_SCOPES, OAuthServer
from .reply import Reply, api_error, json_reply, no_content
from .webhooks import WebhookDispatcher

log = logging.getLogger(__name__)

MAX_LOG_ENTRIES = 10_000
_SECRET_PARAMS = re.compile(r"(?<=[?&])(code|state|code_challenge|client_secret)=[^&\s\"']*")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any):
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
        """Cut open keep-alive connections, so a stopped simulator really stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    sim: NukiWebSimulator  # set on the per-simulator subclass
    server_version = "NukiWebSimulator/1.0"
    protocol_version = "HTTP/1.1"  # keep-alive, as a cloud API behind a load balancer
    timeout = 60  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def do_GET(self) -> None:
        self.sim._serve(self, "GET")

    def do_POST(self) -> None:
        self.sim._serve(self, "POST")

    def do_PUT(self) -> None:
        self.sim._serve(self, "PUT")

    def do_DELETE(self) -> None:
        self.sim._serve(self, "DELETE")

    def do_PATCH(self) -> None:
        self.sim._serve(self, "PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("nukiweb-sim %s", _SECRET_PARAMS.sub(r"\1=***", format % args))


@dataclass
class _Op:
    """A change accepted by the API (204) and not yet applied to the lock."""

    operation_id: str
    kind: str  # create | update | delete
    smartlock_id: int
    auth_id: str
    due: float  # time.monotonic() when the bridge may apply it
    seq: int
    record: dict[str, Any] | None = None  # create: the full authorization
    changes: dict[str, Any] | None = None  # update: the fields that change


Handler = Callable[..., Reply]


class NukiWebSimulator:
    """A simulated Nuki Web API. start() it (port=0 picks a free port), then use .url.

    counters (a Counter): requests, "GET /smartlock/{smartlockId}/auth" and the like per
    endpoint, "status:NNN", unauthorized, auth_ops_queued / auth_ops_applied (and per kind),
    actions, actions_dropped_offline, log_entries, oauth_* (codes issued, exchanges,
    refreshes, reuse detected, errors by code), webhook_events:FEATURE, webhook_attempts,
    webhook_attempts_failed, webhook_deliveries, webhook_given_up.
    max_concurrent_seen: the most API requests ever in flight at once.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_tokens: Iterable[str] | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
        access_token_ttl: float = 3600.0,
        refresh_token_ttl: float = 30 * 86400.0,
        code_ttl: float = 600.0,
        apply_delay: float = 0.2,
        action_seconds: float = 0.05,
        smartlocks: int = 1,
        keypad: bool = True,
        scopes: Iterable[str] | None = None,
        auto_consent: bool = False,
        revoke_grant_on_reuse: bool = True,
        revoke_access_on_refresh: bool = True,
        webhook_timeout: float = 3.0,
        webhook_retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0),
        latency: float = 0.0,
        account_id: int = 1_000_001,
        account_name: str = "Latchkey Simulated Account",
        first_nuki_id: int = 0x1A2B3C01,
        device_type: int = m.TYPE_SMARTLOCK3,
        timezone: str = "UTC",
    ):
        self.host = host
        self._requested_port = port
        self.api_tokens: set[str] = set(api_tokens or ())
        self.apply_delay = apply_delay
        self.action_seconds = action_seconds
        self.latency = latency
        self.outage_status: int | None = None  # e.g. 503: every request answers this
        self.account_id = account_id
        self.account_name = account_name
        self.counters: Counter[str] = Counter()
        self.max_concurrent_seen = 0
        self._in_flight = 0
        self._mutex = threading.RLock()
        self._wake = threading.Condition(self._mutex)
        self._stopping = False
        self._ids = m.ObjectIds()
        self._seq = itertools.count()
        self.oauth = OAuthServer(
            client_id=client_id or "latchkey-nukiweb-sim",
            client_secret=client_secret or secrets.token_urlsafe(24),
            redirect_uris=redirect_uris,
            scopes=frozenset(scopes) if scopes is not None else DEFAULT_SCOPES,
            access_token_ttl=access_token_ttl,
            refresh_token_ttl=refresh_token_ttl,
            code_ttl=code_ttl,
            auto_consent=auto_consent,
            revoke_grant_on_reuse=revoke_grant_on_reuse,
            revoke_access_on_refresh=revoke_access_on_refresh,
            count=self._count,
        )
        self.webhooks = WebhookDispatcher(
            timeout=webhook_timeout, retry_delays=webhook_retry_delays, count=self._count
        )
        self.locks: dict[int, SimSmartlock] = {}
        self._auths: dict[int, dict[str, dict[str, Any]]] = {}
        self._logs: dict[int, list[dict[str, Any]]] = {}
        self._ops: dict[str, _Op] = {}
        self._motors: dict[int, threading.Lock] = {}
        self.timezone = timezone
        # Account users: people invited by email (AccountUser); app authorizations (type 0)
        # are theirs. accountUserId 1 is the account owner (our choice).
        self._account_users: dict[int, dict[str, Any]] = {}
        self._account_user_ids = itertools.count(2_000_001)
        self.invitations: list[dict[str, Any]] = []  # emails Nuki would send (our record)
        for i in range(smartlocks):
            self._add_smartlock(f"Door {i + 1}", first_nuki_id + i, device_type, keypad)
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._routes = self._build_routes()

    # Life cycle ------------------------------------------------------------------------------

    def start(self) -> NukiWebSimulator:
        handler = type("NukiWebSimHandler", (_Handler,), {"sim": self})
        self._server = _Server((self.host, self._requested_port), handler)
        self._stopping = False
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="nukiweb-sim-http",
                daemon=True,
            ),
            threading.Thread(target=self._apply_loop, name="nukiweb-sim-bridge", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)
        self.webhooks.stop()
        self._server = None
        self._threads = []

    def __enter__(self) -> NukiWebSimulator:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client_id(self) -> str:
        return self.oauth.client_id

    @property
    def client_secret(self) -> str:
        return self.oauth.client_secret

    @property
    def smartlock_ids(self) -> list[int]:
        return list(self.locks)

    @property
    def access_token_ttl(self) -> float:
        """Lifetime of access tokens issued from now on (seconds); tests may shorten it."""
        return self.oauth.access_token_ttl

    @access_token_ttl.setter
    def access_token_ttl(self, seconds: float) -> None:
        self.oauth.access_token_ttl = seconds

    # Hooks for tests and demos ---------------------------------------------------------------

    def expire_all_access_tokens(self) -> None:
        self.oauth.expire_all_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        self.oauth.revoke_refresh_tokens()

    def endpoint_calls(self, method: str, template: str) -> int:
        """API calls so far to one endpoint, e.g. ("PUT", "/smartlock/{smartlockId}/auth")."""
        with self._mutex:
            return self.counters[f"{method} {template}"]

    def reset_counters(self) -> None:
        with self._mutex:
            self.counters.clear()
            self.max_concurrent_seen = 0

    def set_offline(self, smartlock_id: int, offline: bool = True) -> None:
        """An offline lock (bridge or lock unreachable): serverState 4, queued changes wait
        until it is back online, actions are accepted (204) but never reach it."""
        with self._wake:
            lock = self.locks[smartlock_id]
            if lock.offline == offline:
                return
            lock.offline = offline
            lock.update_date = time.time()
            self._emit_status(lock)
            self._wake.notify_all()

    def set_door(self, smartlock_id: int, door_state: int) -> None:
        with self._mutex:
            lock = self.locks[smartlock_id]
            lock.door_state = door_state
            lock.update_date = time.time()
            self._emit_status(lock)
            if door_state in (m.DOOR_OPENED, m.DOOR_CLOSED):
                action = m.LOG_DOOR_OPENED if door_state == m.DOOR_OPENED else m.LOG_DOOR_CLOSED
                self._add_log(lock, action=action, trigger=m.TRIGGER_SYSTEM, name="")

    def set_battery(
        self,
        smartlock_id: int,
        charge: int,
        *,
        charging: bool = False,
        keypad_critical: bool | None = None,
    ) -> None:
        with self._mutex:
            lock = self.locks[smartlock_id]
            lock.battery_charge = charge
            lock.battery_charging = charging
            if keypad_critical is not None:
                lock.keypad_battery_critical = keypad_critical
            lock.update_date = time.time()
            self._emit_status(lock)

    def set_config(self, smartlock_id: int, **fields: Any) -> None:
        """Change SmartlockConfig fields (e.g. keypadPaired=False): DEVICE_CONFIG webhook."""
        with self._mutex:
            lock = self.locks[smartlock_id]
            lock.config.update(fields)
            lock.update_date = time.time()
            self.webhooks.emit(
                "DEVICE_CONFIG",
                {
                    "smartlockId": lock.smartlock_id,
                    "config": dict(lock.config),
                    "advancedConfig": dict(lock.advanced_config),
                },
            )

    def rename(self, smartlock_id: int, name: str) -> None:
        """A new device name: DEVICE_MASTERDATA webhook."""
        with self._mutex:
            lock = self.locks[smartlock_id]
            lock.name = name
            lock.update_date = time.time()
            self.webhooks.emit("DEVICE_MASTERDATA", self._masterdata(lock))

    def add_foreign_auth(
        self,
        smartlock_id: int,
        name: str,
        *,
        type: int = m.AUTH_KEYPAD_CODE,
        code: int | str | None = None,
        notify: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """An authorization someone else made (the Nuki app, another integration): on the lock
        at once, listed by GET .../auth; a DEVICE_AUTHS webhook unless notify=False. Other
        fields as in the API (allowedFromDate, enabled, accountUserId, ...)."""
        body: dict[str, Any] = {"name": name, "type": type, "remoteAllowed": False, **fields}
        if code is not None:
            body["code"] = code
        if type != m.AUTH_KEYPAD_CODE:
            body.setdefault("accountUserId", 2)
        values = m.validate_auth(body)
        with self._mutex:
            lock = self.locks[smartlock_id]
            if "code" in values and self._code_taken(smartlock_id, values["code"]):
                raise ValueError(f"code {values['code']} exists already on {smartlock_id}")
            record = m.new_auth_record(self._ids.new(), smartlock_id, values, time.time())
            record["authId"] = lock.take_lock_auth_id()
            self._auths[smartlock_id][record["id"]] = record
            if notify:
                self._emit_auth(record, deleted=False)
            return m.auth_json(record)

    def edit_auth_outside(self, smartlock_id: int, auth_id: str, **changes: Any) -> None:
        """Someone changed an authorization outside our integration (e.g. in the Nuki app)."""
        with self._mutex:
            record = self._auths[smartlock_id][auth_id]
            values = m.validate_auth({"name": record["name"], **changes}, existing=record)
            record.update(values)
            record["updateDate"] = m.iso(time.time())
            self._emit_auth(record, deleted=False)

    def remove_auth_outside(self, smartlock_id: int, auth_id: str) -> None:
        with self._mutex:
            record = self._auths[smartlock_id].pop(auth_id)
            self._emit_auth(record, deleted=True)

    def keypad_entry(self, smartlock_id: int, code: int | str, when: float | None = None) -> bool:
        """Someone types `code` on the lock's keypad at `when` (default now; validity windows
        are checked in UTC). A valid, enabled code in its window unlocks (trigger 255, source
        1, the code's authId and name; lockCount and lastActiveDate go up); anything else logs
        a rejected entry (state 224). Returns whether the door unlocked."""
        when = time.time() if when is None else when
        with self._mutex:
            lock = self.locks[smartlock_id]
            if not lock.keypad_paired:
                raise RuntimeError(f"no keypad is paired with smartlock {smartlock_id}")
            match = next(
                (
                    r
                    for r in self._auths[smartlock_id].values()
                    if r["type"] == m.AUTH_KEYPAD_CODE and str(r.get("code")) == str(code)
                ),
                None,
            )
            if match is None or not m.auth_allows(match, when, lock.timezone):
                self._add_log(
                    lock,
                    action=m.ACTION_UNLOCK,
                    trigger=m.TRIGGER_KEYPAD,
                    name=match["name"] if match else "",
                    auth=match,
                    state=m.LOG_WRONG_CODE,
                    source=m.SOURCE_KEYPAD,
                )
                return False
            match["lockCount"] += 1
            match["lastActiveDate"] = m.iso(when)
        self._start_action(
            lock,
            m.ACTION_UNLOCK,
            trigger=m.TRIGGER_KEYPAD,
            name=match["name"],
            auth=match,
            source=m.SOURCE_KEYPAD,
        )
        return True

    def app_open(
        self,
        smartlock_id: int,
        email: str,
        when: float | None = None,
        action: int = m.ACTION_UNLOCK,
    ) -> bool:
        """The person with the Nuki account `email` opens the lock with their Nuki app, at
        the door (Bluetooth), at `when` (default now). An app authorization (type 0) of their
        account user, applied, enabled and allowing this moment (dates, weekdays and times
        in the lock's timezone) opens (trigger 5 app, logged with its authId and
        accountUserId); anything else is refused and nothing is logged (the app does not
        even offer the lock). Returns whether it opened."""
        when = time.time() if when is None else when
        with self._mutex:
            lock = self.locks[smartlock_id]
            user = self._account_user_by_email(email)
            match = None
            if user is not None:
                match = next(
                    (
                        r
                        for r in self._auths[smartlock_id].values()
                        if r["type"] == m.AUTH_APP
                        and r.get("accountUserId") == user["accountUserId"]
                        and m.auth_allows(r, when, lock.timezone)
                    ),
                    None,
                )
            if match is None:
                self._count("app_open_refused")
                return False
            match["lockCount"] += 1
            match["lastActiveDate"] = m.iso(when)
        self._start_action(lock, action, trigger=m.TRIGGER_APP, name=match["name"], auth=match)
        return True

    def account_users(self) -> list[dict[str, Any]]:
        with self._mutex:
            return [dict(u) for u in self._account_users.values()]

    def physical_action(
        self, smartlock_id: int, action: int, *, trigger: int = m.TRIGGER_MANUAL
    ) -> None:
        """Someone turns the knob or presses the button (not through the API)."""
        self._start_action(self.locks[smartlock_id], action, trigger=trigger, name="")

    def auths(self, smartlock_id: int) -> list[dict[str, Any]]:
        """The authorizations on the lock now (what GET .../auth answers)."""
        with self._mutex:
            return [self._auth_view(r) for r in self._auths[smartlock_id].values()]

    def pending(self, smartlock_id: int | None = None) -> list[dict[str, Any]]:
        """Queued changes not yet applied: [{operationId, kind, smartlockId, id}]."""
        with self._mutex:
            return [
                {
                    "operationId": op.operation_id,
                    "kind": op.kind,
                    "smartlockId": op.smartlock_id,
                    "id": op.auth_id,
                }
                for op in sorted(self._ops.values(), key=lambda op: op.seq)
                if smartlock_id is None or op.smartlock_id == smartlock_id
            ]

    def logs(self, smartlock_id: int) -> list[dict[str, Any]]:
        """All log entries of a lock, newest first."""
        with self._mutex:
            return [dict(e) for e in reversed(self._logs[smartlock_id])]

    def wait_applied(self, timeout: float = 5.0) -> bool:
        """Wait until no change is queued for an online lock."""
        deadline = time.monotonic() + timeout
        with self._wake:
            while any(not self.locks[op.smartlock_id].offline for op in self._ops.values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._wake.wait(remaining)
        return True

    # Model plumbing (call with self._mutex held) ---------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._mutex:
            self.counters[name] += n

    def _add_smartlock(self, name: str, nuki_id: int, device_type: int, keypad: bool) -> None:
        now = time.time()
        lock = SimSmartlock(
            smartlock_id=m.smartlock_id_for(device_type, nuki_id),
            nuki_id=nuki_id,
            name=name,
            account_id=self.account_id,
            owner_auth_id=0,
            type=device_type,
            timezone=self.timezone,
            config=m.default_config(name, keypad=keypad, device_type=device_type),
            advanced_config=m.default_advanced_config(),
        )
        self.locks[lock.smartlock_id] = lock
        self._logs[lock.smartlock_id] = []
        self._motors[lock.smartlock_id] = threading.Lock()
        owner = m.new_auth_record(
            self._ids.new(),
            lock.smartlock_id,
            {"type": m.AUTH_APP, "name": self.account_name, "remoteAllowed": True},
            now,
        )
        owner["authId"] = lock.owner_auth_id = lock.take_lock_auth_id()
        owner["accountUserId"] = 1
        self._auths[lock.smartlock_id] = {owner["id"]: owner}

    def _owner_auth(self, lock: SimSmartlock) -> dict[str, Any] | None:
        auths = self._auths[lock.smartlock_id].values()
        return next((a for a in auths if a["authId"] == lock.owner_auth_id), None)

    def _auth_view(self, record: dict[str, Any]) -> dict[str, Any]:
        op = self._ops.get(record["id"])
        return m.auth_json(record, op.operation_id if op else None)

    def _code_taken(self, smartlock_id: int, code: int, exclude: str | None = None) -> bool:
        """Whether `code` is on the lock or on its way there (queued creates and updates)."""
        for record in self._auths[smartlock_id].values():
            if record["id"] != exclude and record.get("code") == code:
                return True
        for op in self._ops.values():
            if op.smartlock_id != smartlock_id or op.auth_id == exclude:
                continue
            if op.kind == "create" and op.record and op.record.get("code") == code:
                return True
            if op.kind == "update" and op.changes and op.changes.get("code") == code:
                return True
        return False

    def _queue(self, kind: str, smartlock_id: int, auth_id: str, **data: Any) -> None:
        op = _Op(
            operation_id=self._ids.new(),
            kind=kind,
            smartlock_id=smartlock_id,
            auth_id=auth_id,
            due=time.monotonic() + self.apply_delay,
            seq=next(self._seq),
            **data,
        )
        self._ops[auth_id] = op
        self.counters["auth_ops_queued"] += 1
        self._wake.notify_all()

    def _apply_loop(self) -> None:
        """The cloud pushing queued changes through the bridge to each online lock."""
        with self._wake:
            while not self._stopping:
                now = time.monotonic()
                ops = self._ops.values()
                online = [op for op in ops if not self.locks[op.smartlock_id].offline]
                ready = sorted((op for op in online if op.due <= now), key=lambda op: op.seq)
                if not ready:
                    waits = [op.due - now for op in online]
                    self._wake.wait(min(waits) if waits else None)
                    continue
                for op in ready:
                    self._apply(op)
                self._wake.notify_all()

    def _apply(self, op: _Op) -> None:
        del self._ops[op.auth_id]
        lock = self.locks[op.smartlock_id]
        auths = self._auths[op.smartlock_id]
        now = m.iso(time.time())
        if op.kind == "create":
            record = dict(op.record or {})
            record["authId"] = lock.take_lock_auth_id()
            record["updateDate"] = now
            auths[record["id"]] = record
            self._emit_auth(record, deleted=False)
        elif op.kind == "update":
            record = auths.get(op.auth_id)
            if record is None:  # removed outside meanwhile
                return
            record.update(op.changes or {})
            record["updateDate"] = now
            self._emit_auth(record, deleted=False)
        else:
            record = auths.pop(op.auth_id, None)
            if record is None:
                return
            self._emit_auth(record, deleted=True)
        self.counters["auth_ops_applied"] += 1
        self.counters[f"auth_ops_applied:{op.kind}"] += 1

    def _emit_auth(self, record: dict[str, Any], *, deleted: bool) -> None:
        self.webhooks.emit(
            "DEVICE_AUTHS",
            {
                "smartlockId": record["smartlockId"],
                "smartlockAuth": self._auth_view(record),
                "deleted": deleted,
            },
        )

    def _status_payload(self, lock: SimSmartlock) -> dict[str, Any]:
        return {
            "smartlockId": lock.smartlock_id,
            "type": lock.type,
            "name": lock.name,
            "serverState": lock.server_state,
            "adminPinState": 0,
            "state": lock.state_json(),
            "updateDate": m.iso(lock.update_date),
        }

    def _emit_status(self, lock: SimSmartlock) -> None:
        self.webhooks.emit("DEVICE_STATUS", self._status_payload(lock))

    def _masterdata(self, lock: SimSmartlock) -> dict[str, Any]:
        return {
            "smartlockId": lock.smartlock_id,
            "type": lock.type,
            "name": lock.name,
            "firmwareVersion": lock.firmware_version,
            "hardwareVersion": lock.hardware_version,
        }

    def _add_log(self, lock: SimSmartlock, **fields: Any) -> dict[str, Any]:
        entry = m.log_entry(log_id=self._ids.new(), lock=lock, when=time.time(), **fields)
        entries = self._logs[lock.smartlock_id]
        entries.append(entry)
        del entries[:-MAX_LOG_ENTRIES]
        self.counters["log_entries"] += 1
        self.webhooks.emit("DEVICE_LOGS", {"smartlockId": lock.smartlock_id, "smartlockLog": entry})
        return entry

    # Lock actions ------------------------------------------------------------------------------

    def _steps(self, action: int) -> list[tuple[float, int, bool]]:
        """(delay before, new state, log here) for an action."""
        t = self.action_seconds
        if action == m.ACTION_UNLOCK:
            return [(0, m.UNLOCKING, False), (t, m.UNLOCKED, True)]
        if action == m.ACTION_LOCK:
            return [(0, m.LOCKING, False), (t, m.LOCKED, True)]
        if action == m.ACTION_UNLATCH:
            return [(0, m.UNLATCHING, False), (t, m.UNLATCHED, True), (t, m.UNLOCKED, False)]
        if action == m.ACTION_LNG:
            return [
                (0, m.UNLOCKING, False),
                (t, m.UNLOCKED_LNG, True),
                (t, m.LOCKING, False),
                (t, m.LOCKED, False),
            ]
        return [
            (0, m.UNLATCHING, False),
            (t, m.UNLATCHED, True),
            (t, m.UNLOCKED_LNG, False),
            (t, m.LOCKING, False),
            (t, m.LOCKED, False),
        ]

    def _start_action(
        self,
        lock: SimSmartlock,
        action: int,
        *,
        trigger: int,
        name: str,
        auth: dict[str, Any] | None = None,
        source: int = m.SOURCE_DEFAULT,
    ) -> None:
        self._count("actions")

        def run() -> None:
            with self._motors[lock.smartlock_id]:
                for delay, state, log_here in self._steps(action):
                    if delay:
                        time.sleep(delay)
                    with self._mutex:
                        lock.state = state
                        # SmartlockState.trigger has no keypad value: a keypad is an accessory
                        keypad = trigger == m.TRIGGER_KEYPAD
                        lock.trigger = m.TRIGGER_ACCESSORY if keypad else trigger
                        lock.last_action = action
                        lock.update_date = time.time()
                        self._emit_status(lock)
                        if log_here:
                            self._add_log(
                                lock,
                                action=action,
                                trigger=trigger,
                                name=name,
                                auth=auth,
                                source=source,
                            )

        threading.Thread(target=run, name="nukiweb-sim-action", daemon=True).start()

    # HTTP --------------------------------------------------------------------------------------

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], str, Handler, bool]]:
        table: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/oauth/authorize", self._ep_authorize_get, False),
            ("POST", "/oauth/authorize", self._ep_authorize_post, False),
            ("POST", "/oauth/token", self._ep_token, False),
            ("GET", "/account", self._ep_account, True),
            ("GET", "/account/user", self._ep_account_users, True),
            ("PUT", "/account/user", self._ep_account_user_create, True),
            ("GET", "/account/user/{accountUserId}", self._ep_account_user, True),
            ("POST", "/account/user/{accountUserId}", self._ep_account_user_update, True),
            ("DELETE", "/account/user/{accountUserId}", self._ep_account_user_delete, True),
            ("GET", "/smartlock", self._ep_smartlocks, True),
            ("GET", "/smartlock/auth", self._ep_account_auths, True),
            ("PUT", "/smartlock/auth", self._ep_account_auths_create, True),
            ("POST", "/smartlock/auth", self._ep_account_auths_update, True),
            ("DELETE", "/smartlock/auth", self._ep_account_auths_delete, True),
            ("GET", "/smartlock/log", self._ep_account_logs, True),
            ("GET", "/smartlock/{smartlockId}", self._ep_smartlock, True),
            ("POST", "/smartlock/{smartlockId}/action", self._ep_action, True),
            ("POST", "/smartlock/{smartlockId}/action/lock", self._ep_action_lock, True),
            ("POST", "/smartlock/{smartlockId}/action/unlock", self._ep_action_unlock, True),
            ("POST", "/smartlock/{smartlockId}/sync", self._ep_sync, True),
            ("GET", "/smartlock/{smartlockId}/auth", self._ep_auths, True),
            ("PUT", "/smartlock/{smartlockId}/auth", self._ep_auth_create, True),
            ("GET", "/smartlock/{smartlockId}/auth/{id}", self._ep_auth_get, True),
            ("POST", "/smartlock/{smartlockId}/auth/{id}", self._ep_auth_update, True),
            ("DELETE", "/smartlock/{smartlockId}/auth/{id}", self._ep_auth_delete, True),
            ("GET", "/smartlock/{smartlockId}/log", self._ep_logs, True),
            ("GET", "/api/decentralWebhook", self._ep_webhooks, True),
            ("PUT", "/api/decentralWebhook", self._ep_webhook_create, True),
            ("DELETE", "/api/decentralWebhook/{id}", self._ep_webhook_delete, True),
        ]
        routes = []
        for method, template, handler, needs_token in table:
            pattern = re.escape(template).replace(r"\{smartlockId\}", r"(\d+)")
            pattern = pattern.replace(r"\{id\}", r"([^/]+)")
            pattern = pattern.replace(r"\{accountUserId\}", r"(\d+)")
            routes.append((method, re.compile(f"^{pattern}$"), template, handler, needs_token))
        return routes

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            body = self._read_body(handler, headers)
        except ValueError:
            self._write(handler, api_error(400, "malformed request body"))
            return
        if path.startswith("/__sim__/"):
            reply = self._sim_endpoint(method, path, body)
        else:
            reply = self._handle(method, path, params, headers, body)
        self._write(handler, reply)

    @staticmethod
    def _read_body(handler: BaseHTTPRequestHandler, headers: dict[str, str]) -> bytes:
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

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
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

    def _handle(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        with self._mutex:
            self._in_flight += 1
            self.max_concurrent_seen = max(self.max_concurrent_seen, self._in_flight)
            self.counters["requests"] += 1
        status = 500
        try:
            if self.latency:
                time.sleep(self.latency)
            if self.outage_status:
                reply = api_error(self.outage_status, "service unavailable (simulated outage)")
            else:
                reply = self._dispatch(method, path, params, headers, body)
            status = reply.status
            return reply
        except Exception:
            log.exception("nukiweb-sim: %s %s failed", method, path)
            return api_error(500, "internal error")
        finally:
            with self._mutex:
                self._in_flight -= 1
                self.counters[f"status:{status}"] += 1

    def _dispatch(
        self, method: str, path: str, params: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Reply:
        allowed = False
        for route_method, pattern, template, handler, needs_token in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route_method != method:
                allowed = True
                continue
            self._count(f"{method} {template}")
            if needs_token:
                refused = self._check_bearer(headers.get("authorization", ""))
                if refused is not None:
                    return refused
            request = _Request(params, headers, body)
            try:
                return handler(request, *match.groups())
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
        self._count("unauthorized")
        reply = api_error(401, f"Your access token is not authorized ({problem})")
        reply.headers["WWW-Authenticate"] = (
            f'Bearer realm="api.nuki.io", error="invalid_token", error_description="{problem}"'
        )
        return reply

    # OAuth endpoints ---------------------------------------------------------------------------

    def _ep_authorize_get(self, r: _Request) -> Reply:
        return self.oauth.authorize_get(r.params)

    def _ep_authorize_post(self, r: _Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(r.body.decode(errors="replace")).items()}
        return self.oauth.authorize_post(form)

    def _ep_token(self, r: _Request) -> Reply:
        return self.oauth.token(r.headers, r.body)

    # API endpoints -----------------------------------------------------------------------------

    def _lock(self, smartlock_id: str) -> SimSmartlock | None:
        return self.locks.get(int(smartlock_id))

    def _ep_account(self, r: _Request) -> Reply:
        created = min((lock.creation_date for lock in self.locks.values()), default=time.time())
        return json_reply(
            200,
            {
                "accountId": self.account_id,
                "type": 0,
                "email": "owner@latchkey.invalid",
                "emailVerified": True,
                "name": self.account_name,
                "language": "en",
                "creationDate": m.iso(created),
                "updateDate": m.iso(created),
            },
        )

    # Account users

    def _account_user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next((u for u in self._account_users.values() if u["email"].lower() == wanted), None)

    def _ep_account_users(self, r: _Request) -> Reply:
        email = (r.params.get("email") or "").strip().lower()
        offset = r.int_param("offset") or 0
        limit = r.int_param("limit") or 100
        with self._mutex:
            users = [
                dict(u)
                for u in self._account_users.values()
                if not email or u["email"].lower() == email
            ]
        return json_reply(200, users[offset : offset + limit])

    def _ep_account_user_create(self, r: _Request) -> Reply:
        values = m.validate_account_user(r.json(), creating=True)
        with self._mutex:
            if self._account_user_by_email(values["email"]) is not None:
                return api_error(409, "E-Mail address already exists")
            now = m.iso(time.time())
            user = {
                "accountUserId": next(self._account_user_ids),
                "accountId": self.account_id,
                "type": values.get("type", 0),
                "email": values["email"],
                "name": values["name"],
                "language": values.get("language", "en"),
                "creationDate": now,
                "updateDate": now,
            }
            self._account_users[user["accountUserId"]] = user
            self.invitations.append({"email": user["email"], "name": user["name"]})
            self.webhooks.emit("ACCOUNT_USER", {"accountUser": dict(user), "deleted": False})
        return json_reply(200, dict(user))

    def _ep_account_user(self, r: _Request, account_user_id: str) -> Reply:
        with self._mutex:
            user = self._account_users.get(int(account_user_id))
            if user is None:
                return api_error(404, "account user not found")
            return json_reply(200, dict(user))

    def _ep_account_user_update(self, r: _Request, account_user_id: str) -> Reply:
        values = m.validate_account_user(r.json(), creating=False)
        with self._mutex:
            user = self._account_users.get(int(account_user_id))
            if user is None:
                return api_error(404, "account user not found")
            other = self._account_user_by_email(values.get("email", user["email"]))
            if other is not None and other is not user:
                return api_error(409, "E-Mail address already exists")
            user.update(values)
            user["updateDate"] = m.iso(time.time())
            self.webhooks.emit("ACCOUNT_USER", {"accountUser": dict(user), "deleted": False})
        return no_content()

    def _ep_account_user_delete(self, r: _Request, account_user_id: str) -> Reply:
        """Removes the account user and (queued, as any change) their authorizations."""
        uid = int(account_user_id)
        with self._mutex:
            user = self._account_users.get(uid)
            if user is None:
                return api_error(404, "account user not found")
            theirs = [
                (smartlock_id, auth_id)
                for smartlock_id, auths in self._auths.items()
                for auth_id, record in auths.items()
                if record.get("accountUserId") == uid
            ]
            if any(auth_id in self._ops for _, auth_id in theirs):
                self._count("locked")
                return api_error(423, "an operation is still pending on this account user")
            del self._account_users[uid]
            for smartlock_id, auth_id in theirs:
                self._queue("delete", smartlock_id, auth_id)
            self.webhooks.emit("ACCOUNT_USER", {"accountUser": dict(user), "deleted": True})
        return no_content()

    def _check_account_user(self, values: dict[str, Any]) -> Reply | None:
        """An app or fob authorization must belong to a known account user (or the owner)."""
        uid = values.get("accountUserId")
        if uid is None or uid == 1 or uid in self._account_users:
            return None
        return api_error(404, f"account user not found: {uid}")

    def _ep_smartlocks(self, r: _Request) -> Reply:
        wanted_type = r.int_param("type")
        with self._mutex:
            data = [
                lock.to_json()
                for lock in self.locks.values()
                if wanted_type is None or lock.type == wanted_type
            ]
        return json_reply(200, data)

    def _ep_smartlock(self, r: _Request, smartlock_id: str) -> Reply:
        with self._mutex:
            lock = self._lock(smartlock_id)
            if lock is None:
                return api_error(404, "smartlock not found")
            return json_reply(200, lock.to_json())

    def _ep_sync(self, r: _Request, smartlock_id: str) -> Reply:
        if self._lock(smartlock_id) is None:
            return api_error(404, "smartlock not found")
        return no_content()

    def _ep_action(self, r: _Request, smartlock_id: str) -> Reply:
        lock = self._lock(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        body = r.json()
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object with 'action'")
        action = body.get("action")
        if isinstance(action, bool) or action not in range(1, 6):
            raise Invalid("'action' must be 1 unlock, 2 lock, 3 unlatch, 4 lock 'n' go or 5")
        option = body.get("option", 0)
        if isinstance(option, bool) or option not in range(8):
            raise Invalid("'option' must be between 0 and 7")
        return self._web_action(lock, action)

    def _ep_action_lock(self, r: _Request, smartlock_id: str) -> Reply:
        lock = self._lock(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        return self._web_action(lock, m.ACTION_LOCK)

    def _ep_action_unlock(self, r: _Request, smartlock_id: str) -> Reply:
        lock = self._lock(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        return self._web_action(lock, m.ACTION_UNLOCK)

    def _web_action(self, lock: SimSmartlock, action: int) -> Reply:
        """204 at once, as the real cloud: the action then runs on the lock (or, for an
        offline lock, never arrives)."""
        if lock.offline:
            self._count("actions_dropped_offline")
            return no_content()
        with self._mutex:
            owner = self._owner_auth(lock)
        self._start_action(lock, action, trigger=m.TRIGGER_WEB, name=self.account_name, auth=owner)
        return no_content()

    # Authorizations

    def _ep_auths(self, r: _Request, smartlock_id: str) -> Reply:
        types = r.types_param()
        with self._mutex:
            lock = self._lock(smartlock_id)
            if lock is None:
                return api_error(404, "smartlock not found")
            data = [
                self._auth_view(a)
                for a in self._auths[lock.smartlock_id].values()
                if types is None or a["type"] in types
            ]
        return json_reply(200, data)

    def _ep_auth_get(self, r: _Request, smartlock_id: str, auth_id: str) -> Reply:
        with self._mutex:
            lock = self._lock(smartlock_id)
            record = self._auths[lock.smartlock_id].get(auth_id) if lock else None
            if record is None:
                return api_error(404, "smartlock authorization not found")
            return json_reply(200, self._auth_view(record))

    def _ep_auth_create(self, r: _Request, smartlock_id: str) -> Reply:
        lock = self._lock(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        values = m.validate_auth(r.json())
        with self._mutex:
            conflict = self._create(lock.smartlock_id, [values])
        return conflict or no_content()

    def _create(self, smartlock_id: int, batch: list[dict[str, Any]]) -> Reply | None:
        """Queue creations (validated); 409 for a code already on the lock or on its way,
        404 for an app authorization of an account user that does not exist."""
        for values in batch:
            refused = self._check_account_user(values)
            if refused is not None:
                return refused
        codes = [v["code"] for v in batch if "code" in v]
        if len(codes) != len(set(codes)) or any(self._code_taken(smartlock_id, c) for c in codes):
            self._count("conflicts")
            return api_error(409, "Parameter 'code' exists already")
        now = time.time()
        for values in batch:
            record = m.new_auth_record(self._ids.new(), smartlock_id, values, now)
            self._queue("create", smartlock_id, record["id"], record=record)
        return None

    def _ep_auth_update(self, r: _Request, smartlock_id: str, auth_id: str) -> Reply:
        lock = self._lock(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        body = r.json()
        with self._mutex:
            return self._update(lock.smartlock_id, auth_id, body) or no_content()

    def _find_for_change(self, smartlock_id: int, auth_id: str) -> tuple[dict | None, Reply | None]:
        record = self._auths[smartlock_id].get(auth_id)
        op = self._ops.get(auth_id)
        if op is not None and op.smartlock_id == smartlock_id:
            self._count("locked")
            return None, api_error(423, "an operation is still pending on this authorization")
        if record is None:
            return None, api_error(404, "smartlock authorization not found")
        return record, None

    def _update(self, smartlock_id: int, auth_id: str, body: Any) -> Reply | None:
        record, refused = self._find_for_change(smartlock_id, auth_id)
        if refused:
            return refused
        assert record is not None
        changes = m.validate_auth(body, existing=record)
        refused = self._check_account_user(changes)
        if refused is not None:
            return refused
        if "code" in changes and self._code_taken(smartlock_id, changes["code"], exclude=auth_id):
            self._count("conflicts")
            return api_error(409, "Parameter 'code' exists already")
        self._queue("update", smartlock_id, auth_id, changes=changes)
        return None

    def _ep_auth_delete(self, r: _Request, smartlock_id: str, auth_id: str) -> Reply:
        lock = self._lock(smartlock_id)
        if lock is None:
            return api_error(404, "smartlock not found")
        with self._mutex:
            _, refused = self._find_for_change(lock.smartlock_id, auth_id)
            if refused:
                return refused
            self._queue("delete", lock.smartlock_id, auth_id)
        return no_content()

    # Account-wide authorizations (several locks at once)

    def _where(self, auth_id: Any) -> int | None:
        for smartlock_id, auths in self._auths.items():
            if auth_id in auths:
                return smartlock_id
        op = self._ops.get(auth_id) if isinstance(auth_id, str) else None
        return op.smartlock_id if op else None

    def _ep_account_auths(self, r: _Request) -> Reply:
        types = r.types_param()
        user = r.int_param("accountUserId")
        with self._mutex:
            data = [
                self._auth_view(a)
                for auths in self._auths.values()
                for a in auths.values()
                if (types is None or a["type"] in types)
                and (
                    user is None
                    or (user > 0 and a.get("accountUserId") == user)
                    or (user < 0 and not a.get("accountUserId"))
                )
            ]
        return json_reply(200, data)

    def _ep_account_auths_create(self, r: _Request) -> Reply:
        body = r.json()
        values = m.validate_auth(body)
        ids = body.get("smartlockIds")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, int) for i in ids):
            raise Invalid("'smartlockIds' must be a non-empty list of smartlock ids")
        with self._mutex:
            unknown = [i for i in ids if i not in self.locks]
            if unknown:
                return api_error(404, f"smartlock not found: {unknown}")
            if "code" in values and any(self._code_taken(i, values["code"]) for i in ids):
                self._count("conflicts")
                return api_error(409, "Parameter 'code' exists already")
            for smartlock_id in dict.fromkeys(ids):
                self._create(smartlock_id, [values])
        return no_content()

    def _ep_account_auths_update(self, r: _Request) -> Reply:
        items = r.json()
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise Invalid("the body must be a list of authorization updates with 'id'")
        with self._mutex:
            planned = []
            for item in items:
                smartlock_id = self._where(item.get("id"))
                if smartlock_id is None:
                    return api_error(404, f"smartlock authorization not found: {item.get('id')}")
                record, refused = self._find_for_change(smartlock_id, item["id"])
                if refused:
                    return refused
                assert record is not None
                body = {k: v for k, v in item.items() if k != "id"}
                changes = m.validate_auth(body, existing=record)
                code = changes.get("code")
                if code is not None and self._code_taken(smartlock_id, code, exclude=item["id"]):
                    self._count("conflicts")
                    return api_error(409, "Parameter 'code' exists already")
                planned.append((smartlock_id, item["id"], changes))
            for smartlock_id, auth_id, changes in planned:
                self._queue("update", smartlock_id, auth_id, changes=changes)
        return no_content()

    def _ep_account_auths_delete(self, r: _Request) -> Reply:
        ids = r.json()
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise Invalid("the body must be a list of authorization ids")
        with self._mutex:
            planned = []
            for auth_id in dict.fromkeys(ids):
                smartlock_id = self._where(auth_id)
                if smartlock_id is None:
                    return api_error(404, f"smartlock authorization not found: {auth_id}")
                _, refused = self._find_for_change(smartlock_id, auth_id)
                if refused:
                    return refused
                planned.append((smartlock_id, auth_id))
            for smartlock_id, auth_id in planned:
                self._queue("delete", smartlock_id, auth_id)
        return no_content()

    # Logs

    def _ep_logs(self, r: _Request, smartlock_id: str) -> Reply:
        with self._mutex:
            lock = self._lock(smartlock_id)
            if lock is None:
                return api_error(404, "smartlock not found")
            entries = list(self._logs[lock.smartlock_id])
        return json_reply(200, m.filter_logs(entries, r.params))

    def _ep_account_logs(self, r: _Request) -> Reply:
        with self._mutex:
            entries = sorted((e for es in self._logs.values() for e in es), key=lambda e: e["id"])
        return json_reply(200, m.filter_logs(entries, r.params))

    # Webhooks

    def _ep_webhooks(self, r: _Request) -> Reply:
        return json_reply(200, self.webhooks.list())

    def _ep_webhook_create(self, r: _Request) -> Reply:
        return json_reply(200, self.webhooks.register(r.json()))

    def _ep_webhook_delete(self, r: _Request, webhook_id: str) -> Reply:
        if not webhook_id.isdigit() or not self.webhooks.delete(int(webhook_id)):
            return api_error(404, "webhook not found")
        return no_content()

    # Simulator endpoints (not part of the API, never counted) --------------------------------

    def _sim_endpoint(self, method: str, path: str, body: bytes) -> Reply:
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return api_error(400, "malformed JSON")
        try:
            if path == "/__sim__/state" and method == "GET":
                with self._mutex:
                    return json_reply(
                        200,
                        {
                            "maxConcurrentSeen": self.max_concurrent_seen,
                            "counters": dict(self.counters),
                            "smartlocks": [lock.to_json() for lock in self.locks.values()],
                            "pending": self.pending(),
                            "webhooks": self.webhooks.list(),
                        },
                    )
            if method != "POST":
                return api_error(405, "use POST")
            if path == "/__sim__/offline":
                self.set_offline(int(data["smartlockId"]), bool(data.get("offline", True)))
                return json_reply(200, {"ok": True})
            if path == "/__sim__/keypad":
                ok = self.keypad_entry(int(data["smartlockId"]), data["code"])
                return json_reply(200, {"unlocked": ok})
            if path == "/__sim__/door":
                self.set_door(int(data["smartlockId"]), int(data["doorState"]))
                return json_reply(200, {"ok": True})
            if path == "/__sim__/outage":
                self.outage_status = int(data["status"]) if data.get("status") else None
                return json_reply(200, {"ok": True})
            if path == "/__sim__/expire-access-tokens":
                self.expire_all_access_tokens()
                return json_reply(200, {"ok": True})
            if path == "/__sim__/revoke-refresh-tokens":
                self.revoke_refresh_tokens()
                return json_reply(200, {"ok": True})
            if path == "/__sim__/foreign-auth":
                fields = {k: v for k, v in data.items() if k not in ("smartlockId", "name")}
                record = self.add_foreign_auth(int(data["smartlockId"]), data["name"], **fields)
                return json_reply(200, record)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            return api_error(400, f"{exc.__class__.__name__}: {exc}")
        return api_error(404, "unknown simulator endpoint")


class _Request:
    def __init__(self, params: dict[str, str], headers: dict[str, str], body: bytes):
        self.params = params
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            raise Invalid("malformed JSON body") from None

    def int_param(self, name: str) -> int | None:
        value = self.params.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise Invalid(f"'{name}' must be an integer") from None

    def types_param(self) -> set[int] | None:
        value = self.params.get("types")
        if not value:
            return None
        try:
            return {int(part) for part in value.split(",") if part.strip()}
        except ValueError:
            raise Invalid("'types' must be comma-separated integers, e.g. 0,2,13") from None


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
