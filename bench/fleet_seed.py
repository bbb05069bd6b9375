"""The fleet for bench/fleet.py: organizations of 500 properties, 1,000 virtual locks and
20,000 stays each with their history, plus the "due" work each periodic task is timed on.

Why two parts: the fleet's ratio L / S must measure what the rows that are NOT due cost a task,
so the background holds nothing due (at any moment of a run: every stay window starts and ends
hours away from the run's start), and the due work (a fixture per task, always the same size,
always in organization 1, which both sizes share) is written just before each timed run and
taken away after it.

The background of one organization (one "unit"; S is one unit, L ten):
- 500 properties in five time zones, two virtual locks each (3 % offline, a few low battery);
- 20,000 stays from a year ago to six months ahead (80 % confirmed, 10 % tentative, 10 %
  cancelled), one grant each and one code per door in the state its dates give: ended or not
  confirmed -> removed (and not wanted), inside the 72 h preload horizon -> set, later ->
  planned (push_after still ahead); stays that ended more than 90 days ago are anonymised (the
  retention ran before);
- the outbox's history: one succeeded sync command per code that reached its lock, and
  RECONCILE_ROUNDS finished reconcile rounds over every lock;
- 10 lock events per lock, 15 open alerts (battery, offline) and 100 resolved ones;
- an iCal feed on every second property, polled recently (next fetch within one interval);
- a generic PMS connection with 2,000 applied deliveries of the last three weeks.
Organization 1 also holds a Nuki Web account (NUKI_WEB_LOCKS locks on the in-process Nuki Web
stand-in) and a Nuki Bridge (BRIDGE_LOCKS locks on the in-process bridge simulator), attached as
third doors of its first properties: the log sync's amount due is the same at both sizes.
bench/fleet_budget.py, when present, covers 1,000 locks of one cloud account.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

PROPERTIES = 500
LOCKS_PER_PROPERTY = 2
BOOKINGS = 20_000
FEED_EVERY = 2  # an iCal feed on every second property
PMS_EVENTS = 2_000
LOCK_EVENTS_PER_LOCK = 10
RECONCILE_ROUNDS = 3
OPEN_ALERTS = 15
RESOLVED_ALERTS = 100
NUKI_WEB_LOCKS = 40
BRIDGE_LOCKS = 10
BATCH = 5_000
TIMEZONES = ["Europe/Vienna", "Europe/Berlin", "Europe/London", "Europe/Lisbon", "UTC"]
PRELOAD = dt.timedelta(hours=72)
GUEST_DAYS = 90  # Organization.retention_guest_days' default
ANONYMISED_NAME = "Guest (anonymised)"  # bookings.retention.ANONYMISED_NAME


@dataclass
class Unit:
    """One organization of the background and what the fixtures need of it."""

    organization: object
    lock_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)
    fixture_locks: list[int] = field(default_factory=list)


def copy_create(model, objs: list) -> list:
    """bulk_create through PostgreSQL's COPY (several times faster for 10^5 rows): ids are
    drawn from the table's own sequence first, so the objects come back with their pk set as
    bulk_create's would."""
    from django.db import connection
    from django.db.models import JSONField
    from psycopg.types.json import Jsonb

    if not objs:
        return objs
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, len(objs)],
        )
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
        columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        # Raw attribute values (psycopg adapts them; JSON wrapped): the fields' own
        # get_db_prep_save took half the seeding time.
        names = [f.attname for f in fields]
        wrap = [isinstance(f, JSONField) for f in fields]
        with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                row = [getattr(obj, name) for name in names]
                copy.write_row(
                    [Jsonb(v) if w and v is not None else v for v, w in zip(row, wrap, strict=True)]
                )
    for obj in objs:
        obj._state.adding, obj._state.db = False, "default"
    return objs


def window(day: dt.date, anchor: dt.time) -> dt.datetime:
    return dt.datetime.combine(day, anchor, tzinfo=dt.UTC)


def code_state(status: str, start: dt.datetime, end: dt.datetime, now: dt.datetime):
    """(state, wanted) of a background code: never due at `now` nor for hours after it."""
    if status != "confirmed" or end <= now:
        return "removed", False
    if start - PRELOAD <= now:
        return "set", True
    return "planned", True


def seed_unit(index: int, *, now: dt.datetime, anchor: dt.time, rng: random.Random) -> Unit:
    """One organization of the background, written with bulk_create in batches of BATCH."""
    from django.db import transaction

    from portal.services import organization_create

    with transaction.atomic():
        org, _user, _pw = organization_create(
            name=f"Fleet {index:02}",
            owner_email=f"owner{index}@fleet.invalid",
            owner_password="fleet-bench-123",
        )
        props, locks_by_property = properties_and_locks(org, rng=rng, now=now)
        unit = Unit(org, [lk for lks in locks_by_property.values() for lk in lks])
        stays_and_codes(unit, props, locks_by_property, now=now, anchor=anchor, rng=rng)
        history(unit, rng=rng, now=now)
        feeds_and_pms(unit, props, now=now)
    return unit


