"""The Bridge HTTP API's endpoints: one function per path, each answering (status, JSON body).

Every endpoint takes the bridge's state and the request's query parameters; `ROUTES` maps paths to
them. Token checks and the one-request-at-a-time rule are the server's (server.py).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .model import (
    ACTION_LOCK,
    ACTION_UNLATCH,
    ACTION_UNLOCK,
    MAX_CALLBACK_URL,
    MAX_CALLBACKS,
    TS_FORMAT,
    SimulatedLock,
    action_steps,
    iso,
)
from .state import BridgeState

Answer = tuple[int, Any]
Params = dict[str, str]


def busy(sim: BridgeState) -> Answer:
    sim.count("busy")
    return 503, {"success": False, "message": "bridge busy"}


def device(sim: BridgeState, p: Params) -> tuple[SimulatedLock | None, Answer | None]:
    """The lock a request names (nukiId, deviceType), or the error answer."""
    try:
        nuki_id = int(p["nukiId"])
        device_type = int(p.get("deviceType", "0"))
    except (KeyError, ValueError):
        return None, (400, {"success": False, "message": "nukiId/deviceType invalid"})
    with sim.mutex:
        lock = sim.locks.get(nuki_id)
    if lock is None or lock.device_type != device_type:
        return None, (404, {"success": False, "message": "unknown device"})
    return lock, None


def run_action(sim: BridgeState, lock: SimulatedLock, action: int, nowait: bool) -> Answer:
    """Take the radio and move the lock; with nowait the answer comes before the movement."""
    if lock.offline:
        return 200, {"success": False, "batteryCritical": lock.battery_critical}
    if not sim.radio.acquire(blocking=False):
        return busy(sim)
    sim.count("actions")
    with sim.mutex:
        lock.battery_charge = max(0, lock.battery_charge - sim.battery_drain)
        steps = action_steps(lock, action, sim.action_seconds)
    if nowait:
        threading.Thread(target=sim.perform, args=(lock, steps), daemon=True).start()
    else:
        sim.perform(lock, steps)
    return 200, {"success": True, "batteryCritical": lock.battery_critical}


def auth(sim: BridgeState, p: Params) -> Answer:
    if not sim.auth_enabled:
        return 403, {"success": False}
    started = time.monotonic()
    deadline = started + sim.auth_window
    with sim.button:
        while True:
            pressed = sim.pressed_at
            if pressed is not None and pressed >= started - sim.auth_window:
                sim.pressed_at = None
                sim.counters["auth_granted"] += 1
                return 200, {"token": sim.token, "success": True}
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return 200, {"success": False}
            sim.button.wait(remaining)


def config_auth(sim: BridgeState, p: Params) -> Answer:
    enable = p.get("enable")
    if enable not in ("0", "1"):
        return 400, {"success": False, "message": "enable must be 0 or 1"}
    sim.auth_enabled = enable == "1"
    return 200, {"success": True}


def list_locks(sim: BridgeState, p: Params) -> Answer:
    with sim.mutex:
        locks = list(sim.locks.values())
        return 200, [
            {
                "nukiId": lock.nuki_id,
                "deviceType": lock.device_type,
                "name": lock.name,
                "firmwareVersion": lock.firmware_version,
                "lastKnownState": {**lock.state_json(), "timestamp": iso(lock.updated_at)},
            }
            for lock in locks
        ]


def lock_state(sim: BridgeState, p: Params) -> Answer:
    lock, error = device(sim, p)
    if error:
        return error
    assert lock is not None
    if lock.offline:
        return 200, {"success": False}
    if not sim.radio.acquire(blocking=False):
        return busy(sim)
    try:
        time.sleep(sim.query_seconds)
        with sim.mutex:
            return 200, {**lock.state_json(), "success": True}
    finally:
        sim.radio.release()


def lock_action(sim: BridgeState, p: Params) -> Answer:
    lock, error = device(sim, p)
    if error:
        return error
    assert lock is not None
    action = p.get("action", "")
    if action not in {"1", "2", "3", "4", "5"}:
        return 400, {"success": False, "message": "action invalid"}
    nowait = p.get("nowait", p.get("noWait", "0"))
    if nowait not in ("0", "1"):
        return 400, {"success": False, "message": "nowait must be 0 or 1"}
    return run_action(sim, lock, int(action), nowait == "1")


def simple_lock(sim: BridgeState, p: Params) -> Answer:
    lock, error = device(sim, p)
    if error:
        return error
    assert lock is not None
    return run_action(sim, lock, ACTION_LOCK, p.get("nowait", p.get("noWait")) == "1")


def simple_unlock(sim: BridgeState, p: Params) -> Answer:
    lock, error = device(sim, p)
    if error:
        return error
    assert lock is not None
    action = ACTION_UNLATCH if lock.knob else ACTION_UNLOCK
    return run_action(sim, lock, action, p.get("nowait", p.get("noWait")) == "1")


def unpair(sim: BridgeState, p: Params) -> Answer:
    lock, error = device(sim, p)
    if error:
        return error
    assert lock is not None
    with sim.mutex:
        del sim.locks[lock.nuki_id]
    return 200, {"success": True}


def info(sim: BridgeState, p: Params) -> Answer:
    with sim.mutex:
        locks = list(sim.locks.values())
    return 200, {
        "bridgeType": 1,
        "ids": {"hardwareId": sim.hardware_id, "serverId": sim.server_id},
        "versions": {"firmwareVersion": "1.22.1", "wifiFirmwareVersion": "1.2.0"},
        "uptime": int(time.monotonic() - sim.booted_at),
        "currentTime": dt.datetime.fromtimestamp(sim.now(), tz=dt.UTC).strftime(TS_FORMAT),
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


def callback_add(sim: BridgeState, p: Params) -> Answer:
    url = p.get("url")
    if url is None:
        return 400, {"success": False, "message": "url missing"}
    parts = urlsplit(url)
    with sim.mutex:
        if parts.scheme != "http" or not parts.hostname:
            return 200, {"success": False, "message": "URL invalid (http only)"}
        if len(url) > MAX_CALLBACK_URL:
            return 200, {"success": False, "message": "URL too long"}
        if url in sim.callback_slots.values():
            return 200, {"success": False, "message": "callback already added"}
        free = sorted(set(range(MAX_CALLBACKS)) - set(sim.callback_slots))
        if not free:
            return 200, {"success": False, "message": "too many callbacks registered"}
        sim.callback_slots[free[0]] = url
    return 200, {"success": True}


def callback_list(sim: BridgeState, p: Params) -> Answer:
    with sim.mutex:
        items = sorted(sim.callback_slots.items())
    return 200, {"callbacks": [{"id": i, "url": url} for i, url in items]}


def callback_remove(sim: BridgeState, p: Params) -> Answer:
    try:
        callback_id = int(p["id"])
    except (KeyError, ValueError):
        return 400, {"success": False, "message": "id invalid"}
    with sim.mutex:
        if sim.callback_slots.pop(callback_id, None) is None:
            return 200, {"success": False, "message": "callback not found"}
    return 200, {"success": True}


def read_log(sim: BridgeState, p: Params) -> Answer:
    try:
        offset = int(p.get("offset", "0"))
        count = int(p.get("count", "100"))
    except ValueError:
        return 400, {"success": False, "message": "offset/count invalid"}
    if offset < 0 or count < 0:
        return 400, {"success": False, "message": "offset/count invalid"}
    with sim.mutex:
        newest_first = sim.log_entries[::-1]
    return 200, newest_first[offset : offset + count]


def clear_log(sim: BridgeState, p: Params) -> Answer:
    with sim.mutex:
        sim.log_entries.clear()
    return 200, None


def reboot(sim: BridgeState, p: Params) -> Answer:
    sim.booted_at = time.monotonic()
    sim.count("reboots")
    return 200, None


def fwupdate(sim: BridgeState, p: Params) -> Answer:
    sim.count("fw_updates")
    return 200, None


def factory_reset(sim: BridgeState, p: Params) -> Answer:
    with sim.mutex:
        sim.callback_slots.clear()
        sim.log_entries.clear()
        sim.counters["factory_resets"] += 1
    return 200, None


Endpoint = Callable[[BridgeState, Params], Answer]

ROUTES: dict[str, Endpoint] = {
    "/auth": auth,
    "/configAuth": config_auth,
    "/list": list_locks,
    "/lockState": lock_state,
    "/lockAction": lock_action,
    "/lock": simple_lock,
    "/unlock": simple_unlock,
    "/unpair": unpair,
    "/info": info,
    "/callback/add": callback_add,
    "/callback/list": callback_list,
    "/callback/remove": callback_remove,
    "/log": read_log,
    "/clearlog": clear_log,
    "/reboot": reboot,
    "/fwupdate": fwupdate,
    "/factoryReset": factory_reset,
}
"""Path -> endpoint. /auth is the one path served without a token."""
