"""A request limit for the simulators, as a cloud or a device enforces one: at most `limit`
requests in any `window` seconds (a sliding log, exact), the rest answered 429 with a
Retry-After saying when the oldest request in the window leaves it. Refused requests do not
count against the window; the simulators count them as "rate_limited", the requests over the
limit, so a test or a benchmark can assert that a client stayed within it (0)."""

from __future__ import annotations

import collections
import email.utils
import math
import threading
import time
from collections.abc import Callable


class WindowLimit:
    def __init__(
        self, limit: int, window: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = int(limit)
        self.window = float(window)
        self._clock = clock
        self._sent: collections.deque[float] = collections.deque()
        self._guard = threading.Lock()

    def admit(self) -> float | None:
        """None when the request is within the limit (and counted), else the seconds until
        one would be (for Retry-After)."""
        with self._guard:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            if len(self._sent) < self.limit:
                self._sent.append(now)
                return None
            return max(0.001, self._sent[0] + self.window - now)


def retry_after_header(seconds: float, *, http_date: bool = False) -> str:
    """Retry-After in whole seconds, at least 1 (the header's delta-seconds form), or as an HTTP
    date that many seconds from now (its other form)."""
    whole = max(1, math.ceil(seconds))
    if http_date:
        return email.utils.formatdate(time.time() + whole + 1, usegmt=True)  # dates drop parts
    return str(whole)
