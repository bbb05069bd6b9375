"""When each iCal feed is fetched: every feed once per interval, the fleet spread evenly.

Each feed owns a slot in the interval, fixed by its id (Fibonacci hashing: consecutive ids land
as far apart as they can, so N feeds fill the interval evenly), and is due at its slot every
interval. A feed is never pushed "one interval from whenever it was last taken": that keeps
the feeds' phases where a restart, an outage or a burst of new feeds put them, all at once. On
slots, a backlog taken late falls back into its own place after one round.

Beat ticks every `LATCHKEY_ICAL_TICK_SECONDS`; a tick takes the due feeds, oldest first, up to
a cap derived from the number of feeds: ceil(feeds x tick / interval x HEADROOM), at least
MIN_CAP. In steady state a tick finds about feeds x tick / interval due, so the cap leaves
room for uneven slots and a late tick, and a backlog (after an outage) drains within about an
interval without a burst. With beat keeping time, consecutive fetches of a feed are one
interval apart, at most one tick more. A failing feed backs off to a later slot of its own
(bookings.ical.services._failed), so it never holds back the others.
"""

from __future__ import annotations

import datetime as dt
import math

from django.conf import settings

GOLDEN = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd: Fibonacci hashing
HASH_SPACE = 1 << 64
HEADROOM = 2.0
MIN_CAP = 50


def poll_interval() -> float:
    return float(settings.LATCHKEY_ICAL_POLL_SECONDS)


def poll_tick() -> float:
    return min(float(settings.LATCHKEY_ICAL_TICK_SECONDS), poll_interval())


def feed_phase(*, feed_id: int, interval: float) -> float:
    """Seconds into each interval (counted from the epoch) at which this feed is due."""
    return (feed_id * GOLDEN % HASH_SPACE) / HASH_SPACE * interval


def feed_next_slot(
    *, feed_id: int, after: dt.datetime, interval: float | None = None
) -> dt.datetime:
    """The feed's first slot strictly after `after`: at most one interval later."""
    interval = interval or poll_interval()
    phase = feed_phase(feed_id=feed_id, interval=interval)
    rounds = math.floor((after.timestamp() - phase) / interval) + 1
    slot = dt.datetime.fromtimestamp(rounds * interval + phase, dt.UTC)
    if slot <= after:  # float rounding at the very edge
        slot += dt.timedelta(seconds=interval)
    return slot


def feed_backoff_slot(*, feed_id: int, now: dt.datetime, failures: int) -> dt.datetime:
    """Where a feed that failed `failures` times in a row is due next: its slot after 1, 2,
    4, then at most 8 intervals (still on its own slot, so failing feeds stay spread)."""
    interval = poll_interval()
    rounds = min(2 ** max(failures - 1, 0), 8)
    return feed_next_slot(
        feed_id=feed_id,
        after=now + dt.timedelta(seconds=interval * (rounds - 1)),
        interval=interval,
    )


def poll_cap(*, feeds: int, tick: float | None = None, interval: float | None = None) -> int:
    """How many feeds one tick may queue: the share of the fleet due in a tick, with headroom."""
    tick = tick or poll_tick()
    interval = interval or poll_interval()
    return max(MIN_CAP, math.ceil(feeds * tick / interval * HEADROOM))
