"""The due work of each periodic task for bench/fleet.py (its fixtures), and the workers' part.

Written in organization 1 (both sizes share it) just before a timed run and removed after it,
always the same amount, so that L / S measures what the rows that are not due cost a task.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from fleet_seed import GUEST_DAYS, PRELOAD, Unit, nuki_code

# The due work of each fixture (the same at S and at L).
DUE_COMMANDS = 50  # pending commands whose message was lost, on 50 locks
DUE_PLAN = 50  # stays entering the preload horizon (100 codes) and as many ending (100 codes)
DUE_FEEDS = 20
DUE_PMS = 20
DUE_UNSET = 20  # stays starting within the backup lead with codes not on their locks
DUE_RETENTION = 20  # stays past the guest retention, not anonymised yet


# Fixtures: the due work, written before a timed run and removed after it -------------------

Cleanup = Callable[[], None]
FixtureMaker = Callable[[Unit, dt.datetime], tuple[str, Cleanup]]


def fixture_place(unit: Unit) -> None:
    """The property the due stays of the fixtures use: one door online, one offline (so a
    stay whose code failed there is one a backup code is for)."""
    from locks.models import Lock
    from properties.models import Property

    org = unit.organization
    prop = Property.objects.create(organization=org, name="Fixture flat", external_ref="fixture")
    locks = [
        Lock.objects.create(
            organization=org,
            property=prop,
            name=f"Fixture door {n}",
            driver="virtual",
            config={"delay_ms": 0},
            state="locked",
            online=n == 1,
        )
        for n in (1, 2)
    ]
    unit.counts["fixture_property"] = prop.pk
    unit.fixture_locks = [lock.pk for lock in locks]


def fixture_stays(
    unit: Unit,
    lock_ids: list[int],
    *,
    n: int,
    tag: str,
    start: dt.datetime,
    end: dt.datetime,
    state: str,
    wanted: bool,
    push_after: dt.datetime,
    guest: str = "Fixture guest",
) -> tuple[list[int], list[str]]:
    """n confirmed stays on the fixture property with a grant and a code per fixture lock."""
    from bookings.models import AccessGrant, Booking
    from locks.models import AccessCode

    org = unit.organization
    rng = random.Random(tag)
    prop_id = unit.counts["fixture_property"]
    bookings = Booking.objects.bulk_create(
        Booking(
            organization=org,
            property_id=prop_id,
            source="fixture",
            external_id=f"{tag}-{i}",
            status="confirmed",
            guest_name=guest,
            guest_email="fixture@fleet.invalid",
            check_in=start.date(),
            check_out=max(end.date(), start.date() + dt.timedelta(days=1)),
        )
        for i in range(n)
    )
    grants = AccessGrant.objects.bulk_create(
        AccessGrant(
            organization=org, booking=b, code=nuki_code(rng), valid_from=start, valid_until=end
        )
        for b in bookings
    )
    AccessCode.objects.bulk_create(
        AccessCode(
            organization=org,
            lock_id=lock_id,
            holder=g.holder,
            name=f"LK{g.pk} Fixture",
            code=g.code,
            valid_from=start,
            valid_until=end,
            push_after=push_after,
            wanted=wanted,
            state=state,
            remote_id="9" if state == "set" else "",
            last_error="The lock did not answer in time." if state == "failed" else "",
        )
        for g in grants
        for lock_id in lock_ids
    )
    return [b.pk for b in bookings], [g.holder for g in grants]


def remove_stays(booking_ids: list[int], holders: list[str]) -> None:
    from bookings.models import Booking
    from locks.models import AccessCode
    from portal.models import Alert

    AccessCode.objects.filter(holder__in=holders).delete()  # their commands go with them
    Alert.objects.filter(subject__in=[f"booking:{pk}" for pk in booking_ids]).delete()
    Booking.objects.filter(pk__in=booking_ids).delete()  # grants, emails, links with them


def workers_finish(*, now: dt.datetime) -> int:
    """What the workers would do with the commands a task queued (not measured here): every
    pending or running command ends, succeeded."""
    from locks.models import LockCommand

    return LockCommand.objects.filter(status__in=["pending", "running"]).update(
        status="succeeded", finished_at=now, lease_until=None
    )


def due_lost_commands(unit: Unit, now: dt.datetime) -> tuple[str, Cleanup]:
    from locks.models import LockCommand

    at = now - dt.timedelta(minutes=10)
    rows = LockCommand.objects.bulk_create(
        LockCommand(
            organization=unit.organization,
            lock_id=lock_id,
            kind="reconcile",
            created_at=at,
            next_attempt_at=at,
        )
        for lock_id in unit.lock_ids[:DUE_COMMANDS]
    )
    ids = [c.pk for c in rows]
    return f"{DUE_COMMANDS} pending commands, message lost", lambda: LockCommand.objects.filter(
        pk__in=ids
    ).delete()


def due_plan(unit: Unit, now: dt.datetime) -> tuple[str, Cleanup]:
    hour = dt.timedelta(hours=1)
    coming = fixture_stays(
        unit,
        unit.fixture_locks,
        n=DUE_PLAN,
        tag="plan-in",
        start=now + 48 * hour,
        end=now + 96 * hour,
        state="planned",
        wanted=True,
        push_after=now - hour / 60,
    )
    ended = fixture_stays(
        unit,
        unit.fixture_locks,
        n=DUE_PLAN,
        tag="plan-out",
        start=now - 72 * hour,
        end=now - hour / 60,
        state="set",
        wanted=True,
        push_after=now - 144 * hour,
    )

    def cleanup() -> None:
        remove_stays(coming[0] + ended[0], coming[1] + ended[1])

    n = DUE_PLAN * len(unit.fixture_locks)
    return f"{n} codes to push, {n} to withdraw", cleanup


def due_feeds(unit: Unit, now: dt.datetime) -> tuple[str, Cleanup]:
    """Every background feed polled within the last interval (next fetches spread evenly over
    the coming one, starting a minute ahead), DUE_FEEDS feeds due now."""
    from django.conf import settings
    from django.db import connection

    from bookings.ical.models import IcalFeed

    interval = settings.LATCHKEY_ICAL_POLL_SECONDS
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IcalFeed._meta.db_table} SET next_fetch_at = %s "
            "+ make_interval(secs => 60 + (id %% 1000) * %s / 1000.0)",
            [now, max(0.0, interval - 60)],
        )
    prop_id = unit.counts["fixture_property"]
    feeds = IcalFeed.objects.bulk_create(
        IcalFeed(
            organization=unit.organization,
            property_id=prop_id,
            name="Due",
            url=f"https://calendar.invalid/{i}.ics",
            url_hash=f"due-{i}",
            url_masked="https://calendar.invalid/…",
            next_fetch_at=now - dt.timedelta(minutes=1),
        )
        for i in range(DUE_FEEDS)
    )
    ids = [f.pk for f in feeds]
    return f"{DUE_FEEDS} feeds due", lambda: IcalFeed.objects.filter(pk__in=ids).delete()


def due_pms(unit: Unit, now: dt.datetime) -> tuple[str, Cleanup]:
    from bookings.pms.models import PmsConnection, PmsEvent

    conn = PmsConnection.objects.filter(organization=unit.organization).first()
    at = now - dt.timedelta(minutes=10)
    rows = PmsEvent.objects.bulk_create(
        PmsEvent(
            organization=unit.organization,
            connection=conn,
            digest=f"due-{now}-{i}",
            body="{}",
            received_at=at,
            outcome="pending",
            external_id=f"due{i}",
        )
        for i in range(DUE_PMS)
    )
    ids = [e.pk for e in rows]
    return f"{DUE_PMS} deliveries stuck", lambda: PmsEvent.objects.filter(pk__in=ids).delete()


def due_unset(unit: Unit, now: dt.datetime) -> tuple[str, Cleanup]:
    start = now + dt.timedelta(minutes=60)
    stays = fixture_stays(
        unit,
        unit.fixture_locks,
        n=DUE_UNSET,
        tag="unset",
        start=start,
        end=start + dt.timedelta(days=3),
        state="failed",
        wanted=True,
        push_after=start - PRELOAD,
    )
    return f"{DUE_UNSET} stays in 1 h, codes failed", lambda: remove_stays(*stays)


def due_retention(unit: Unit, now: dt.datetime) -> tuple[str, Cleanup]:
    end = now - dt.timedelta(days=GUEST_DAYS + 10)
    stays = fixture_stays(
        unit,
        unit.fixture_locks,
        n=DUE_RETENTION,
        tag="old",
        start=end - dt.timedelta(days=3),
        end=end,
        state="removed",
        wanted=False,
        push_after=end - dt.timedelta(days=6),
    )
    return f"{DUE_RETENTION} stays to anonymise", lambda: remove_stays(*stays)


# The due work of today's periodic tasks, by task name. A task without an entry (one added
# later) is timed on the background alone.
FIXTURES: dict[str, FixtureMaker] = {
    "locks.tasks.sweep_commands": due_lost_commands,
    "locks.tasks.plan_due_codes": due_plan,
    "bookings.ical.tasks.poll_due_feeds": due_feeds,
    "bookings.pms.tasks.sweep_pms_events": due_pms,
    "bookings.tasks.alert_unset_codes": due_unset,
    "bookings.tasks.assign_backup_codes": due_unset,
    "bookings.tasks.apply_retention": due_retention,
}
