"""What tests point the bridge's callbacks at: a receiver that keeps the decoded bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..loopback import CallbackReceiver as LoopbackReceiver


class CallbackReceiver(LoopbackReceiver):
    """Records what a bridge POSTs to its callback URL.

    `events` holds the decoded JSON bodies in arrival order (`paths` their paths);
    `wait_for(predicate)` waits until predicate(events) is true. `delay` makes every answer
    slow; with `gate` (a threading.Event) each request waits until the gate is set (at most
    10 s) before it is recorded and answered, to check that a bridge never waits for its
    callbacks.
    """

    default_path = "/nuki-callback"
    thread_name = "callback-receiver"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.paths: list[str] = []
        super().__init__(*args, **kwargs)

    def record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        try:
            data = json.loads(body)
        except ValueError:
            data = {"_invalid": body.decode(errors="replace")}
        self.events.append(data)
        self.paths.append(path)

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 5.0
    ) -> bool:
        return self.wait_until(lambda: predicate(self.events), timeout)

    def clear(self) -> None:
        with self._cond:
            self.events.clear()
            self.paths.clear()
