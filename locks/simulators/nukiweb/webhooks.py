"""Decentral webhooks: registrations and signed delivery with retries (receiver.py: the test
receiver).

Every registration gets its own delivery thread and queue, so events reach one URL in the order
they happened and a slow or failing receiver never holds up another one or the API. A delivery
is a POST of the JSON body with `X-Nuki-Signature-SHA256: hex(HMAC-SHA256(secret, raw body))`;
any 2xx answer counts as delivered, anything else (or no answer within `timeout`) is retried
after each of `retry_delays`, then given up.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import WEBHOOK_FEATURES, Invalid
from .oauth import secure_url_problem

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Nuki-Signature-SHA256"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class _Registration:
    webhook_id: int
    url: str
    features: list[str]
    secret: str
    outbox: queue.Queue[bytes | None] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None
    pending: int = 0

    def public(self) -> dict[str, Any]:
        return {"id": self.webhook_id, "webhookUrl": self.url, "webhookFeatures": self.features}


class WebhookDispatcher:
    def __init__(
        self,
        *,
        timeout: float = 3.0,
        retry_delays: Sequence[float] = (0.5, 2.0, 5.0),
        count: Callable[[str], None] = lambda name: None,
    ):
        self.timeout = timeout
        self.retry_delays = tuple(retry_delays)
        self.deliveries: list[dict[str, Any]] = []  # one record per event and URL, in order
        self._count = count
        self._lock = threading.Condition()
        self._hooks: dict[int, _Registration] = {}
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # API side --------------------------------------------------------------------------------

    def register(self, body: Any) -> dict[str, Any]:
        """PUT /api/decentralWebhook: validates and answers {id, secret, webhookUrl,
        webhookFeatures}. Raises Invalid for a 400."""
        if not isinstance(body, dict):
            raise Invalid("the body must be a JSON object")
        url = body.get("webhookUrl")
        problem = secure_url_problem(url)
        if problem:
            raise Invalid(f"'webhookUrl' {problem}")
        features = body.get("webhookFeatures")
        if not isinstance(features, list) or not features:
            raise Invalid("'webhookFeatures' must be a non-empty list")
        unknown = [f for f in features if f not in WEBHOOK_FEATURES]
        if unknown:
            raise Invalid(f"unknown webhookFeatures {unknown}; known: {list(WEBHOOK_FEATURES)}")
        features = list(dict.fromkeys(features))
        hook = _Registration(next(self._ids), url, features, secrets.token_hex(20))
        hook.thread = threading.Thread(
            target=self._deliver, args=(hook,), name=f"nukiweb-webhook-{hook.webhook_id}"
        )
        hook.thread.daemon = True
        with self._lock:
            self._hooks[hook.webhook_id] = hook
        hook.thread.start()
        return {**hook.public(), "secret": hook.secret}

    def list(self) -> list[dict[str, Any]]:
        """GET /api/decentralWebhook: the registrations without their secrets."""
        with self._lock:
            return [self._hooks[i].public() for i in sorted(self._hooks)]

    def delete(self, webhook_id: int) -> bool:
        with self._lock:
            hook = self._hooks.pop(webhook_id, None)
        if hook is None:
            return False
        hook.outbox.put(None)
        return True

    def secret(self, webhook_id: int) -> str:
        with self._lock:
            return self._hooks[webhook_id].secret

    # Events ----------------------------------------------------------------------------------

    def emit(self, feature: str, payload: dict[str, Any]) -> None:
        body = json.dumps({"feature": feature, **payload}, separators=(",", ":")).encode()
        with self._lock:
            targets = [h for h in self._hooks.values() if feature in h.features]
            for hook in targets:
                hook.pending += 1
        self._count(f"webhook_events:{feature}")
        for hook in targets:
            hook.outbox.put(body)

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued delivery has succeeded or been given up."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while any(h.pending for h in self._hooks.values()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
        return True

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            hooks = list(self._hooks.values())
            self._hooks.clear()
        for hook in hooks:
            hook.outbox.put(None)
        for hook in hooks:
            if hook.thread is not None:
                hook.thread.join(timeout=self.timeout + 1)

    def _deliver(self, hook: _Registration) -> None:
        while True:
            body = hook.outbox.get()
            if body is None:
                return
            feature = json.loads(body).get("feature")
            attempts, status, delivered = 0, None, False
            for delay in (*self.retry_delays, None):
                attempts += 1
                status = self._post(hook, body)
                if status is not None and 200 <= status < 300:
                    delivered = True
                    break
                self._count("webhook_attempts_failed")
                if delay is None or self._stopping.wait(delay):
                    break
            self._count("webhook_deliveries" if delivered else "webhook_given_up")
            with self._lock:
                self.deliveries.append(
                    {
                        "webhookId": hook.webhook_id,
                        "url": hook.url,
                        "feature": feature,
                        "attempts": attempts,
                        "status": status,
                        "delivered": delivered,
                    }
                )
                hook.pending -= 1
                self._lock.notify_all()

    def _post(self, hook: _Registration, body: bytes) -> int | None:
        request = urllib.request.Request(  # noqa: S310 (https, or http on loopback: checked)
            hook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=UTF-8",
                SIGNATURE_HEADER: sign(hook.secret, body),
                "User-Agent": "NukiWebSimulator-Webhook/1.0",
            },
        )
        self._count("webhook_attempts")
        try:
            with self._opener.open(request, timeout=self.timeout) as answer:
                answer.read()
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, ValueError) as exc:
            log.debug("nukiweb-sim: webhook %s to %s failed: %r", hook.webhook_id, hook.url, exc)
            return None
