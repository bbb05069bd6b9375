"""A stand-in for a Nuki hardware bridge, speaking the Bridge HTTP API v1.13 over real HTTP.

Command line (a long-running server, e.g. for the dev stack or a third-party client):

    python -m locks.simulators.bridge --host 127.0.0.1 --port 8080 --token TOKEN --locks 2 \
        [--action-seconds 1.5]

In tests (stdlib only, plus PyNaCl for encrypted tokens):

    with BridgeSimulator(locks=2, action_seconds=0.05) as sim:
        ...  # sim.url, sim.token, sim.locks, sim.press_button(), sim.max_concurrent_seen

What it does, as the hardware does (FACTS.md, "Bridge HTTP API"):
- Every endpoint is GET with query parameters: /auth, /configAuth, /list, /lockState,
  /lockAction, /lock, /unlock, /unpair, /info, /callback/add|list|remove, /log, /clearlog,
  /reboot, /fwupdate, /factoryReset.
- Tokens: plain `token`; hashed `ts`/`rnr`/`hash`; encrypted `ctoken`/`nonce`. Hashed and
  encrypted tokens are refused (401) when their timestamp is more than `max_skew` (60 s) away
  from the bridge's clock, or when their (ts, rnr) was used before.
- One request at a time: a request that arrives while another is being served gets 503. The
  radio runs one lock command at a time too: /lockState and lock actions get 503 while an
  action started with nowait=1 is still running.
- Lock actions take `action_seconds` per movement and go through the documented states
  (unlock: unlocking -> unlocked; lock: locking -> locked; unlatch: unlatching -> unlatched ->
  unlocked; lock 'n' go: unlocking -> unlocked (lock 'n' go) -> locking -> locked). With
  nowait=1 (third-party clients also send noWait=1) the answer comes at once.
- Every state change (lock state or door sensor) is appended to /log and POSTed as JSON to each
  registered callback URL (at most 3) by a background thread; requests never wait for it.
- /auth hands out the token only if the bridge button is pressed (`press_button()` or
  GET/POST /__sim__/press-button) within `auth_window` (30 s) of the request: a press while
  /auth waits, or shortly before it.

Our own choices where the documents are silent: the /log entries' fields beyond timestamp and
type; /lock maps to "lock" and /unlock to "unlock" ("unlatch" for a lock with a knob); the
maintenance endpoints answer 200 with an empty body; /factoryReset clears callbacks and the log
but keeps the token and the paired locks.

Test hooks (not part of the bridge API, never counted as bridge requests): /__sim__/press-button,
/__sim__/state; methods set_door(), set_battery(), set_offline(); attributes `latency` (added
to every API answer) and `clock_offset` (the bridge's clock error, in seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import queue
import re
import secrets
import signal
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nacl.exceptions
import nacl.secret

log = logging.getLogger(__name__)

# Smart lock states (section 4.3 of the Bridge HTTP API).
UNCALIBRATED, LOCKED, UNLOCKING, UNLOCKED, LOCKING, UNLATCHED, UNLOCKED_LNG, UNLATCHING = range(8)
STATE_NAMES = {
    0: "uncalibrated",
    1: "locked",
    2: "unlocking",
    3: "unlocked",
    4: "locking",
    5: "unlatched",
    6: "unlocked (lock 'n' go)",
    7: "unlatching",
    254: "motor blocked",
    255: "undefined",
}
# Door sensor states (section 4.6).
DOOR_DEACTIVATED, DOOR_CLOSED, DOOR_OPENED, DOOR_UNKNOWN, DOOR_CALIBRATING = 1, 2, 3, 4, 5
DOOR_NAMES = {
    1: "deactivated",
    2: "door closed",
    3: "door opened",
    4: "door state unknown",
    5: "calibrating",
}
ACTION_UNLOCK, ACTION_LOCK, ACTION_UNLATCH, ACTION_LNG, ACTION_LNG_UNLATCH = 1, 2, 3, 4, 5

MAX_CALLBACKS = 3
MAX_CALLBACK_URL = 254
MAX_LOG_ENTRIES = 10_000
TS_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_SECRETS = re.compile(r"(?<=[?&])(token|hash|ctoken|nonce)=[^&\s\"']*")  # masked in logs


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class SimulatedLock:
    """One smart lock paired with the simulated bridge."""

    nuki_id: int
    name: str
    device_type: int = 0
    mode: int = 2
    state: int = LOCKED
    battery_charge: int = 85
    battery_charging: bool = False
    keypad_battery_critical: bool = False
    door: int = DOOR_CLOSED
    knob: bool = False
    offline: bool = False
    firmware_version: str = "2.12.4"
    updated_at: float = field(default_factory=time.time)

    @property
    def battery_critical(self) -> bool:
        return self.battery_charge <= 20

    def state_json(self) -> dict[str, Any]:
        """The state fields shared by /list's lastKnownState, /lockState and callbacks."""
        data: dict[str, Any] = {
            "mode": self.mode,
            "state": self.state,
            "stateName": STATE_NAMES.get(self.state, "undefined"),
            "batteryCritical": self.battery_critical,
            "batteryCharging": self.battery_charging,
            "batteryChargeState": self.battery_charge,
            "keypadBatteryCritical": self.keypad_battery_critical,
        }
        if self.door is not None:
            data["doorsensorState"] = self.door
            data["doorsensorStateName"] = DOOR_NAMES.get(self.door, "door state unknown")
        return data


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many clients connecting at once must reach the 503, not a RST


