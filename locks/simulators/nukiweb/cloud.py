"""The simulated Nuki Web account at work: its locks, authorizations, logs and account users,
the queue of accepted changes the bridge applies later, lock actions, and webhook events.

`Cloud` is everything api.nuki.io is apart from HTTP: the API routes (routes/) and the test
controls (controls.py) read and change it, the server (server.py) puts HTTP in front. Methods
that touch the data expect `mutex` held unless they say otherwise.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import model as m
from . import records as r
from .model import SimSmartlock
from .oauth import DEFAULT_SCOPES, OAuthServer
from .reply import Reply, api_error, no_content
from .webhooks import WebhookDispatcher

MAX_LOG_ENTRIES = 10_000


@dataclass
class Op:
    """A change accepted by the API (204) and not yet applied to the lock."""

    operation_id: str
    kind: str  # create | update | delete
    smartlock_id: int
    auth_id: str
    due: float  # time.monotonic() when the bridge may apply it
    seq: int
    record: dict[str, Any] | None = None  # create: the full authorization
    changes: dict[str, Any] | None = None  # update: the fields that change


def action_steps(action: int, seconds: float) -> list[tuple[float, int, bool]]:
    """(delay before, new state, log here) for an action, `seconds` per movement."""
    t = seconds
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


class Cloud:
    """The simulated account (see NukiWebSimulator for the options)."""

    def __init__(
        self,
        *,
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
    ) -> None:
        self.api_tokens: set[str] = set(api_tokens or ())
        self.apply_delay = apply_delay
        self.action_seconds = action_seconds
        self.latency = latency
        self.outage_status: int | None = None  # e.g. 503: every request answers this
        self.account_id = account_id
        self.account_name = account_name
        self.counters: Counter[str] = Counter()
        self.max_concurrent_seen = 0
        self.mutex = threading.RLock()
        self.wake = threading.Condition(self.mutex)
        """Notified when the queue changes or a lock comes online (the apply loop waits)."""
        self._stopping = False
        self.ids = m.ObjectIds()
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
            count=self.count,
        )
        self.webhooks = WebhookDispatcher(
            timeout=webhook_timeout, retry_delays=webhook_retry_delays, count=self.count
        )
        self.locks: dict[int, SimSmartlock] = {}
        self.lock_auths: dict[int, dict[str, dict[str, Any]]] = {}
        """smartlockId -> authorization id -> the stored authorization (applied ones)."""
        self.lock_logs: dict[int, list[dict[str, Any]]] = {}
        """smartlockId -> log entries, oldest first."""
        self.ops: dict[str, Op] = {}
        """Queued changes by authorization id."""
        self._motors: dict[int, threading.Lock] = {}
        self.timezone = timezone
        # Account users: people invited by email (AccountUser); app authorizations (type 0)
        # are theirs. accountUserId 1 is the account owner (our choice).
        self.users: dict[int, dict[str, Any]] = {}
        self.user_ids = itertools.count(2_000_001)
        self.invitations: list[dict[str, Any]] = []  # emails Nuki would send (our record)
        for i in range(smartlocks):
            self.add_smartlock(f"Door {i + 1}", first_nuki_id + i, device_type, keypad)

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

    def count(self, name: str, n: int = 1) -> None:
        """Add to a counter (takes the mutex itself)."""
        with self.mutex:
            self.counters[name] += n

    # Locks and authorizations --------------------------------------------------------------

    def add_smartlock(self, name: str, nuki_id: int, device_type: int, keypad: bool) -> None:
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
        self.lock_logs[lock.smartlock_id] = []
        self._motors[lock.smartlock_id] = threading.Lock()
        owner = r.new_auth_record(
            self.ids.new(),
            lock.smartlock_id,
            {"type": m.AUTH_APP, "name": self.account_name, "remoteAllowed": True},
            now,
        )
        owner["authId"] = lock.owner_auth_id = lock.take_lock_auth_id()
        owner["accountUserId"] = 1
        self.lock_auths[lock.smartlock_id] = {owner["id"]: owner}

    def lock_by_id(self, smartlock_id: str) -> SimSmartlock | None:
        """The lock a path names (its smartlockId as text), None if there is none."""
        return self.locks.get(int(smartlock_id))

    def owner_auth(self, lock: SimSmartlock) -> dict[str, Any] | None:
        auths = self.lock_auths[lock.smartlock_id].values()
        return next((a for a in auths if a["authId"] == lock.owner_auth_id), None)

    def auth_view(self, record: dict[str, Any]) -> dict[str, Any]:
        """An authorization as the API shows it, with its operationId while one is queued."""
        op = self.ops.get(record["id"])
        return r.auth_json(record, op.operation_id if op else None)

    def code_taken(self, smartlock_id: int, code: int, exclude: str | None = None) -> bool:
        """Whether `code` is on the lock or on its way there (queued creates and updates)."""
        for record in self.lock_auths[smartlock_id].values():
            if record["id"] != exclude and record.get("code") == code:
                return True
        for op in self.ops.values():
            if op.smartlock_id != smartlock_id or op.auth_id == exclude:
                continue
            if op.kind == "create" and op.record and op.record.get("code") == code:
                return True
            if op.kind == "update" and op.changes and op.changes.get("code") == code:
                return True
        return False

    def where(self, auth_id: Any) -> int | None:
        """The lock an authorization (applied or queued) belongs to."""
        for smartlock_id, auths in self.lock_auths.items():
            if auth_id in auths:
                return smartlock_id
        op = self.ops.get(auth_id) if isinstance(auth_id, str) else None
        return op.smartlock_id if op else None

    def find_for_change(self, smartlock_id: int, auth_id: str) -> tuple[dict | None, Reply | None]:
        """The authorization to update or delete, or the answer refusing it (423, 404)."""
        record = self.lock_auths[smartlock_id].get(auth_id)
        op = self.ops.get(auth_id)
        if op is not None and op.smartlock_id == smartlock_id:
            self.count("locked")
            return None, api_error(423, "an operation is still pending on this authorization")
        if record is None:
            return None, api_error(404, "smartlock authorization not found")
        return record, None

    def create_auths(self, smartlock_id: int, batch: list[dict[str, Any]]) -> Reply | None:
        """Queue creations (validated); 409 for a code already on the lock or on its way,
        404 for an app authorization of an account user that does not exist."""
        for values in batch:
            refused = self.check_account_user(values)
            if refused is not None:
                return refused
        codes = [v["code"] for v in batch if "code" in v]
        if len(codes) != len(set(codes)) or any(self.code_taken(smartlock_id, c) for c in codes):
            self.count("conflicts")
            return api_error(409, "Parameter 'code' exists already")
        now = time.time()
        for values in batch:
            record = r.new_auth_record(self.ids.new(), smartlock_id, values, now)
            self.queue("create", smartlock_id, record["id"], record=record)
        return None

    def update_auth(self, smartlock_id: int, auth_id: str, body: Any) -> Reply | None:
        """Queue an update (validated), or the answer refusing it."""
        record, refused = self.find_for_change(smartlock_id, auth_id)
        if refused:
            return refused
        assert record is not None
        changes = r.validate_auth(body, existing=record)
        refused = self.check_account_user(changes)
        if refused is not None:
            return refused
        if "code" in changes and self.code_taken(smartlock_id, changes["code"], exclude=auth_id):
            self.count("conflicts")
            return api_error(409, "Parameter 'code' exists already")
        self.queue("update", smartlock_id, auth_id, changes=changes)
        return None

    # Account users ----------------------------------------------------------------------------

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u["email"].lower() == wanted), None)

    def check_account_user(self, values: dict[str, Any]) -> Reply | None:
        """An app or fob authorization must belong to a known account user (or the owner)."""
        uid = values.get("accountUserId")
        if uid is None or uid == 1 or uid in self.users:
            return None
        return api_error(404, f"account user not found: {uid}")

    # The queue: the cloud pushing accepted changes through the bridge -----------------------

    def queue(self, kind: str, smartlock_id: int, auth_id: str, **data: Any) -> None:
        op = Op(
            operation_id=self.ids.new(),
            kind=kind,
            smartlock_id=smartlock_id,
            auth_id=auth_id,
            due=time.monotonic() + self.apply_delay,
            seq=next(self._seq),
            **data,
        )
        self.ops[auth_id] = op
        self.counters["auth_ops_queued"] += 1
        self.wake.notify_all()

    def apply_loop(self) -> None:
        """Apply each queued change to its lock once due and online, until stop_applying()."""
        with self.wake:
            while not self._stopping:
                now = time.monotonic()
                ops = self.ops.values()
                online = [op for op in ops if not self.locks[op.smartlock_id].offline]
                ready = sorted((op for op in online if op.due <= now), key=lambda op: op.seq)
                if not ready:
                    waits = [op.due - now for op in online]
                    self.wake.wait(min(waits) if waits else None)
                    continue
                for op in ready:
                    self._apply(op)
                self.wake.notify_all()

    def allow_applying(self) -> None:
        with self.wake:
            self._stopping = False

    def stop_applying(self) -> None:
        with self.wake:
            self._stopping = True
            self.wake.notify_all()

    def _apply(self, op: Op) -> None:
        del self.ops[op.auth_id]
        lock = self.locks[op.smartlock_id]
        auths = self.lock_auths[op.smartlock_id]
        now = m.iso(time.time())
        if op.kind == "create":
            record = dict(op.record or {})
            record["authId"] = lock.take_lock_auth_id()
            record["updateDate"] = now
            auths[record["id"]] = record
            self.emit_auth(record, deleted=False)
        elif op.kind == "update":
            record = auths.get(op.auth_id)
            if record is None:  # removed outside meanwhile
                return
            record.update(op.changes or {})
            record["updateDate"] = now
            self.emit_auth(record, deleted=False)
        else:
            record = auths.pop(op.auth_id, None)
            if record is None:
                return
            self.emit_auth(record, deleted=True)
        self.counters["auth_ops_applied"] += 1
        self.counters[f"auth_ops_applied:{op.kind}"] += 1

    # Events -------------------------------------------------------------------------------------

    def emit_auth(self, record: dict[str, Any], *, deleted: bool) -> None:
        self.webhooks.emit(
            "DEVICE_AUTHS",
            {
                "smartlockId": record["smartlockId"],
                "smartlockAuth": self.auth_view(record),
                "deleted": deleted,
            },
        )

    def emit_status(self, lock: SimSmartlock) -> None:
        self.webhooks.emit(
            "DEVICE_STATUS",
            {
                "smartlockId": lock.smartlock_id,
                "type": lock.type,
                "name": lock.name,
                "serverState": lock.server_state,
                "adminPinState": 0,
                "state": lock.state_json(),
                "updateDate": m.iso(lock.update_date),
            },
        )

    def masterdata(self, lock: SimSmartlock) -> dict[str, Any]:
        return {
            "smartlockId": lock.smartlock_id,
            "type": lock.type,
            "name": lock.name,
            "firmwareVersion": lock.firmware_version,
            "hardwareVersion": lock.hardware_version,
        }

    def add_log(self, lock: SimSmartlock, **fields: Any) -> dict[str, Any]:
        entry = r.log_entry(log_id=self.ids.new(), lock=lock, when=time.time(), **fields)
        entries = self.lock_logs[lock.smartlock_id]
        entries.append(entry)
        del entries[:-MAX_LOG_ENTRIES]
        self.counters["log_entries"] += 1
        self.webhooks.emit("DEVICE_LOGS", {"smartlockId": lock.smartlock_id, "smartlockLog": entry})
        return entry

    # Lock actions --------------------------------------------------------------------------------

    def web_action(self, lock: SimSmartlock, action: int) -> Reply:
        """204 at once, as the real cloud: the action then runs on the lock (or, for an
        offline lock, never arrives). Takes the mutex itself."""
        if lock.offline:
            self.count("actions_dropped_offline")
            return no_content()
        with self.mutex:
            owner = self.owner_auth(lock)
        self.start_action(lock, action, trigger=m.TRIGGER_WEB, name=self.account_name, auth=owner)
        return no_content()

    def start_action(
        self,
        lock: SimSmartlock,
        action: int,
        *,
        trigger: int,
        name: str,
        auth: dict[str, Any] | None = None,
        source: int = m.SOURCE_DEFAULT,
    ) -> None:
        """Run an action on the lock's motor in the background (one at a time per lock);
        the log entry is written when the first movement ends. Takes the mutex itself."""
        self.count("actions")

        def run() -> None:
            with self._motors[lock.smartlock_id]:
                for delay, state, log_here in action_steps(action, self.action_seconds):
                    if delay:
                        time.sleep(delay)
                    with self.mutex:
                        lock.state = state
                        # SmartlockState.trigger has no keypad value: a keypad is an accessory
                        keypad = trigger == m.TRIGGER_KEYPAD
                        lock.trigger = m.TRIGGER_ACCESSORY if keypad else trigger
                        lock.last_action = action
                        lock.update_date = time.time()
                        self.emit_status(lock)
                        if log_here:
                            self.add_log(
                                lock,
                                action=action,
                                trigger=trigger,
                                name=name,
                                auth=auth,
                                source=source,
                            )

        threading.Thread(target=run, name="nukiweb-sim-action", daemon=True).start()
