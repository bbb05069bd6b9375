"""The test controls of the simulated Nuki Web: what tests and demos do to the world outside
the API (a lock going offline, a guest at the keypad, someone editing a code in the Nuki app),
what they read back, and the same controls over HTTP under /__sim__/ (never counted as API
calls). Kept apart from the API routes (routes/), which only see what a client may do.
"""

from __future__ import annotations

import json
import time
from typing import Any

from . import model as m
from . import records as r
from .cloud import Cloud
from .reply import Reply, api_error, json_reply


class CloudControls(Cloud):
    """The account plus the hooks tests and demos use (see the package docstring)."""

    # Tokens and counters ------------------------------------------------------------------

    def expire_all_access_tokens(self) -> None:
        self.oauth.expire_all_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        self.oauth.revoke_refresh_tokens()

    def endpoint_calls(self, method: str, template: str) -> int:
        """API calls so far to one endpoint, e.g. ("PUT", "/smartlock/{smartlockId}/auth")."""
        with self.mutex:
            return self.counters[f"{method} {template}"]

    def reset_counters(self) -> None:
        with self.mutex:
            self.counters.clear()
            self.max_concurrent_seen = 0

    # The world outside the API --------------------------------------------------------------

    def set_offline(self, smartlock_id: int, offline: bool = True) -> None:
        """An offline lock (bridge or lock unreachable): serverState 4, queued changes wait
        until it is back online, actions are accepted (204) but never reach it."""
        with self.wake:
            lock = self.locks[smartlock_id]
            if lock.offline == offline:
                return
            lock.offline = offline
            lock.update_date = time.time()
            self.emit_status(lock)
            self.wake.notify_all()

    def set_door(self, smartlock_id: int, door_state: int) -> None:
        with self.mutex:
            lock = self.locks[smartlock_id]
            lock.door_state = door_state
            lock.update_date = time.time()
            self.emit_status(lock)
            if door_state in (m.DOOR_OPENED, m.DOOR_CLOSED):
                action = m.LOG_DOOR_OPENED if door_state == m.DOOR_OPENED else m.LOG_DOOR_CLOSED
                self.add_log(lock, action=action, trigger=m.TRIGGER_SYSTEM, name="")

    def set_battery(
        self,
        smartlock_id: int,
        charge: int,
        *,
        charging: bool = False,
        keypad_critical: bool | None = None,
    ) -> None:
        with self.mutex:
            lock = self.locks[smartlock_id]
            lock.battery_charge = charge
            lock.battery_charging = charging
            if keypad_critical is not None:
                lock.keypad_battery_critical = keypad_critical
            lock.update_date = time.time()
            self.emit_status(lock)

    def set_config(self, smartlock_id: int, **fields: Any) -> None:
        """Change SmartlockConfig fields (e.g. keypadPaired=False): DEVICE_CONFIG webhook."""
        with self.mutex:
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
        with self.mutex:
            lock = self.locks[smartlock_id]
            lock.name = name
            lock.update_date = time.time()
            self.webhooks.emit("DEVICE_MASTERDATA", self.masterdata(lock))

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
        values = r.validate_auth(body)
        with self.mutex:
            lock = self.locks[smartlock_id]
            if "code" in values and self.code_taken(smartlock_id, values["code"]):
                raise ValueError(f"code {values['code']} exists already on {smartlock_id}")
            record = r.new_auth_record(self.ids.new(), smartlock_id, values, time.time())
            record["authId"] = lock.take_lock_auth_id()
            self.lock_auths[smartlock_id][record["id"]] = record
            if notify:
                self.emit_auth(record, deleted=False)
            return r.auth_json(record)

    def edit_auth_outside(self, smartlock_id: int, auth_id: str, **changes: Any) -> None:
        """Someone changed an authorization outside our integration (e.g. in the Nuki app)."""
        with self.mutex:
            record = self.lock_auths[smartlock_id][auth_id]
            values = r.validate_auth({"name": record["name"], **changes}, existing=record)
            record.update(values)
            record["updateDate"] = m.iso(time.time())
            self.emit_auth(record, deleted=False)

    def remove_auth_outside(self, smartlock_id: int, auth_id: str) -> None:
        with self.mutex:
            record = self.lock_auths[smartlock_id].pop(auth_id)
            self.emit_auth(record, deleted=True)

    def keypad_entry(self, smartlock_id: int, code: int | str, when: float | None = None) -> bool:
        """Someone types `code` on the lock's keypad at `when` (default now; validity windows
        are checked in UTC). A valid, enabled code in its window unlocks (trigger 255, source
        1, the code's authId and name; lockCount and lastActiveDate go up); anything else logs
        a rejected entry (state 224). Returns whether the door unlocked."""
        when = time.time() if when is None else when
        with self.mutex:
            lock = self.locks[smartlock_id]
            if not lock.keypad_paired:
                raise RuntimeError(f"no keypad is paired with smartlock {smartlock_id}")
            match = next(
                (
                    a
                    for a in self.lock_auths[smartlock_id].values()
                    if a["type"] == m.AUTH_KEYPAD_CODE and str(a.get("code")) == str(code)
                ),
                None,
            )
            if match is None or not r.auth_allows(match, when, lock.timezone):
                self.add_log(
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
        self.start_action(
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
        with self.mutex:
            lock = self.locks[smartlock_id]
            user = self.user_by_email(email)
            match = None
            if user is not None:
                match = next(
                    (
                        a
                        for a in self.lock_auths[smartlock_id].values()
                        if a["type"] == m.AUTH_APP
                        and a.get("accountUserId") == user["accountUserId"]
                        and r.auth_allows(a, when, lock.timezone)
                    ),
                    None,
                )
            if match is None:
                self.count("app_open_refused")
                return False
            match["lockCount"] += 1
            match["lastActiveDate"] = m.iso(when)
        self.start_action(lock, action, trigger=m.TRIGGER_APP, name=match["name"], auth=match)
        return True

    def physical_action(
        self, smartlock_id: int, action: int, *, trigger: int = m.TRIGGER_MANUAL
    ) -> None:
        """Someone turns the knob or presses the button (not through the API)."""
        self.start_action(self.locks[smartlock_id], action, trigger=trigger, name="")

    # Reading back ---------------------------------------------------------------------------

    def account_users(self) -> list[dict[str, Any]]:
        with self.mutex:
            return [dict(u) for u in self.users.values()]

    def auths(self, smartlock_id: int) -> list[dict[str, Any]]:
        """The authorizations on the lock now (what GET .../auth answers)."""
        with self.mutex:
            return [self.auth_view(a) for a in self.lock_auths[smartlock_id].values()]

    def pending(self, smartlock_id: int | None = None) -> list[dict[str, Any]]:
        """Queued changes not yet applied: [{operationId, kind, smartlockId, id}]."""
        with self.mutex:
            return [
                {
                    "operationId": op.operation_id,
                    "kind": op.kind,
                    "smartlockId": op.smartlock_id,
                    "id": op.auth_id,
                }
                for op in sorted(self.ops.values(), key=lambda op: op.seq)
                if smartlock_id is None or op.smartlock_id == smartlock_id
            ]

    def logs(self, smartlock_id: int) -> list[dict[str, Any]]:
        """All log entries of a lock, newest first."""
        with self.mutex:
            return [dict(e) for e in reversed(self.lock_logs[smartlock_id])]

    def wait_applied(self, timeout: float = 5.0) -> bool:
        """Wait until no change is queued for an online lock."""
        deadline = time.monotonic() + timeout
        with self.wake:
            while any(not self.locks[op.smartlock_id].offline for op in self.ops.values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.wake.wait(remaining)
        return True

    # Over HTTP: /__sim__/... ----------------------------------------------------------------

    def sim_endpoint(self, method: str, path: str, body: bytes) -> Reply:
        """Answer a /__sim__/ request (the server never counts these as API calls)."""
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            return api_error(400, "malformed JSON")
        try:
            if path == "/__sim__/state" and method == "GET":
                with self.mutex:
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
