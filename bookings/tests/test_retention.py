"""Retention (issue 12, item 8): raw deliveries, lock events and guests' personal data are
deleted or anonymised per organization, in batches, by one beat task; the stay, its counts
and its code history stay, without the person. The clock is frozen: nothing here depends on
the date the tests run."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bookings.models import AccessGrant, Booking, BookingStatus, GuestEmail, StayLink
from bookings.pms.models import PmsConnection, PmsEvent
from bookings.retention import ANONYMISED_NAME, guests_anonymise, retention_apply
from bookings.services import BookingData, booking_upsert
from locks.models import (
    AccessCode,
    Agent,
    AgentJob,
    LockCommand,
    LockEvent,
    ObservedCode,
    WebhookDelivery,
)
from portal.models import Alert

pytestmark = pytest.mark.django_db
UTC = dt.UTC
# Check-in Tuesday 12 January 2027, check-out Friday 15 January 2027.
CHECK_IN, CHECK_OUT = dt.date(2027, 1, 12), dt.date(2027, 1, 15)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def stay(
    world, prop, commit, *, external_id="S-1", check_in=CHECK_IN, check_out=CHECK_OUT, guest="Anna"
):
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id=external_id,
                property=prop,
                status=BookingStatus.CONFIRMED,
                check_in=check_in,
                check_out=check_out,
                guest_name=f"{guest} Gruber",
                guest_email=f"{guest.lower()}@example.com",
                guest_phone="+43 660 1234567",
                guest_language="en",
            ),
        )
    return booking


def test_guests_are_anonymised_after_the_retention_and_their_code_history_stays(
    world, prop, locks, commit
):
    with time_machine.travel(at(CHECK_IN, 8), tick=False):  # codes go on, the email goes out
        booking = stay(world, prop, commit)
    grant = AccessGrant.objects.get(booking=booking)
    codes = {c.pk: (c.lock_id, c.code, c.valid_from, c.valid_until) for c in grant_codes(grant)}
    assert len(codes) == 2 and all(
        c.name.startswith(f"LK{grant.pk} Anna") for c in grant_codes(grant)
    )
    email = GuestEmail.objects.get(booking=booking)
    assert email.to == "anna@example.com" and "Anna" in email.body_text
    assert StayLink.objects.filter(grant=grant).exists()
    lock = locks[0]
    old_name = grant_codes(grant)[0].name
    LockEvent.objects.create(
        organization=world.org,
        lock=lock,
        kind="guest_open",
        source="stay_page",
        message="Opened from the stay page by Anna Gruber",
        detail={"holder": grant.holder, "booking": booking.pk, "ip": "203.0.113.9"},
        occurred_at=at(CHECK_IN, 16),
    )
    LockEvent.objects.create(
        organization=world.org,
        lock=lock,
        kind="log:nuki_web",
        source="nuki web",
        message=old_name,
        detail={"name": old_name, "action": 1},
        occurred_at=at(CHECK_IN, 17),
    )
    observed = ObservedCode.objects.create(  # as a lock reported holding it
        organization=world.org,
        lock=lock,
        remote_id="r-1",
        code=grant.code,
        name=old_name,
        access_code=grant_codes(grant)[0],
    )
    Alert.objects.create(
        organization=world.org,
        kind="code_not_set",
        subject=f"booking:{booking.pk}",
        message="The code for Anna Gruber (check-in 2027-01-12) is not yet on: Flat door.",
    )
    # Stays that must not be touched: one that ended recently, one under way.
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=85)), tick=False):
        recent = stay(
            world,
            prop,
            commit,
            external_id="S-2",
            guest="Berta",
            check_in=CHECK_OUT + dt.timedelta(days=1),
            check_out=CHECK_OUT + dt.timedelta(days=5),
        )
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=91), 8), tick=False):
        current = stay(
            world,
            prop,
            commit,
            external_id="S-3",
            guest="Clara",
            check_in=CHECK_OUT + dt.timedelta(days=90),
            check_out=CHECK_OUT + dt.timedelta(days=93),
        )
    events_before = LockEvent.objects.count()

    # 89 days after check-out: too early, nothing changes.
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=89)), tick=False):
        assert retention_apply().get("guests", 0) == 0
    booking.refresh_from_db()
    assert booking.guest_name == "Anna Gruber" and booking.anonymised_at is None

    # 92 days after: the person goes, the stay and its code history stay.
    when = at(CHECK_OUT + dt.timedelta(days=92))
    with time_machine.travel(when, tick=False):
        done = retention_apply()
    assert done["guests"] == 1
    booking.refresh_from_db()
    assert booking.guest_name == ANONYMISED_NAME and booking.anonymised_at == when
    assert (booking.guest_email, booking.guest_phone, booking.guest_nuki_email) == ("", "", "")
    assert (booking.check_in, booking.check_out, booking.status) == (
        CHECK_IN,
        CHECK_OUT,
        "confirmed",
    )
    after = grant_codes(grant)
    assert {c.pk: (c.lock_id, c.code, c.valid_from, c.valid_until) for c in after} == codes
    assert {c.name for c in after} == {f"LK{grant.pk}"}
    assert all("Anna" not in repr(c.applied) for c in after)
    observed.refresh_from_db()
    assert (observed.name, observed.code) == (f"LK{grant.pk}", grant.code)
    email.refresh_from_db()
    assert GuestEmail.objects.filter(booking=booking).count() == 1  # counted, not deleted
    assert (email.to, email.body_text, email.body_html) == ("", "", "")
    assert not StayLink.objects.filter(grant=grant).exists()
    assert LockEvent.objects.count() == events_before  # the log keeps its entries ...
    for event in LockEvent.objects.filter(lock__in=locks):
        assert "Anna" not in event.message and "Anna" not in repr(event.detail), event.message
        assert "ip" not in event.detail
    assert LockEvent.objects.filter(message="Opened from the stay page by the guest").exists()
    assert LockEvent.objects.filter(message=f"LK{grant.pk}", detail__name=f"LK{grant.pk}").exists()
    assert "Anna" not in Alert.objects.get(subject=f"booking:{booking.pk}").message
    # ... and the stays that ended recently or are under way keep their guest.
    for other in (recent, current):
        other.refresh_from_db()
        assert other.guest_name.endswith(" Gruber") and other.anonymised_at is None
        assert other.guest_name in AccessCode.objects.filter(holder=other.grant.holder).first().name

    # Again: nothing left to do.
    with time_machine.travel(when + dt.timedelta(hours=1), tick=False):
        assert retention_apply().get("guests", 0) == 0
    booking.refresh_from_db()
    assert booking.anonymised_at == when

    # A late resend by the channel, with the guest and a changed check-out, brings no one back.
    with time_machine.travel(when + dt.timedelta(hours=2), tick=False):
        stay(world, prop, commit, check_out=CHECK_OUT + dt.timedelta(days=1))
    booking.refresh_from_db()
    assert booking.check_out == CHECK_OUT + dt.timedelta(days=1)
    assert (booking.guest_name, booking.guest_email) == (ANONYMISED_NAME, "")
    assert {c.name for c in grant_codes(grant)} == {f"LK{grant.pk}"}


def grant_codes(grant):
    return list(AccessCode.objects.filter(holder=grant.holder).order_by("pk"))


def test_raw_deliveries_and_lock_events_are_pruned_per_organization(world, prop, locks):
    now = dt.datetime(2027, 6, 1, 12, tzinfo=UTC)
    other = world.other_org
    other.retention_raw_days, other.retention_lock_event_days = 60, 200
    other.save()
    from locks.services import lock_create

    other_lock = lock_create(organization=other, property=None, name="O", driver="virtual")
    ours = PmsConnection.objects.create(organization=world.org, kind="smoobu", name="S")
    theirs = PmsConnection.objects.create(organization=other, kind="smoobu", name="S")

    def pms(conn, days, outcome="applied"):
        return PmsEvent.objects.create(
            organization=conn.organization,
            connection=conn,
            digest=f"{conn.pk}-{days}-{outcome}",
            body='{"guest": "Anna"}',
            received_at=now - dt.timedelta(days=days),
            outcome=outcome,
        )

    def event(lock, days):
        return LockEvent.objects.create(
            organization=lock.organization,
            lock=lock,
            kind="state",
            occurred_at=now - dt.timedelta(days=days),
        )

    def receipt(org, days):
        return WebhookDelivery.objects.create(
            organization=org,
            key=f"{org and org.pk}-{days}",
            received_at=now - dt.timedelta(days=days),
        )

    agent = Agent.objects.create(organization=world.org, name="A")

    def job(days, status):
        return AgentJob.objects.create(
            organization=world.org,
            agent=agent,
            lock=locks[0],
            kind="set_code",
            params={"name": "LK1 Anna", "code": "123456"},
            status=status,
            created_at=now - dt.timedelta(days=days),
        )

    def command(lock, days, status):
        return LockCommand.objects.create(
            organization=lock.organization,
            lock=lock,
            kind="reconcile",
            status=status,
            created_at=now - dt.timedelta(days=days),
        )

    gone = [
        pms(ours, 31),
        event(locks[0], 397),
        receipt(world.org, 31),
        receipt(None, 31),  # from before receipts named their organization: the default, 30
        job(31, AgentJob.Status.DONE),
        command(locks[0], 397, "succeeded"),
        event(other_lock, 201),
        pms(theirs, 61),
        command(other_lock, 201, "failed"),
    ]
    kept = [
        pms(ours, 29),
        pms(ours, 40, outcome="pending"),  # still to be processed: the sweep decides
        event(locks[0], 395),
        receipt(world.org, 29),
        receipt(None, 29),
        job(31, AgentJob.Status.PENDING),
        command(locks[0], 397, "pending"),
        command(locks[0], 300, "succeeded"),
        pms(theirs, 31),  # the other organization keeps raw deliveries 60 days
        event(other_lock, 199),
    ]
    with time_machine.travel(now, tick=False):
        done = retention_apply()
    assert done["pms_events"] == 2 and done["lock_events"] == 2
    assert done["webhook_deliveries"] == 2 and done["agent_jobs"] == 1
    # The routine prune (a newer check replaced it) takes one of them first.
    assert done["lock_commands"] + done["routine_commands"] == 2
    for row in gone:
        assert not type(row).objects.filter(pk=row.pk).exists(), row
    for row in kept:
        assert type(row).objects.filter(pk=row.pk).exists(), row


def test_batches_go_on_until_done_and_stop_at_the_time_budget(world, prop):
    now = dt.datetime(2027, 6, 1, 12, tzinfo=UTC)
    lock = __import__("locks.services", fromlist=["lock_create"]).lock_create(
        organization=world.org, property=prop, name="L", driver="virtual"
    )
    LockEvent.objects.bulk_create(
        LockEvent(
            organization=world.org,
            lock=lock,
            kind="state",
            occurred_at=now - dt.timedelta(days=400),
        )
        for _ in range(8)
    )
    Booking.objects.bulk_create(
        Booking(
            organization=world.org,
            property=prop,
            external_id=f"B-{i}",
            status=BookingStatus.CANCELLED,
            guest_name="Bert",
            guest_email="bert@example.com",
            check_in=dt.date(2027, 1, 1),
            check_out=dt.date(2027, 1, 3),
        )
        for i in range(7)
    )
    with time_machine.travel(now, tick=False):
        assert retention_apply(batch_size=3, budget_seconds=0) == {}  # no time: nothing done
        done = retention_apply(batch_size=3)
    assert done["lock_events"] == 8 and done["guests"] == 7
    assert not LockEvent.objects.exists()
    assert set(Booking.objects.values_list("guest_name", "guest_email")) == {(ANONYMISED_NAME, "")}
    assert Booking.objects.count() == 7


def test_access_still_running_keeps_the_guest_whatever_the_dates_say(world, prop):
    """The dates say the stay ended long ago, but its access window (or its exact check-out)
    still runs: never anonymised while access is current."""
    now = dt.datetime(2027, 6, 1, 12, tzinfo=UTC)
    old = {"check_in": dt.date(2027, 1, 1), "check_out": dt.date(2027, 1, 3)}
    common = {"organization": world.org, "property": prop, "status": BookingStatus.CONFIRMED}
    by_grant = Booking.objects.create(**common, **old, external_id="G", guest_name="Gina")
    AccessGrant.objects.create(
        organization=world.org,
        booking=by_grant,
        code="123456",
        valid_from=now - dt.timedelta(days=150),
        valid_until=now + dt.timedelta(days=1),
    )
    by_moment = Booking.objects.create(
        **common, **old, external_id="M", guest_name="Mia", check_out_at=now - dt.timedelta(days=3)
    )
    with time_machine.travel(now, tick=False):
        assert retention_apply().get("guests", 0) == 0
    assert set(Booking.objects.values_list("guest_name", flat=True)) == {"Gina", "Mia"}
    assert by_moment.anonymised_at is None


def test_the_beat_entry_runs_the_task(world, prop):
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]
    assert entry["schedule"] <= dt.timedelta(days=1)
    app.loader.import_default_modules()
    now = dt.datetime(2027, 6, 1, 12, tzinfo=UTC)
    booking = Booking.objects.create(
        organization=world.org,
        property=prop,
        external_id="B-1",
        status=BookingStatus.CONFIRMED,
        guest_name="Bert",
        guest_phone="+43 1",
        check_in=dt.date(2027, 1, 1),
        check_out=dt.date(2027, 1, 3),
    )
    with time_machine.travel(now, tick=False):
        result = app.tasks[entry["task"]].apply().get()
    assert result["guests"] == 1
    booking.refresh_from_db()
    assert booking.guest_phone == "" and booking.anonymised_at == now


# --- The settings -------------------------------------------------------------------------

GOOD = {"retention_raw_days": 7, "retention_lock_event_days": 400, "retention_guest_days": 30}


def test_owners_set_retention_on_the_settings_page(world):
    url = f"/o/{world.org.slug}/settings/retention/"
    client = Client()
    client.force_login(world.owner)
    page = client.get(f"/o/{world.org.slug}/settings/").content.decode()
    assert 'name="retention_guest_days"' in page and 'value="90"' in page

    bad = client.post(url, {**GOOD, "retention_guest_days": 0})
    assert bad.status_code == 400
    assert 'id="id_retention_guest_days_error"' in bad.content.decode()
    world.org.refresh_from_db()
    assert (world.org.retention_raw_days, world.org.retention_guest_days) == (30, 90)

    assert client.post(url, GOOD).status_code == 302
    world.org.refresh_from_db()
    assert (
        world.org.retention_raw_days,
        world.org.retention_lock_event_days,
        world.org.retention_guest_days,
    ) == (7, 400, 30)
    world.other_org.refresh_from_db()
    assert world.other_org.retention_guest_days == 90

    for user, status in ((world.member, 403), (world.viewer, 403), (world.outsider, 404)):
        client.force_login(user)
        assert client.post(url, {**GOOD, "retention_guest_days": 5}).status_code == status
    world.org.refresh_from_db()
    assert world.org.retention_guest_days == 30
    client.force_login(world.viewer)  # members who may not change it read it
    assert (
        "removed 30 days after check-out"
        in client.get(f"/o/{world.org.slug}/settings/").content.decode()
    )


def test_retention_in_the_api_is_read_by_members_and_changed_by_owners_only(world):
    from rest_framework.test import APIClient

    url = "/api/v1/organization/"
    assert world.api(world.read_key).get(url).json()["retention_lock_event_days"] == 396
    refused = world.api(world.write_key).patch(url, {"retention_guest_days": 5}, format="json")
    assert refused.status_code == 403
    owner = APIClient()
    owner.force_login(world.owner)
    bad = owner.patch(url, {"retention_raw_days": 0, "preload_hours": 10}, format="json")
    assert bad.status_code == 400 and set(bad.json()) == {"retention_raw_days"}
    world.org.refresh_from_db()
    assert world.org.retention_raw_days == 30 and world.org.preload_hours == 72
    ok = owner.patch(url, {"retention_guest_days": 5}, format="json")
    assert ok.status_code == 200 and ok.json()["retention_guest_days"] == 5


def test_on_postgresql_the_stays_due_are_read_by_the_partial_index(world, prop, commit):
    """Issue 16: the stays to anonymise are found by the partial index of stays not anonymised
    yet (booking_to_anonymise), so a run does not read the organization's anonymised past:
    with thousands of those (statistics fresh) the SELECT names that index, no table scan."""
    if connection.vendor != "postgresql":
        pytest.skip("the query plans are PostgreSQL's")
    past = dt.date(2026, 1, 1)
    Booking.objects.bulk_create(
        Booking(
            organization=world.org,
            property=prop,
            source="old",
            external_id=f"old-{n}",
            status=BookingStatus.CONFIRMED,
            guest_name=ANONYMISED_NAME,
            check_in=past + dt.timedelta(days=n % 300),
            check_out=past + dt.timedelta(days=n % 300 + 3),
            anonymised_at=at(past + dt.timedelta(days=400)),
        )
        for n in range(6_000)
    )
    due = stay(world, prop, commit)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE bookings_booking")
    now = at(CHECK_OUT + dt.timedelta(days=world.org.retention_guest_days + 2))
    with CaptureQueriesContext(connection) as ctx:
        assert guests_anonymise(organization=world.org, now=now, limit=50) == 1
    first = next(q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT"))
    assert "FOR UPDATE" in first
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + first)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "booking_to_anonymise" in plan, plan
    assert "Seq Scan on bookings_booking" not in plan, plan
    assert Booking.objects.get(pk=due.pk).anonymised_at == now


def test_on_postgresql_the_log_past_its_retention_is_read_by_age(world, prop):
    """The activity log's prune reads an organization's entries by (organization, occurred_at):
    thousands of recent entries (statistics fresh) are not read to find the few old ones."""
    if connection.vendor != "postgresql":
        pytest.skip("the query plans are PostgreSQL's")
    from locks.retention import lock_events_prune
    from locks.services import lock_create

    lock = lock_create(organization=world.org, property=prop, name="Door", driver="virtual")
    now = at(CHECK_OUT)
    LockEvent.objects.bulk_create(
        LockEvent(
            organization=world.org,
            lock=lock,
            kind="state",
            message="locked",
            occurred_at=now - dt.timedelta(hours=n % 2000, days=500 if n < 3 else 0),
        )
        for n in range(6_000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE locks_lockevent")
    before = now - dt.timedelta(days=world.org.retention_lock_event_days)
    with CaptureQueriesContext(connection) as ctx:
        assert lock_events_prune(organization_id=world.org.pk, before=before, limit=50) == 3
    select = ctx.captured_queries[0]["sql"]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + select)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "lockevent_by_org_age" in plan, plan
    assert LockEvent.objects.count() == 6_000 - 3


def test_organizations_with_nothing_due_cost_no_statements_of_their_own(world, prop, commit):
    """Issue 16: one query per set of retention settings says which organizations have what
    due; one with nothing due adds no statement to the run, one with a shorter retention adds
    one query (its own set), and the one with a stay due still gets it anonymised."""
    from portal.models import Organization

    booking = stay(world, prop, commit)
    now = at(CHECK_OUT + dt.timedelta(days=world.org.retention_guest_days + 2))
    with time_machine.travel(now - dt.timedelta(days=30), tick=False):  # nothing due yet
        with CaptureQueriesContext(connection) as few:
            retention_apply()
        Organization.objects.bulk_create(
            Organization(name=f"Quiet {n}", slug=f"quiet-{n}") for n in range(8)
        )
        with CaptureQueriesContext(connection) as many:
            retention_apply()
        assert len(many) == len(few)
        Organization.objects.create(name="Brief", slug="brief", retention_raw_days=7)
        with CaptureQueriesContext(connection) as other:
            retention_apply()
        assert len(other) == len(few) + 1
    with time_machine.travel(now, tick=False):
        assert retention_apply()["guests"] == 1
    booking.refresh_from_db()
    assert booking.guest_name == ANONYMISED_NAME
