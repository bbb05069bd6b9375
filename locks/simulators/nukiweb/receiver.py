"""What tests point Nuki Web's webhooks at: a receiver that keeps every request whole."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..loopback import CallbackReceiver


class WebhookReceiver(CallbackReceiver):
    """Records what the simulator POSTs to a webhook URL.

    `received` holds dicts {path, headers (lower-case names), body (raw bytes), json} in arrival
    order. `fail_first` answers that many requests with `fail_status` before answering 200, to
    exercise retries. It checks nothing itself: tests verify signatures on their own.
    """

    default_path = "/nuki-webhook"
    thread_name = "nukiweb-webhook-receiver"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(host, port, fail_first=fail_first)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        self.received.append({"path": path, "headers": headers, "body": body, "json": data})

    def events(self, feature: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return [
                r["json"]
                for r in self.received
                if r["json"] and (feature is None or r["json"].get("feature") == feature)
            ]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> bool:
        """Wait until predicate(list of received JSON bodies) is true."""
        return self.wait_until(
            lambda: predicate([r["json"] for r in self.received if r["json"]]), timeout
        )
