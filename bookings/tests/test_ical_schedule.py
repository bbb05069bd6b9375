"""iCal polling keeps its promise at any fleet size: every feed is queued once per interval at
its own slot, the ticks carry an even share, the per-tick cap grows with the number of feeds,
and a failing feed backs off without holding back the others (bookings/ical/schedule.py).

The polls run in-process with the clock frozen and stepped by time-machine; nothing is
mocked: the fetches themselves are queued on commit, which these tests do not run (except the
back-off test, which fetches from a loopback server)."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict

import pytest
import time_machine
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bookings.ical.models import FetchStatus, IcalFeed
from bookings.ical.schedule import feed_next_slot, poll_cap
from bookings.ical.services import feed_fetch, feeds_poll_due
from portal.tests.local_http import Answer, LocalServer

T0 = dt.datetime(2027, 3, 1, 9, 0, 7, tzinfo=dt.UTC)
INTERVAL = 900.0
TICK = 60.0


@pytest.fixture
def timing(settings):
    settings.LATCHKEY_ICAL_POLL_SECONDS = INTERVAL
    settings.LATCHKEY_ICAL_TICK_SECONDS = TICK
    return settings


def make_feeds(world, prop, count: int, *, due: dt.datetime, first_pk: int | None = None):
    """`count` feeds of one property, all due at `due` (as after a restart or an import)."""
    rows = [
        IcalFeed(
            organization=world.org,
            property=prop,
            url=f"https://calendar.example/{i}.ics",
            url_hash=f"{i:064d}",
            url_masked=f"https://calendar.example/{i}.ics",
            next_fetch_at=due,
            **({"pk": first_pk + i} if first_pk is not None else {}),
        )
        for i in range(count)
    ]
    return IcalFeed.objects.bulk_create(rows, batch_size=1000)


def run_ticks(until: dt.datetime, *, start: dt.datetime, step: float = TICK):
    """Call the poll at every tick from `start` to `until`; returns [(tick time, feed ids)]."""
    out = []
    now = start
    while now <= until:
        with time_machine.travel(now, tick=False):
            out.append((now, feeds_poll_due()))
        now += dt.timedelta(seconds=step)
    return out


def polls_by_feed(ticks) -> dict[int, list[dt.datetime]]:
    by_feed: dict[int, list[dt.datetime]] = defaultdict(list)
    for at, ids in ticks:
        for feed_id in ids:
            by_feed[feed_id].append(at)
    return by_feed


@pytest.mark.django_db
def test_a_thousand_feeds_due_at_once_spread_over_the_interval_and_stay_even(world, prop, timing):
    """1,000 feeds all due after a restart: the first round is capped, then every feed is
    polled exactly once per interval, and every tick carries about 1,000 x 60 / 900 = 67."""
    make_feeds(world, prop, 1000, due=T0)
    cap = poll_cap(feeds=1000)
    assert cap == math.ceil(1000 * TICK / INTERVAL * 2) == 134
    ticks = run_ticks(T0 + dt.timedelta(seconds=4 * INTERVAL), start=T0)
    assert max(len(ids) for _, ids in ticks) <= cap  # never all at once
    by_feed = polls_by_feed(ticks)
    assert len(by_feed) == 1000
    # Everyone's first poll within the first interval; then never more than an interval
    # apart, and once the backlog is gone exactly one interval (beat keeps time here).
    assert all(polls[0] < T0 + dt.timedelta(seconds=INTERVAL) for polls in by_feed.values())
    gaps = [b - a for polls in by_feed.values() for a, b in itertools.pairwise(polls)]
    assert max(gaps) <= dt.timedelta(seconds=INTERVAL)
    steady_gaps = {
        (b - a).total_seconds()
        for polls in by_feed.values()
        for a, b in itertools.pairwise(polls)
        if a >= T0 + dt.timedelta(seconds=INTERVAL)
    }
    assert steady_gaps == {INTERVAL}
    # Steady state (the last two intervals): the load per tick is even.
    steady = [len(ids) for at, ids in ticks if at >= T0 + dt.timedelta(seconds=2 * INTERVAL)]
    share = 1000 * TICK / INTERVAL
    assert math.floor(share) - 2 <= min(steady) and max(steady) <= math.ceil(share) + 2, steady


@pytest.mark.django_db
def test_the_cap_grows_with_the_fleet_so_ten_thousand_feeds_keep_their_interval(
    world, prop, timing
):
    """Past 7,500 feeds the old fixed 500 a minute fell behind; the cap is derived instead."""
    assert poll_cap(feeds=10) == 50  # the floor
    for feeds in (100, 7_500, 10_000, 100_000):
        assert poll_cap(feeds=feeds) * (INTERVAL / TICK) >= 2 * feeds
    make_feeds(world, prop, 10_000, due=T0)
    with time_machine.travel(T0, tick=False):
        taken = feeds_poll_due()
    assert len(taken) == poll_cap(feeds=10_000) == 1334 > 500
    # Within one interval of ticks, every one of the 10,000 feeds has been queued.
    ticks = run_ticks(
        T0 + dt.timedelta(seconds=INTERVAL - TICK), start=T0 + dt.timedelta(seconds=TICK)
    )
    seen = set(taken) | {feed_id for _, ids in ticks for feed_id in ids}
    assert len(seen) == 10_000


@pytest.mark.django_db
def test_a_new_feed_is_polled_at_its_own_slot_not_with_the_others(world, prop, timing):
    feeds = make_feeds(world, prop, 3, due=T0)
    with time_machine.travel(T0, tick=False):
        feeds_poll_due()
    slots = {f.pk: IcalFeed.objects.get(pk=f.pk).next_fetch_at for f in feeds}
    assert slots == {f.pk: feed_next_slot(feed_id=f.pk, after=T0) for f in feeds}
    assert len(set(slots.values())) == 3
    assert all(T0 < s <= T0 + dt.timedelta(seconds=INTERVAL) for s in slots.values())


@pytest.mark.django_db
def test_a_failing_feed_backs_off_on_its_slot_and_the_others_keep_their_interval(
    world, prop, timing
):
    timing.LATCHKEY_ALLOW_PRIVATE_URLS = True
    feeds = make_feeds(world, prop, 60, due=T0)
    with LocalServer() as server:
        server.answers["/broken.ics"] = Answer(status=500, body=b"oops")
        broken = feeds[0]
        IcalFeed.objects.filter(pk=broken.pk).update(url=server.url("/broken.ics"))
        polled: list[tuple[dt.datetime, list[int]]] = []
        now = T0
        while now <= T0 + dt.timedelta(seconds=8 * INTERVAL):
            with time_machine.travel(now, tick=False):
                ids = feeds_poll_due()
                polled.append((now, ids))
                if broken.pk in ids:  # what the queued task would do
                    assert feed_fetch(feed_id=broken.pk).status == FetchStatus.FAILED
            now += dt.timedelta(seconds=TICK)
    by_feed = polls_by_feed(polled)
    fails = by_feed[broken.pk]
    # 2, then 4 intervals apart (each time on its own slot), instead of every interval.
    assert [
        round((b - a).total_seconds() / INTERVAL) for a, b in itertools.pairwise(fails[1:])
    ] == [
        2,
        4,
    ]
    for feed in feeds[1:]:
        polls = by_feed[feed.pk]
        assert len(polls) >= 8
        assert all((b - a).total_seconds() <= INTERVAL for a, b in itertools.pairwise(polls))


@pytest.mark.django_db
@hyp_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ids=st.sets(st.integers(min_value=1, max_value=2_000_000), min_size=1, max_size=150),
    offsets=st.lists(st.floats(min_value=-INTERVAL, max_value=INTERVAL), min_size=1),
    steps=st.lists(st.floats(min_value=TICK / 4, max_value=TICK), min_size=1, max_size=40),
)
def test_no_due_feed_is_ever_skipped_beyond_its_interval(world, prop, timing, ids, offsets, steps):
    """Random fleets (any ids, due anywhere from an interval overdue to an interval ahead) and
    a beat that ticks at random, at most `TICK` apart: after its first poll, every feed is
    queued again within one interval and one tick, and never twice in a short while."""
    IcalFeed.objects.all().delete()
    ids = sorted(ids)
    due = {
        feed_id: T0 + dt.timedelta(seconds=offsets[i % len(offsets)])
        for i, feed_id in enumerate(ids)
    }
    IcalFeed.objects.bulk_create(
        IcalFeed(
            pk=feed_id,
            organization=world.org,
            property=prop,
            url=f"https://calendar.example/{feed_id}.ics",
            url_hash=f"{feed_id:064d}",
            url_masked="https://calendar.example/…",
            next_fetch_at=at,
        )
        for feed_id, at in due.items()
    )
    end = T0 + dt.timedelta(seconds=2.5 * INTERVAL)
    polls: dict[int, list[dt.datetime]] = defaultdict(list)
    now, i = T0, 0
    while now <= end:
        with time_machine.travel(now, tick=False):
            for feed_id in feeds_poll_due():
                polls[feed_id].append(now)
        now += dt.timedelta(seconds=steps[i % len(steps)])
        i += 1
    slack = dt.timedelta(seconds=INTERVAL + TICK)
    for feed_id, at in due.items():
        seen = polls[feed_id]
        # First poll: the first tick once due (ids <= 150 < MIN_CAP, so no cap in the way).
        assert seen and seen[0] <= max(at, T0) + dt.timedelta(seconds=TICK)
        assert all(b - a <= slack for a, b in itertools.pairwise(seen)), (feed_id, seen)
        assert end - seen[-1] <= slack
        # After the second poll a feed is on its slot grid: not polled again early.
        assert all(
            b - a >= dt.timedelta(seconds=INTERVAL - TICK) for a, b in itertools.pairwise(seen[1:])
        )
