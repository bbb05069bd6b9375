"""The simulated bridge's working state: its paired locks, the radio, the log and the callbacks.

`BridgeState` is everything the bridge is apart from HTTP: the endpoints (routes.py) read and
change it, and the server (server.py) adds the HTTP server on top. Every lock state change is
appended to the log and queued for each registered callback URL; a background thread posts
them, so no request ever waits for a callback.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
import urllib.request
from collections import Counter
from typing import Any

from .model import MAX_LOG_ENTRIES, SimulatedLock, Step, iso

log = logging.getLogger(__name__)


class BridgeState:
    """The bridge without its HTTP server.

    Options: token (default: a random one), locks (how many are paired), action_seconds (per
    movement), query_seconds (a /lockState; default a third of an action), auth_window (s a
    button press grants /auth), max_skew (s a hashed token's ts may be off), callback_timeout,
    latency (added to every API answer), clock_offset (the bridge's clock error, s),
    battery_drain (percent per action), first_nuki_id.
    """

    def __init__(
        self,
        *,
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
    ) -> None:
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
        self.mutex = threading.Lock()
        """Guards the locks, counters, callbacks and log."""
        self.radio = threading.Lock()
        """Held while a lock command runs: the bridge talks to one lock at a time."""
        self.callback_slots: dict[int, str] = {}
        """Registered callback URLs by their id (0-2)."""
        self.log_entries: list[dict[str, Any]] = []
        """/log, oldest first."""
        self.button = threading.Condition()
        self.pressed_at: float | None = None
        """When the button was last pressed (monotonic), until an /auth uses the press."""
        self.booted_at = time.monotonic()
        self._outbox: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._courier: threading.Thread | None = None

    # Hooks for tests and demos --------------------------------------------------------------

    def press_button(self) -> None:
        """Press the bridge's button: grants one /auth waiting now or coming within the
        auth window."""
        with self.button:
            self.pressed_at = time.monotonic()
            self.button.notify_all()
        self.count("button_presses")

    def set_door(self, nuki_id: int, door_state: int) -> None:
        self.change(self.locks[nuki_id], door=door_state)

    def set_battery(self, nuki_id: int, charge: int, *, charging: bool = False) -> None:
        lock = self.locks[nuki_id]
        with self.mutex:
            lock.battery_charge = charge
            lock.battery_charging = charging
        self.change(lock)

    def set_offline(self, nuki_id: int, offline: bool = True) -> None:
        """An offline lock: the bridge answers 200 with success=false for it."""
        with self.mutex:
            self.locks[nuki_id].offline = offline

    def callbacks(self) -> list[str]:
        with self.mutex:
            return [self.callback_slots[i] for i in sorted(self.callback_slots)]

    def now(self) -> float:
        """The bridge's clock."""
        return time.time() + self.clock_offset

    def count(self, name: str, n: int = 1) -> None:
        with self.mutex:
            self.counters[name] += n

    # Locks moving -----------------------------------------------------------------------------

    def perform(self, lock: SimulatedLock, steps: list[Step]) -> None:
        """Move the lock through its states; holds the radio (taken by the caller)."""
        try:
            for delay, change in steps:
                if delay:
                    time.sleep(delay)
                self.change(lock, **change)
        finally:
            self.radio.release()

    def change(self, lock: SimulatedLock, state: int | None = None, door: int | None = None):
        """Record a state change: the lock, the log, and the callbacks."""
        now = self.now()
        with self.mutex:
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
            entry = {"timestamp": iso(now), "type": kind, **payload}
            self.log_entries.append(entry)
            del self.log_entries[:-MAX_LOG_ENTRIES]
            urls = [self.callback_slots[i] for i in sorted(self.callback_slots)]
            self.counters["state_changes"] += 1
        for url in urls:
            self._outbox.put((url, payload))

    # Callbacks ----------------------------------------------------------------------------------

    def start_callbacks(self) -> None:
        self._courier = threading.Thread(
            target=self._deliver_callbacks, name="bridge-sim-cb", daemon=True
        )
        self._courier.start()

    def stop_callbacks(self) -> None:
        self._outbox.put(None)
        if self._courier is not None:
            self._courier.join(timeout=5)
        self._courier = None

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
                self.count("callbacks_sent")
            except (OSError, ValueError) as exc:
                self.count("callbacks_failed")
                log.debug("bridge-sim: callback to %s failed: %r", url, exc)
