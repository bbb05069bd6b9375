"""The bridge's callbacks: registering our callback URL on a bridge (an unguessable secret in the
URL, as the bridge cannot sign) and applying what a bridge posts there."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from locks.integrations.bridge.driver import client_for, status_from
from locks.models import Bridge, Lock
from locks.nuki.bridge import CallbackEvent
from locks.observed import lock_status_record
from portal.jsonparse import loads

CALLBACK_PATH_MARK = "/hooks/bridge/"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def callback_register(*, bridge: Bridge) -> str:
    """Register a fresh callback URL carrying an unguessable secret (the bridge cannot sign),
    after removing callbacks of ours left from earlier registrations. Returns the URL."""
    secret = secrets.token_urlsafe(24)
    base = settings.LATCHKEY_BRIDGE_CALLBACK_BASE.rstrip("/")
    url = base + reverse("bridge-callback", kwargs={"secret": secret})
    client = client_for(bridge)
    try:
        for callback in client.callback_list():
            if callback.url.startswith(base + CALLBACK_PATH_MARK):
                client.callback_remove(callback.id)
        client.callback_add(url)
    finally:
        client.close()
    Bridge.objects.filter(pk=bridge.pk).update(callback_secret_hash=secret_hash(secret))
    return url


class CallbackRejected(ValueError):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


def callback_receive(*, secret: str, body: bytes) -> Lock:
    """Apply a bridge callback. The secret in the URL names the bridge; the lock is looked up
    among that bridge's locks only, so a callback can never touch another bridge's lock."""
    known = Bridge.objects.filter(callback_secret_hash=secret_hash(secret))
    bridge = known.first() if secret else None
    if bridge is None:
        raise CallbackRejected("Unknown callback.", 404)
    try:
        data = loads(body)
        if not isinstance(data, dict) or "nukiId" not in data:
            raise ValueError("nukiId missing")
        event = CallbackEvent.from_json(data)
    except (ValueError, TypeError) as exc:
        raise CallbackRejected(f"Malformed callback: {exc}", 400) from None
    lock = Lock.objects.filter(bridge=bridge, nuki_id=event.nuki_id).first()
    if lock is None:
        raise CallbackRejected("Unknown lock for this bridge.", 404)
    Bridge.objects.filter(pk=bridge.pk).update(last_seen_at=timezone.now())
    lock_status_record(lock=lock, status=status_from(event.state), source="bridge callback")
    return lock