class _Handler(BaseHTTPRequestHandler):
    sim: BridgeSimulator  # set on the per-simulator subclass
    server_version = "NukiBridgeSimulator/1.13"

    def do_GET(self) -> None:
        self.sim._serve(self, "GET")

    def do_POST(self) -> None:
        self.sim._serve(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("bridge-sim %s", _SECRETS.sub(r"\1=***", format % args))


class BridgeSimulator:
    """A simulated bridge. start() it (port=0 picks a free port), read .url and .token.

    counters (a Counter): requests (API requests), busy (503 answers), unauthorized (401),
    actions, state_changes, callbacks_sent, callbacks_failed, button_presses, auth_granted,
    reboots, fw_updates, factory_resets, and "endpoint:/path" per endpoint.
    max_concurrent_seen: the most API requests ever in flight at once (503s included).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str | None = None,
        locks: int = 1,
        action_seconds: float = 1.5,
        query_seconds: float | None = None,
        auth_window: float = 30.0,
        max_skew: float = 60.0,
        callback_timeout: float = 3.0,
        latency: float = 0.0,
        clock_offset: float = 0.0,
        battery_drain: int = 1,
        first_nuki_id: int = 400_000_001,
    ):
        self.host = host
        self._requested_port = port
        self.token = token or secrets.token_hex(10)
        self.action_seconds = action_seconds
        self.query_seconds = action_seconds / 3 if query_seconds is None else query_seconds
        self.auth_window = auth_window
        self.max_skew = max_skew
        self.callback_timeout = callback_timeout
        self.latency = latency
        self.clock_offset = clock_offset
        self.battery_drain = battery_drain
        self.auth_enabled = True
        self.hardware_id = 0x1234_5678
        self.server_id = 0x2117_6045
        self.locks: dict[int, SimulatedLock] = {}
        for i in range(locks):
            lock = SimulatedLock(nuki_id=first_nuki_id + i, name=f"Lock {i + 1}")
            self.locks[lock.nuki_id] = lock

        self.counters: Counter[str] = Counter()
        self.max_concurrent_seen = 0
        self._mutex = threading.Lock()
        self._in_flight = 0
        self._radio = threading.Lock()
        self._callbacks: dict[int, str] = {}
        self._log: list[dict[str, Any]] = []
        self._used_tokens: dict[tuple[str, int], float] = {}
        self._button = threading.Condition()
        self._pressed_at: float | None = None
        self._boot = time.monotonic()
        self._outbox: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    # Life cycle ----------------------------------------------------------------------------

    def start(self) -> BridgeSimulator:
        handler = type("BridgeSimHandler", (_Handler,), {"sim": self})
        self._server = _Server((self.host, self._requested_port), handler)
        self._threads = [
            threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.02},
                name="bridge-sim-http",
                daemon=True,
            ),
            threading.Thread(target=self._deliver_callbacks, name="bridge-sim-cb", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._outbox.put(None)
        for thread in self._threads:
            thread.join(timeout=5)
        self._server = None
        self._threads = []

    def __enter__(self) -> BridgeSimulator:
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

    # Hooks for tests and demos --------------------------------------------------------------

    def press_button(self) -> None:
        """Press the bridge's button: grants one /auth waiting now or coming within the
        auth window."""
        with self._button:
            self._pressed_at = time.monotonic()
            self._button.notify_all()
        self._count("button_presses")

    def set_door(self, nuki_id: int, door_state: int) -> None:
        self._change(self.locks[nuki_id], door=door_state)

    def set_battery(self, nuki_id: int, charge: int, *, charging: bool = False) -> None:
        lock = self.locks[nuki_id]
        with self._mutex:
            lock.battery_charge = charge
            lock.battery_charging = charging
        self._change(lock)

    def set_offline(self, nuki_id: int, offline: bool = True) -> None:
        """An offline lock: the bridge answers 200 with success=false for it."""
        with self._mutex:
            self.locks[nuki_id].offline = offline

    def callbacks(self) -> list[str]:
        with self._mutex:
            return [self._callbacks[i] for i in sorted(self._callbacks)]

    def now(self) -> float:
        """The bridge's clock."""
        return time.time() + self.clock_offset

    # HTTP ------------------------------------------------------------------------------------

    def _count(self, name: str, n: int = 1) -> None:
        with self._mutex:
            self.counters[name] += n

    def _serve(self, request: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(request.path)
        path = parts.path.rstrip("/") or "/"
        params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if path.startswith("/__sim__/"):
            status, body = self._sim_endpoint(path, params)
        else:
            status, body = self._api(path, method, params)
        payload = b"" if body is None else json.dumps(body).encode()
        try:
            request.send_response(status)
            request.send_header("Content-Type", "application/json;charset=UTF-8")
            request.send_header("Content-Length", str(len(payload)))
            request.send_header("Connection", "close")
            request.end_headers()
            request.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            log.debug("bridge-sim: client went away before the answer to %s", path)

    def _api(self, path: str, method: str, params: dict[str, str]) -> tuple[int, Any]:
        with self._mutex:
            self._in_flight += 1
            concurrent = self._in_flight
            self.max_concurrent_seen = max(self.max_concurrent_seen, concurrent)
            self.counters["requests"] += 1
            self.counters[f"endpoint:{path}"] += 1
        try:
            if concurrent > 1:
                self._count("busy")
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
            with self._mutex:
                self._in_flight -= 1

    def _dispatch(self, path: str, p: dict[str, str]) -> tuple[int, Any]:
        routes: dict[str, Callable[[dict[str, str]], tuple[int, Any]]] = {
            "/auth": self._ep_auth,
            "/configAuth": self._ep_config_auth,
            "/list": self._ep_list,
            "/lockState": self._ep_lock_state,
            "/lockAction": self._ep_lock_action,
            "/lock": self._ep_simple_lock,
            "/unlock": self._ep_simple_unlock,
            "/unpair": self._ep_unpair,
            "/info": self._ep_info,
            "/callback/add": self._ep_callback_add,
            "/callback/list": self._ep_callback_list,
            "/callback/remove": self._ep_callback_remove,
            "/log": self._ep_log,
            "/clearlog": self._ep_clear_log,
            "/reboot": self._ep_reboot,
            "/fwupdate": self._ep_fwupdate,
            "/factoryReset": self._ep_factory_reset,
        }
        endpoint = routes.get(path)
        if endpoint is None:
            return 404, {"success": False, "message": "unknown endpoint"}
        if path != "/auth":
            refused = self._check_token(p)
            if refused:
                self._count("unauthorized")
                log.debug("bridge-sim: 401 for %s: %s", path, refused)
                return 401, {"success": False, "message": refused}
        return endpoint(p)

    # Tokens ----------------------------------------------------------------------------------

    def _check_token(self, p: dict[str, str]) -> str | None:
        """None when the request carries a valid token, else why not."""
        if "token" in p:
            if hmac.compare_digest(p["token"].encode(), self.token.encode()):
                return None
            return "wrong token"
        if "hash" in p:
            ts, rnr = p.get("ts", ""), p.get("rnr", "")
            expected = hashlib.sha256(f"{ts},{rnr},{self.token}".encode()).hexdigest()
            if not hmac.compare_digest(p["hash"].lower().encode(), expected.encode()):
                return "wrong hash (wrong token, or ts/rnr differ from what was hashed)"
            return self._check_fresh(ts, rnr)
        if "ctoken" in p:
            try:
                nonce = bytes.fromhex(p.get("nonce", ""))
                sealed = bytes.fromhex(p["ctoken"])
            except ValueError:
                return "ctoken and nonce must be hex"
            if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
                return "nonce must be 24 bytes"
            box = nacl.secret.SecretBox(hashlib.sha256(self.token.encode()).digest())
            try:
                ts, _, rnr = box.decrypt(sealed, nonce).decode().partition(",")
            except (nacl.exceptions.CryptoError, UnicodeDecodeError):
                return "ctoken does not decrypt with this bridge's token"
            return self._check_fresh(ts, rnr)
        return "no token"

    def _check_fresh(self, ts: str, rnr: str) -> str | None:
        try:
            when = dt.datetime.strptime(ts, TS_FORMAT).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            return "ts must be YYYY-MM-DDTHH:MM:SSZ"
        if not rnr.isdigit() or not 0 <= int(rnr) <= 65535:
            return "rnr must be a uint16"
        now = self.now()
        if abs(now - when) > self.max_skew:
            return f"ts is {now - when:+.0f} s away from the bridge's clock"
        key = (ts, int(rnr))
        with self._mutex:
            horizon = now - 2 * self.max_skew - 5
            for old in [k for k, seen in self._used_tokens.items() if seen < horizon]:
                del self._used_tokens[old]
            if key in self._used_tokens:
                return "token already used (same ts and rnr)"
            self._used_tokens[key] = now
        return None

    # Devices and actions ---------------------------------------------------------------------

    def _device(self, p: dict[str, str]) -> tuple[SimulatedLock | None, tuple[int, Any] | None]:
        try:
            nuki_id = int(p["nukiId"])
            device_type = int(p.get("deviceType", "0"))
        except (KeyError, ValueError):
            return None, (400, {"success": False, "message": "nukiId/deviceType invalid"})
        with self._mutex:
            lock = self.locks.get(nuki_id)
        if lock is None or lock.device_type != device_type:
            return None, (404, {"success": False, "message": "unknown device"})
        return lock, None

    def _busy(self) -> tuple[int, Any]:
        self._count("busy")
        return 503, {"success": False, "message": "bridge busy"}

    def _steps(self, lock: SimulatedLock, action: int) -> list[tuple[float, dict[str, int]]]:
        """(delay before, change) pairs for an action, starting from the lock's state."""
        t = self.action_seconds
        sensor = lock.door in (DOOR_CLOSED, DOOR_OPENED, DOOR_UNKNOWN)

        def opened(state: int) -> dict[str, int]:
            return {"state": state, "door": DOOR_OPENED} if sensor else {"state": state}

        closes = [(t / 2, {"door": DOOR_CLOSED})] if sensor else []
        if action == ACTION_UNLOCK:
            if lock.state == UNLOCKED:
                return []
            return [(0, {"state": UNLOCKING}), (t, {"state": UNLOCKED})]
        if action == ACTION_LOCK:
            if lock.state == LOCKED:
                return []
            return [(0, {"state": LOCKING}), (t, {"state": LOCKED})]
        if action == ACTION_UNLATCH:
            return [
                (0, {"state": UNLATCHING}),
                (t, opened(UNLATCHED)),
                (t / 2, {"state": UNLOCKED}),
                *closes,
            ]
        if action == ACTION_LNG:
            return [
                (0, {"state": UNLOCKING}),
                (t, {"state": UNLOCKED_LNG}),
                (t, {"state": LOCKING}),
                (t, {"state": LOCKED}),
            ]
        # ACTION_LNG_UNLATCH
        return [
            (0, {"state": UNLATCHING}),
            (t, opened(UNLATCHED)),
            (t / 2, {"state": UNLOCKED_LNG}),
            *closes,
            (t / 2, {"state": LOCKING}),
            (t, {"state": LOCKED}),
        ]

    def _run_action(self, lock: SimulatedLock, action: int, nowait: bool) -> tuple[int, Any]:
        if lock.offline:
            return 200, {"success": False, "batteryCritical": lock.battery_critical}
        if not self._radio.acquire(blocking=False):
            return self._busy()
        self._count("actions")
        with self._mutex:
            lock.battery_charge = max(0, lock.battery_charge - self.battery_drain)
            steps = self._steps(lock, action)
        if nowait:
            threading.Thread(target=self._perform, args=(lock, steps), daemon=True).start()
        else:
            self._perform(lock, steps)
        return 200, {"success": True, "batteryCritical": lock.battery_critical}

    def _perform(self, lock: SimulatedLock, steps: list[tuple[float, dict[str, int]]]) -> None:
        """Move the lock through its states; holds the radio (taken by the caller)."""
        try:
            for delay, change in steps:
                if delay:
                    time.sleep(delay)
                self._change(lock, **change)
        finally:
            self._radio.release()

    def _change(self, lock: SimulatedLock, state: int | None = None, door: int | None = None):
        """Record a state change: the lock, the log, and the callbacks."""
        now = self.now()
        with self._mutex:
            if state is not None:
                lock.state = state
            if door is not None:
                lock.door = door
            lock.updated_at = now
            payload = {"nukiId": lock.nuki_id, "deviceType": lock.device_type}
            payload.update(lock.state_json())
            if state is not None:
                kind = "lock-state-changed"
            elif door is not None:
                kind = "doorsensor-state-changed"
            else:
                kind = "battery-state-changed"
            entry = {"timestamp": _iso(now), "type": kind, **payload}
            self._log.append(entry)
            del self._log[:-MAX_LOG_ENTRIES]
            urls = [self._callbacks[i] for i in sorted(self._callbacks)]
            self.counters["state_changes"] += 1
        for url in urls:
            self._outbox.put((url, payload))

    def _deliver_callbacks(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            url, payload = item
            request = urllib.request.Request(  # noqa: S310 (http:// checked at /callback/add)
                url,
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with self._opener.open(request, timeout=self.callback_timeout) as answer:
                    answer.read()
                self._count("callbacks_sent")
            except (OSError, ValueError) as exc:
                self._count("callbacks_failed")
                log.debug("bridge-sim: callback to %s failed: %r", url, exc)

    # Endpoints -------------------------------------------------------------------------------

    def _ep_auth(self, p: dict[str, str]) -> tuple[int, Any]:
        if not self.auth_enabled:
            return 403, {"success": False}
        started = time.monotonic()
        deadline = started + self.auth_window
        with self._button:
            while True:
                pressed = self._pressed_at
                if pressed is not None and pressed >= started - self.auth_window:
                    self._pressed_at = None
                    self.counters["auth_granted"] += 1
                    return 200, {"token": self.token, "success": True}
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return 200, {"success": False}
                self._button.wait(remaining)

    def _ep_config_auth(self, p: dict[str, str]) -> tuple[int, Any]:
        enable = p.get("enable")
        if enable not in ("0", "1"):
            return 400, {"success": False, "message": "enable must be 0 or 1"}
        self.auth_enabled = enable == "1"
        return 200, {"success": True}

    def _ep_list(self, p: dict[str, str]) -> tuple[int, Any]:
        with self._mutex:
            locks = list(self.locks.values())
            return 200, [
                {
                    "nukiId": lock.nuki_id,
                    "deviceType": lock.device_type,
                    "name": lock.name,
                    "firmwareVersion": lock.firmware_version,
                    "lastKnownState": {**lock.state_json(), "timestamp": _iso(lock.updated_at)},
                }
                for lock in locks
            ]

    def _ep_lock_state(self, p: dict[str, str]) -> tuple[int, Any]:
        lock, error = self._device(p)
        if error:
            return error
        assert lock is not None
        if lock.offline:
            return 200, {"success": False}
        if not self._radio.acquire(blocking=False):
            return self._busy()
        try:
            time.sleep(self.query_seconds)
            with self._mutex:
                return 200, {**lock.state_json(), "success": True}
        finally:
            self._radio.release()

    def _ep_lock_action(self, p: dict[str, str]) -> tuple[int, Any]:
        lock, error = self._device(p)
        if error:
            return error
        assert lock is not None
        action = p.get("action", "")
        if action not in {"1", "2", "3", "4", "5"}:
            return 400, {"success": False, "message": "action invalid"}
        nowait = p.get("nowait", p.get("noWait", "0"))
        if nowait not in ("0", "1"):
            return 400, {"success": False, "message": "nowait must be 0 or 1"}
        return self._run_action(lock, int(action), nowait == "1")

    def _ep_simple_lock(self, p: dict[str, str]) -> tuple[int, Any]:
        lock, error = self._device(p)
        if error:
            return error
        assert lock is not None
        return self._run_action(lock, ACTION_LOCK, p.get("nowait", p.get("noWait")) == "1")

    def _ep_simple_unlock(self, p: dict[str, str]) -> tuple[int, Any]:
        lock, error = self._device(p)
        if error:
            return error
        assert lock is not None
        action = ACTION_UNLATCH if lock.knob else ACTION_UNLOCK
        return self._run_action(lock, action, p.get("nowait", p.get("noWait")) == "1")

    def _ep_unpair(self, p: dict[str, str]) -> tuple[int, Any]:
        lock, error = self._device(p)
        if error:
            return error
        assert lock is not None
        with self._mutex:
            del self.locks[lock.nuki_id]
        return 200, {"success": True}

    def _ep_info(self, p: dict[str, str]) -> tuple[int, Any]:
        with self._mutex:
            locks = list(self.locks.values())
        return 200, {
            "bridgeType": 1,
            "ids": {"hardwareId": self.hardware_id, "serverId": self.server_id},
            "versions": {"firmwareVersion": "1.22.1", "wifiFirmwareVersion": "1.2.0"},
            "uptime": int(time.monotonic() - self._boot),
            "currentTime": dt.datetime.fromtimestamp(self.now(), tz=dt.UTC).strftime(TS_FORMAT),
            "wlanConnected": True,
            "serverConnected": True,
            "scanResults": [
                {
                    "nukiId": lock.nuki_id,
                    "deviceType": lock.device_type,
                    "name": lock.name,
                    "rssi": -55 - 3 * i,
                    "paired": True,
                }
                for i, lock in enumerate(locks)
            ],
        }

    def _ep_callback_add(self, p: dict[str, str]) -> tuple[int, Any]:
        url = p.get("url")
        if url is None:
            return 400, {"success": False, "message": "url missing"}
        parts = urlsplit(url)
        with self._mutex:
            if parts.scheme != "http" or not parts.hostname:
                return 200, {"success": False, "message": "URL invalid (http only)"}
            if len(url) > MAX_CALLBACK_URL:
                return 200, {"success": False, "message": "URL too long"}
            if url in self._callbacks.values():
                return 200, {"success": False, "message": "callback already added"}
            free = sorted(set(range(MAX_CALLBACKS)) - set(self._callbacks))
            if not free:
                return 200, {"success": False, "message": "too many callbacks registered"}
            self._callbacks[free[0]] = url
        return 200, {"success": True}

    def _ep_callback_list(self, p: dict[str, str]) -> tuple[int, Any]:
        with self._mutex:
            items = sorted(self._callbacks.items())
        return 200, {"callbacks": [{"id": i, "url": url} for i, url in items]}

    def _ep_callback_remove(self, p: dict[str, str]) -> tuple[int, Any]:
        try:
            callback_id = int(p["id"])
        except (KeyError, ValueError):
            return 400, {"success": False, "message": "id invalid"}
        with self._mutex:
            if self._callbacks.pop(callback_id, None) is None:
                return 200, {"success": False, "message": "callback not found"}
        return 200, {"success": True}

    def _ep_log(self, p: dict[str, str]) -> tuple[int, Any]:
        try:
            offset = int(p.get("offset", "0"))
            count = int(p.get("count", "100"))
        except ValueError:
            return 400, {"success": False, "message": "offset/count invalid"}
        if offset < 0 or count < 0:
            return 400, {"success": False, "message": "offset/count invalid"}
        with self._mutex:
            newest_first = self._log[::-1]
        return 200, newest_first[offset : offset + count]

    def _ep_clear_log(self, p: dict[str, str]) -> tuple[int, Any]:
        with self._mutex:
            self._log.clear()
        return 200, None

    def _ep_reboot(self, p: dict[str, str]) -> tuple[int, Any]:
        self._boot = time.monotonic()
        self._count("reboots")
        return 200, None

    def _ep_fwupdate(self, p: dict[str, str]) -> tuple[int, Any]:
        self._count("fw_updates")
        return 200, None

    def _ep_factory_reset(self, p: dict[str, str]) -> tuple[int, Any]:
        with self._mutex:
            self._callbacks.clear()
            self._log.clear()
            self.counters["factory_resets"] += 1
        return 200, None

    def _sim_endpoint(self, path: str, p: dict[str, str]) -> tuple[int, Any]:
        if path == "/__sim__/press-button":
            self.press_button()
            return 200, {"success": True}
        if path == "/__sim__/state":
            with self._mutex:
                return 200, {
                    "maxConcurrentSeen": self.max_concurrent_seen,
                    "counters": dict(self.counters),
                    "callbacks": [self._callbacks[i] for i in sorted(self._callbacks)],
                    "locks": [
                        {"nukiId": lock.nuki_id, "name": lock.name, **lock.state_json()}
                        for lock in self.locks.values()
                    ],
                }
        return 404, {"success": False, "message": "unknown simulator endpoint"}


class CallbackReceiver:
    """A tiny HTTP server that records what a bridge POSTs to its callback URL.

    `events` holds the decoded JSON bodies in arrival order; `wait_for(predicate)` waits until
    predicate(events) is true. `delay` makes every answer slow; with `gate` (a threading.Event)
    each request waits until the gate is set (at most 10 s) before it is recorded and answered,
    to check that a bridge never waits for its callbacks.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float = 0.0,
        gate: threading.Event | None = None,
    ):
        self.host = host
        self.delay = delay
        self.gate = gate
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.gate is not None:
                    receiver.gate.wait(10)
                try:
                    data = json.loads(body)
                except ValueError:
                    data = {"_invalid": body.decode(errors="replace")}
                with receiver._cond:
                    receiver.events.append(data)
                    receiver.paths.append(self.path)
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("callback-receiver %s", format % args)

        self._server = _Server((host, port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="callback-receiver",
            daemon=True,
        )

    def start(self) -> CallbackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> CallbackReceiver:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def url(self, path: str = "/nuki-callback") -> str:
        return f"http://{self.host}:{self._server.server_address[1]}{path}"

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.events):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def clear(self) -> None:
        with self._cond:
            self.events.clear()
            self.paths.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m locks.simulators.bridge",
        description="A simulated Nuki hardware bridge (Bridge HTTP API v1.13).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--token", help="API token (default: a random one, printed)")
    parser.add_argument("--locks", type=int, default=1, help="number of paired smart locks")
    parser.add_argument("--action-seconds", type=float, default=1.5)
    parser.add_argument("--auth-window", type=float, default=30.0)
    parser.add_argument("--max-skew", type=float, default=60.0)
    parser.add_argument("--clock-offset", type=float, default=0.0, help="bridge clock error, s")
    parser.add_argument("--latency", type=float, default=0.0, help="added to every answer, s")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    sim = BridgeSimulator(
        host=args.host,
        port=args.port,
        token=args.token,
        locks=args.locks,
        action_seconds=args.action_seconds,
        auth_window=args.auth_window,
        max_skew=args.max_skew,
        clock_offset=args.clock_offset,
        latency=args.latency,
    )

    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _terminate)
    sim.start()
    ids = ", ".join(str(i) for i in sim.locks)
    print(f"Nuki bridge simulator at {sim.url} token={sim.token} nukiIds: {ids}", flush=True)
    print(f"Press the button: curl -X POST {sim.url}/__sim__/press-button", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        with contextlib.suppress(Exception):
            sim.stop()


if __name__ == "__main__":
    main()