def properties_and_locks(org, *, rng: random.Random, now: dt.datetime):
    from locks.models import Lock
    from properties.models import Property

    props = Property.objects.bulk_create(
        [
            Property(
                organization=org,
                name=f"Flat {i:03}",
                timezone=TIMEZONES[i % len(TIMEZONES)],
                external_ref=f"p{i}",
            )
            for i in range(PROPERTIES)
        ],
        batch_size=BATCH,
    )
    locks = Lock.objects.bulk_create(
        [
            Lock(
                organization=org,
                property=prop,
                name=f"{prop.name} door {n}",
                driver="virtual",
                config={"delay_ms": 0},
                state="locked",
                battery_percent=rng.randint(5, 100),
                battery_critical=rng.random() < 0.01,
                online=rng.random() > 0.03,
                last_seen_at=now - dt.timedelta(minutes=rng.randint(0, 600)),
            )
            for prop in props
            for n in range(1, LOCKS_PER_PROPERTY + 1)
        ],
        batch_size=BATCH,
    )
    by_property: dict[int, list] = {}
    for lock in locks:
        by_property.setdefault(lock.property_id, []).append(lock.pk)
    return props, by_property


def stays_and_codes(unit: Unit, props, locks_by_property, *, now, anchor, rng) -> None:
    """Stays with a grant and a code per door, and a succeeded command per code that reached
    its lock. Written in slices so that at most BATCH stays' objects are alive at once."""
    from bookings.models import AccessGrant, Booking
    from locks.models import AccessCode, LockCommand

    today = now.date()
    statuses = ["confirmed"] * 8 + ["tentative", "cancelled"]
    forgotten = now - dt.timedelta(days=GUEST_DAYS + 2)
    counts = {"bookings": 0, "codes": 0, "commands": 0}
    org = unit.organization
    for first in range(0, BOOKINGS, BATCH):
        bookings = []
        for i in range(first, min(first + BATCH, BOOKINGS)):
            check_in = today + dt.timedelta(days=rng.randint(-365, 180))
            check_out = check_in + dt.timedelta(days=rng.randint(1, 14))
            old = window(check_out, anchor) < forgotten
            bookings.append(
                Booking(
                    organization=org,
                    property=props[i % len(props)],
                    source="bench",
                    external_id=f"b{i}",
                    status=rng.choice(statuses),
                    guest_name=ANONYMISED_NAME if old else f"Guest {i}",
                    guest_email="" if old else f"guest{i}@fleet.invalid",
                    check_in=check_in,
                    check_out=check_out,
                    anonymised_at=forgotten if old else None,
                )
            )
        copy_create(Booking, bookings)
        grants = copy_create(
            AccessGrant,
            [
                AccessGrant(
                    organization=org,
                    booking=b,
                    code=nuki_code(rng),
                    valid_from=window(b.check_in, anchor),
                    valid_until=window(b.check_out, anchor) - dt.timedelta(hours=4),
                    active=b.status == "confirmed",
                )
                for b in bookings
            ],
        )
        codes = []
        for b, grant in zip(bookings, grants, strict=True):
            state, wanted = code_state(b.status, grant.valid_from, grant.valid_until, now)
            reached = state == "set" or (b.status == "confirmed" and state == "removed")
            for lock_id in locks_by_property[b.property_id]:
                codes.append(
                    AccessCode(
                        organization=org,
                        lock_id=lock_id,
                        holder=grant.holder,
                        name=f"LK{grant.pk} Guest"[:20],
                        code=grant.code,
                        valid_from=grant.valid_from,
                        valid_until=grant.valid_until,
                        push_after=grant.valid_from - PRELOAD,
                        wanted=wanted,
                        state=state,
                        remote_id=str(rng.randint(1, 10**9)) if state == "set" else "",
                        set_at=grant.valid_from - PRELOAD if reached else None,
                        updated_at=min(now, grant.valid_until),
                    )
                )
        copy_create(AccessCode, codes)
        commands = [
            LockCommand(
                organization=org,
                lock_id=ac.lock_id,
                access_code=ac,
                kind="sync_code",
                status="succeeded",
                attempts=1,
                created_at=ac.set_at,
                next_attempt_at=ac.set_at,
                finished_at=ac.set_at,
            )
            for ac in codes
            if ac.set_at is not None
        ]
        copy_create(LockCommand, commands)
        counts["bookings"] += len(bookings)
        counts["codes"] += len(codes)
        counts["commands"] += len(commands)
    unit.counts.update(counts)


