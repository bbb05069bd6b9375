"""Loaded into every Python process of `.ci/clock-sweep` (through PYTHONPATH) while libfaketime
moves the wall clock. Debian's libfaketime 0.9.10 mistranslates the absolute monotonic
deadline that Python 3.11's `time.sleep` hands to `clock_nanosleep`: with the monotonic clock
left real (FAKETIME_DONT_FAKE_MONOTONIC=1, without which every threading timeout hangs) each
sleep fails with EINVAL. `select` with a relative timeout is not translated, so sleep on it.
Only the sweep uses this file; nothing in the product imports it."""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
