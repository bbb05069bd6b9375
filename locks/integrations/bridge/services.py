"""Nuki Bridges (LAN): add one, import its locks, register our callback (`callbacks`), and read
its log into the activity log without duplicates."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from locks.dispatch import task_send, task_send_on_commit
from locks.integrations.bridge.callbacks import callback_register
from locks.integrations.bridge.driver import client_for, status_from
from locks.models import Bridge, Lock, LockEvent, TokenMode
from locks.nuki.bridge import BridgeError, DeviceType
from locks.observed import lock_status_record
from portal.models import Organization
from portal.netguard import UnsafeURL, check_lan_host
from portal.services import ServiceError, alert_raise, alert_resolve

BRIDGE_CONNECT = "locks.tasks.bridge_connect"  # sent by name: see locks/dispatch.py


@transaction.atomic
def bridge_create(
    *,
    organization: Organization,
    name: str,
    host: str,
    port: int = 8080,
    token: str = "",
    token_mode: str = TokenMode.ENCRYPTED,
) -> Bridge:
    """Save the bridge and queue its import (or, without a token, the button flow). The host
    must be a LAN address, not the portal's own machine or services (portal.netguard);
    ServiceError(field="host") otherwise, and nothing is saved."""
    host = host.strip()
    try:
        check_lan_host(host, port)
    except UnsafeURL as exc:
        raise ServiceError(str(exc), field="host") from None
    _refuse_over_cap(organization=organization)
    status = Bridge.Status.IMPORTING if token else Bridge.Status.WAITING_FOR_BUTTON
    bridge = Bridge.objects.create(
        organization=organization,
        name=name,
        host=host,
        port=port,
        token=token,
        token_mode=token_mode,
        status=status,
    )
    task_send_on_commit(BRIDGE_CONNECT, bridge.pk)
    return bridge


def _refuse_over_cap(*, organization: Organization) -> None:
    """ServiceError when the organization has LATCHKEY_ORG_MAX_BRIDGES bridges: each one costs
    the portal connections and worker time (one that never answers holds a worker)."""
    cap = settings.LATCHKEY_ORG_MAX_BRIDGES
    # serialise (FOR NO KEY UPDATE: rows pointing at the organization still commit meanwhile)
    Organization.objects.select_for_update(no_key=True).filter(pk=organization.pk).first()
    count = Bridge.objects.filter(organization=organization).count()
    if count >= cap:
        raise ServiceError(
            f"This organization already has {count} bridges, the most allowed "
            f"(LATCHKEY_ORG_MAX_BRIDGES = {cap}). Remove a bridge you no longer use first.",
            field="non_field_errors",
        )


def _fail(bridge: Bridge, exc: BridgeError) -> None:
    message = f"{exc.message} {exc.fix}".strip()
    Bridge.objects.filter(pk=bridge.pk).update(status=Bridge.Status.ERROR, last_error=message)
    alert_raise(
        organization=bridge.organization,
        kind="bridge_error",
        subject=f"bridge:{bridge.pk}",
        code="bridge_error",
        params={"bridge": bridge.name, "error": exc.message, "fix": exc.fix},
    )


def bridge_connect(*, bridge: Bridge) -> None:
    """Get a token by the button press if needed, then import locks and register the callback."""
    try:
        if not bridge.token:
            client = client_for(bridge)
            try:
                bridge.token = client.auth()  # waits for the button (30 s on a real bridge)
            finally:
                client.close()
            bridge.status = Bridge.Status.IMPORTING
            bridge.save(update_fields=["token", "status"])
        bridge_import(bridge=bridge)
        callback_register(bridge=bridge)
    except BridgeError as exc:
        if exc.retry_after is not None and not exc.permanent:
            # The bridge's request limit, not a fault: try again then, with no alert.
            task_send(BRIDGE_CONNECT, bridge.pk, countdown=exc.retry_after)
            return
        _fail(bridge, exc)
        return
    Bridge.objects.filter(pk=bridge.pk).update(
        status=Bridge.Status.OK, last_error="", last_seen_at=timezone.now()
    )
    alert_resolve(
        organization=bridge.organization, kind="bridge_error", subject=f"bridge:{bridge.pk}"
    )


def bridge_import(*, bridge: Bridge) -> list[Lock]:
    """Create or refresh a Lock (driver bridge_http) for every smart lock the bridge knows."""
    client = client_for(bridge)
    try:
        devices = client.list_devices()
    finally:
        client.close()
    imported = []
    for device in devices:
        if device.device_type == DeviceType.OPENER:
            continue  # openers are not door locks with keypads; left for later
        lock, _ = Lock.objects.get_or_create(
            bridge=bridge,
            nuki_id=device.nuki_id,
            defaults={
                "organization": bridge.organization,
                "name": device.name or f"Nuki {device.nuki_id}",
                "driver": "bridge_http",
                "device_type": device.device_type,
            },
        )
        if device.last_known_state:
            lock_status_record(
                lock=lock, status=status_from(device.last_known_state), source="bridge"
            )
        imported.append(lock)
    return imported


def bridge_log_sync(*, bridge: Bridge, count: int = 100) -> int:
    """Read the bridge's /log into LockEvent. Each entry gets a key from its content, and the
    (lock, key) pair is unique, so overlapping reads add nothing twice."""
    client = client_for(bridge)
    try:
        entries = client.log(offset=0, count=count)
    finally:
        client.close()
    locks = {lock.nuki_id: lock for lock in Lock.objects.filter(bridge=bridge)}
    events = []
    for entry in entries:
        lock = locks.get(entry.fields.get("nukiId"))
        if lock is None or entry.timestamp is None:
            continue
        key = hashlib.sha256(json.dumps(entry.raw, sort_keys=True).encode()).hexdigest()
        events.append(
            LockEvent(
                organization_id=bridge.organization_id,
                lock=lock,
                kind=f"log:{entry.type}"[:32],
                source="bridge log",
                message=str(entry.fields.get("stateName") or entry.type)[:200],
                detail=entry.fields,
                occurred_at=entry.timestamp,
                external_key=key,
            )
        )
    before = LockEvent.objects.filter(lock__bridge=bridge).count()
    LockEvent.objects.bulk_create(events, ignore_conflicts=True)
    return LockEvent.objects.filter(lock__bridge=bridge).count() - before