def history(unit: Unit, *, rng: random.Random, now: dt.datetime) -> None:
    """Finished reconcile rounds, lock events and alerts (open and resolved)."""
    from locks.models import LockCommand, LockEvent
    from portal.models import Alert

    org = unit.organization
    rounds = []
    for r in range(RECONCILE_ROUNDS):
        at = now - dt.timedelta(minutes=15 * (r + 1))
        rounds += [
            LockCommand(
                organization=org,
                lock_id=lock_id,
                kind="reconcile",
                status="succeeded",
                attempts=1,
                created_at=at,
                next_attempt_at=at,
                finished_at=at,
            )
            for lock_id in unit.lock_ids
        ]
    copy_create(LockCommand, rounds)
    copy_create(
        LockEvent,
        [
            LockEvent(
                organization=org,
                lock_id=lock_id,
                kind="state",
                source="bench",
                message=f"battery: {rng.randint(5, 100)}",
                occurred_at=now - dt.timedelta(hours=rng.randint(1, 24 * 300)),
            )
            for lock_id in unit.lock_ids
            for _ in range(LOCK_EVENTS_PER_LOCK)
        ],
    )
    alerts = [
        Alert(
            organization=org,
            kind=rng.choice(["lock_offline", "battery_critical"]),
            subject=f"lock:{unit.lock_ids[i * 7]}",
            message="The lock needs attention.",
            fix="Check the lock.",
            created_at=now - dt.timedelta(hours=i + 1),
            resolved_at=None if i < OPEN_ALERTS else now - dt.timedelta(minutes=i),
        )
        for i in range(OPEN_ALERTS + RESOLVED_ALERTS)
    ]
    Alert.objects.bulk_create(alerts)
    unit.counts["commands"] += len(rounds)
    unit.counts["lock_events"] = len(unit.lock_ids) * LOCK_EVENTS_PER_LOCK
    unit.counts["open_alerts"] = OPEN_ALERTS


def feeds_and_pms(unit: Unit, props, *, now: dt.datetime) -> None:
    """iCal feeds (polled recently: the poll hook spreads their next fetch again before each
    timed run) and a PMS connection with applied deliveries."""
    from bookings.ical.models import IcalFeed
    from bookings.pms.models import PmsConnection, PmsEvent

    org = unit.organization
    feeds = [
        IcalFeed(
            organization=org,
            property=prop,
            name="Airbnb",
            url=f"https://www.airbnb.invalid/calendar/ical/{org.pk}-{prop.pk}.ics?s=secret",
            url_hash=f"{org.pk}-{prop.pk}",
            url_masked="https://www.airbnb.invalid/calendar/ical/…",
            status="ok",
            last_fetch_at=now - dt.timedelta(minutes=5),
            last_success_at=now - dt.timedelta(minutes=5),
            next_fetch_at=now + dt.timedelta(hours=1),
        )
        for prop in props[::FEED_EVERY]
    ]
    IcalFeed.objects.bulk_create(feeds, batch_size=BATCH)
    conn = PmsConnection.objects.create(organization=org, kind="generic", name="PMS")
    PmsEvent.objects.bulk_create(
        (
            PmsEvent(
                organization=org,
                connection=conn,
                digest=f"{org.pk}-{i}",
                body='{"external_id": "x"}',
                received_at=now - dt.timedelta(minutes=10 * i + 30),
                processed_at=now - dt.timedelta(minutes=10 * i + 29),
                outcome="applied",
                external_id=f"b{i}",
                listing_id=f"p{i % PROPERTIES}",
            )
            for i in range(PMS_EVENTS)
        ),
        batch_size=BATCH,
    )
    unit.counts["feeds"] = len(feeds)
    unit.counts["pms_events"] = PMS_EVENTS


# Devices behind the cloud and the bridge (organization 1 only) -----------------------------


def cloud_and_bridge(unit: Unit, *, nukiweb_url: str, api_token: str, bridge_sim) -> list[int]:
    """Connect organization 1 to the Nuki Web stand-in and to the bridge simulator, import
    their locks and hang them as third doors on its first properties."""
    from locks.integrations.bridge.services import bridge_import
    from locks.integrations.nuki_web.connection import (
        connection_from_api_token,
        nuki_web_setup,
    )
    from locks.models import Bridge, Lock
    from properties.models import Property

    org = unit.organization
    conn = connection_from_api_token(organization=org, api_token=api_token, api_url=nukiweb_url)
    cloud = nuki_web_setup(connection=conn)
    bridge = Bridge.objects.create(
        organization=org,
        name="Fleet bridge",
        host="127.0.0.1",
        port=bridge_sim.port,
        token=bridge_sim.token,
        status=Bridge.Status.OK,
    )
    local = bridge_import(bridge=bridge)
    props = list(Property.objects.filter(organization=org).order_by("pk")[: len(cloud + local)])
    for lock, prop in zip(cloud + local, props, strict=False):
        Lock.objects.filter(pk=lock.pk).update(property=prop)
    return [lock.pk for lock in cloud + local]


def nuki_code(rng: random.Random) -> str:
    """Six digits 1-9: a Nuki keypad code has no 0."""
    return "".join(rng.choices("123456789", k=6))
