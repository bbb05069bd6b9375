"""Nuki Web's decentral webhook: verified, applied once, and what its events change (codes
confirmed, lock state, the activity log)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from locks.integrations.base import LockStatus
from locks.integrations.nuki_web.driver import lock_code_from
from locks.integrations.nuki_web.payload import webhook_fields
from locks.models import (
    AccessCode,
    CodeState,
    Lock,
    LockEvent,
    NukiWebConnection,
    ObservedCode,
    WebhookDelivery,
)
from locks.nuki.web.client import NukiWebAuth
from locks.observed import lock_status_record
from locks.sync.desired import is_due
from locks.sync.schedule import reconcile_now
from locks.sync.states import code_confirm, state_signal
from portal.jsonparse import loads


class WebhookRejected(ValueError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def webhook_receive(*, key: str, body: bytes, signature: str) -> str:
    """Verify and apply a Nuki Web webhook. Returns what was done ("duplicate", "auths", ...).

    The signature (hex HMAC-SHA256 of the raw body, keyed with the webhook's secret) is checked
    in constant time before anything is parsed; a bad or missing one changes nothing.
    """
    conn = NukiWebConnection.objects.filter(webhook_key=key).first() if key else None
    if conn is None or not conn.webhook_secret:
        raise WebhookRejected("Unknown webhook.", 404)
    expected = hmac.new(conn.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature.strip().lower()):
        raise WebhookRejected("Bad signature.", 401)
    try:
        data = webhook_fields(loads(body))
    except ValueError as exc:  # JSONError, WebhookFieldError
        raise WebhookRejected(f"Malformed webhook: {exc}", 400) from None
    feature, smartlock_id = data["feature"], data["smartlockId"]
    webhook_seen(connection_id=conn.pk)
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                organization_id=conn.organization_id,
                key=hashlib.sha256(key.encode() + body).hexdigest(),
            )
    except IntegrityError:
        return "duplicate"
    lock = Lock.objects.filter(
        organization=conn.organization, driver="nuki_web", nuki_id=smartlock_id
    ).first()
    if lock is None:
        return "unknown-lock"
    if feature == "DEVICE_AUTHS":
        # The signed payload names the authorization that changed: when it is exactly what
        # we sent, it confirms the change without another API call. Anything else (someone
        # else's change, a payload without the authorization) is read back once.
        if _auth_confirm(lock, data.get("smartlockAuth"), deleted=bool(data.get("deleted"))):
            return "auths-confirmed"
        reconcile_now(locks=[lock])
        return "auths"
    if feature == "DEVICE_STATUS":
        _apply_status(lock, data.get("state") or {})
        return "status"
    if feature == "DEVICE_LOGS":
        _record_log(lock, data.get("smartlockLog") or data.get("log") or {})
        return "logs"
    if feature == "DEVICE_CONFIG":
        return "config"
    return "ignored"


WEBHOOK_SEEN_EVERY = dt.timedelta(minutes=1)


def webhook_seen(*, connection_id: int) -> None:
    """Note that the account's webhook delivers, so its log polling can rest
    (locks/integrations/logsync.py). Written at most once a minute, not per delivery."""
    now = timezone.now()
    NukiWebConnection.objects.filter(pk=connection_id).filter(
        Q(webhook_seen_at__isnull=True) | Q(webhook_seen_at__lt=now - WEBHOOK_SEEN_EVERY)
    ).update(webhook_seen_at=now)


def _auth_confirm(lock: Lock, payload, *, deleted: bool) -> bool:
    """Confirm one of our queued changes from a DEVICE_AUTHS payload. True when it did."""
    if not isinstance(payload, dict) or not payload.get("id"):
        return False
    try:
        observed = lock_code_from(NukiWebAuth.from_json(payload))
    except (TypeError, ValueError):
        return False
    if observed.remote_id and payload.get("type") not in (0, 13):
        return False
    now = timezone.now()
    with transaction.atomic():
        ours = AccessCode.objects.select_for_update(no_key=True).filter(lock=lock)
        ac = ours.filter(remote_id=observed.remote_id).first()
        if ac is None and not deleted:  # a queued creation has no id yet
            ac = ours.filter(
                remote_id="",
                state=CodeState.SETTING,
                kind=observed.kind,
                name=observed.name,
                code=observed.code or "",
            ).first()
        if ac is None:
            return False
        if ac.commands.filter(status="running").exists():
            return False  # its command is still recording: the serialized read-back decides
        snapshot = ac.desired_snapshot()
        if deleted:
            if ac.state != CodeState.REMOVING or is_due(ac, now):
                return False  # gone although wanted: the read-back repairs it
            ac.state = CodeState.PLANNED if ac.wanted else CodeState.REMOVED
            ac.remote_id, ac.applied = "", None
            ac.save(update_fields=["state", "remote_id", "applied"])
            ObservedCode.objects.filter(lock=lock, remote_id=observed.remote_id).delete()
            state_signal(ac)
            return True
        # Only after the runner recorded what it sent (applied), so its bookkeeping cannot
        # overwrite this confirmation; earlier webhooks fall back to the (serialized) read-back.
        sent = ac.state == CodeState.SETTING and ac.applied == snapshot
        if not (sent and is_due(ac, now) and observed.matches(ac.spec())):
            return False
        code_confirm(ac, observed.remote_id, snapshot, now)
        ObservedCode.objects.update_or_create(
            lock=lock,
            remote_id=observed.remote_id,
            defaults={
                "organization_id": lock.organization_id,
                "kind": observed.kind,
                "code": observed.code or "",
                "name": observed.name,
                "valid_from": observed.valid_from,
                "valid_until": observed.valid_until,
                "weekdays": observed.weekdays,
                "from_minute": observed.from_minute,
                "until_minute": observed.until_minute,
                "access_code": ac,
                "seen_at": now,
            },
        )
    return True


STATE_NAMES = {1: "locked", 2: "unlocking", 3: "unlocked", 4: "locking", 5: "unlatched",
               6: "unlocked (lock 'n' go)", 7: "unlatching", 254: "motor blocked"}  # fmt: skip


DOOR_NAMES = {1: "deactivated", 2: "door closed", 3: "door opened", 4: "door state unknown"}


def _apply_status(lock: Lock, state: dict) -> None:
    code = state.get("state")
    status = LockStatus(
        state=STATE_NAMES.get(code, "unknown") if code is not None else lock.state,
        battery_percent=state.get("batteryCharge"),
        battery_critical=state.get("batteryCritical"),
        door_state=DOOR_NAMES.get(state.get("doorState")),
    )
    lock_status_record(lock=lock, status=status, source="nuki web")


def _record_log(lock: Lock, entry: dict) -> None:
    key = hashlib.sha256(json.dumps(entry, sort_keys=True).encode()).hexdigest()
    when = entry.get("date")
    occurred = dt.datetime.fromisoformat(when.replace("Z", "+00:00")) if when else timezone.now()
    LockEvent.objects.bulk_create(
        [
            LockEvent(
                organization_id=lock.organization_id,
                lock=lock,
                kind="log:nuki_web",
                source="nuki web",
                message=str(entry.get("name") or entry.get("action") or "")[:200],
                detail=entry,
                occurred_at=occurred,
                external_key=key,
            )
        ],
        ignore_conflicts=True,
    )
