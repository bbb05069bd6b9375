"""No page issues more queries as the data grows: each main page is counted at two data sizes
(the second adds many times more rows of every kind) and must stay under a fixed ceiling."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from bookings.models import AccessGrant, Booking, GuestEmail
from locks.models import AccessCode, Lock, LockCommand, LockEvent, ObservedCode
from portal.models import Alert
from portal.testing import days_from_now
from properties.models import Property

pytestmark = pytest.mark.django_db
MAX_QUERIES = 20


def grow(world, n: int, tag: str) -> dict:
    """n properties with two locks, 3 stays each with codes, failed commands, events, emails."""
    org = world.org
    now = timezone.now()
    props = Property.objects.bulk_create(
        [Property(organization=org, name=f"{tag}{i}", timezone="Europe/Vienna") for i in range(n)]
    )
    locks = Lock.objects.bulk_create(
        [
            Lock(
                organization=org, property=p, name=f"{p.name}-{j}", driver="virtual", online=j == 0
            )
            for p in props
            for j in range(2)
        ]
    )
    bookings = Booking.objects.bulk_create(
        [
            Booking(
                organization=org,
                property=p,
                external_id=f"{p.name}-{k}",
                status="confirmed",
                guest_name=f"G{p.name}{k}",
                check_in=days_from_now(k - 1),
                check_out=days_from_now(k + 1),
            )
            for p in props
            for k in range(3)
        ]
    )
    grants = AccessGrant.objects.bulk_create(
        [
            AccessGrant(organization=org, booking=b, code="345678", valid_from=now, valid_until=now)
            for b in bookings
        ]
    )
    by_prop: dict[int, list] = {}
    for lock in locks:
        by_prop.setdefault(lock.property_id, []).append(lock)
    codes = AccessCode.objects.bulk_create(
        [
            AccessCode(
                organization=org,
                lock=lock,
                holder=g.holder,
                name="x",
                code="345678",
                valid_from=now,
                valid_until=now + dt.timedelta(days=1),
                push_after=now - dt.timedelta(hours=1),
                state="failed" if i % 2 else "set",
            )
            for g in grants
            for i, lock in enumerate(by_prop[g.booking.property_id])
        ]
    )
    LockCommand.objects.bulk_create(
        [
            LockCommand(
                organization=org,
                lock=c.lock,
                access_code=c,
                kind="sync_code",
                status="failed",
                attempts=3,
                reason="The lock is offline.",
                finished_at=now,
            )
            for c in codes
        ]
    )
    LockEvent.objects.bulk_create(
        [
            LockEvent(organization=org, lock=lock, kind=f"k{i % 3}", message="m", occurred_at=now)
            for lock in locks
            for i in range(5)
        ]
    )
    ObservedCode.objects.bulk_create(
        [
            ObservedCode(organization=org, lock=lock, remote_id=f"r{i}", name="foreign")
            for lock in locks
            for i in range(3)
        ]
    )
    GuestEmail.objects.bulk_create(
        [
            GuestEmail(
                organization=org,
                booking=b,
                kind="access",
                to="g@example.com",
                language="en",
                subject="s",
                body_text="t",
                body_html="h",
                valid_from=now,
                valid_until=now,
                sent_at=now if i % 2 else None,
            )
            for b in bookings
            for i in range(2)
        ]
    )
    Alert.objects.bulk_create(
        [
            Alert(organization=org, kind="code_failed", subject=f"code:{c.pk}", message="m")
            for c in codes[:n]
        ]
    )
    grow_features(world, props, locks, grants, tag)
    return {"prop": props[0], "lock": locks[0], "booking": bookings[0]}


def grow_features(world, props, locks, grants, tag: str) -> None:
    """iCal feeds and standing access per property, backup codes per lock (one given to a
    stay), PMS deliveries (some for unmapped listings): the newer sections' rows."""
    from bookings.ical.models import IcalFeed
    from bookings.models import StandingAccess, StayLink
    from bookings.pms.models import PmsConnection, PmsEvent
    from locks.models import BackupCode

    org = world.org
    Lock.objects.filter(pk__in=[lock.pk for lock in locks]).update(backup_pool_size=3)
    Property.objects.filter(pk__in=[p.pk for p in props]).update(step_up_verifier="email_code")
    IcalFeed.objects.bulk_create(
        [
            IcalFeed(
                organization=org, property=p, name=f"f{p.pk}", url=f"https://x.test/{p.pk}.ics",
                url_hash=f"{tag}{p.pk}", url_masked="https://x.test/…", status="ok",
            )
            for p in props
        ]
    )  # fmt: skip
    standing = StandingAccess.objects.bulk_create(
        [
            StandingAccess(
                organization=org, property=p, name=f"Cleaner {p.pk}", code="456123",
                from_time=dt.time(10), until_time=dt.time(14),
            )
            for p in props
        ]
    )  # fmt: skip
    StandingAccess.locks.through.objects.bulk_create(
        [
            StandingAccess.locks.through(standingaccess_id=a.pk, lock_id=lock.pk)
            for a in standing
            for lock in locks
            if lock.property_id == a.property_id
        ]
    )
    BackupCode.objects.bulk_create(
        [
            BackupCode(
                organization=org, lock=lock, code=f"9{i}8765",
                status="taken" if i == 0 else "available",
                taken_by=grants[0].holder if i == 0 else "",
            )
            for lock in locks
            for i in range(3)
        ]
    )  # fmt: skip
    StayLink.objects.bulk_create(
        [
            StayLink(organization=org, grant=g, nonce=f"{tag}{g.pk}", token_hash=f"{tag}{g.pk}")
            for g in grants
        ]
    )
    conn, _ = PmsConnection.objects.get_or_create(organization=org, kind="hostaway", name="HA")
    now = timezone.now()
    PmsEvent.objects.bulk_create(
        [
            PmsEvent(
                organization=org, connection=conn, digest=f"{tag}{i}", body="{}",
                received_at=now, outcome="unmapped" if i % 2 else "applied",
                listing_id=f"{tag}-listing-{i % 7}", external_id=f"r{i}",
            )
            for i in range(5 * len(props))
        ]
    )  # fmt: skip


def more_stays_on(prop, n: int) -> None:
    now = timezone.now()
    bookings = Booking.objects.bulk_create(
        [
            Booking(
                organization=prop.organization,
                property=prop,
                external_id=f"more-{prop.pk}-{k}",
                status="confirmed",
                guest_name=f"More {k}",
                check_in=days_from_now(k % 5),
                check_out=days_from_now(k % 5 + 2),
            )
            for k in range(n)
        ]
    )
    grants = AccessGrant.objects.bulk_create(
        [
            AccessGrant(
                organization=prop.organization,
                booking=b,
                code="456789",
                valid_from=now,
                valid_until=now,
            )
            for b in bookings
        ]
    )
    lock = prop.locks.order_by("pk").first()
    AccessCode.objects.bulk_create(
        [
            AccessCode(
                organization=prop.organization,
                lock=lock,
                holder=g.holder,
                name="y",
                code="456789",
                valid_from=now,
                valid_until=now,
                push_after=now,
            )
            for g in grants
        ]
    )


def pages(world, objs) -> dict[str, str]:
    slug = world.org.slug
    return {
        "today": reverse("dashboard", kwargs={"slug": slug}),
        "properties": reverse("properties", kwargs={"slug": slug}),
        "property": reverse("property-page", kwargs={"slug": slug, "pk": objs["prop"].pk}),
        "timeline": reverse("property-timeline", kwargs={"slug": slug, "pk": objs["prop"].pk}),
        "locks": reverse("locks", kwargs={"slug": slug}),
        "lock": reverse("lock-page", kwargs={"slug": slug, "pk": objs["lock"].pk}),
        "stays": reverse("stays", kwargs={"slug": slug}),
        "stay": reverse("stay-page", kwargs={"slug": slug, "pk": objs["booking"].pk}),
        "emails": reverse("emails", kwargs={"slug": slug}),
        "integrations": reverse("integrations", kwargs={"slug": slug}),
        "settings": reverse("settings", kwargs={"slug": slug}),
        "standing-new": reverse("standing-new", kwargs={"slug": slug, "pk": objs["prop"].pk}),
    }


def count(client, path) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200, path
    return len(ctx.captured_queries)


def test_page_queries_do_not_grow_with_data(client, world, django_assert_max_num_queries):
    client.force_login(world.owner)
    small = grow(world, 2, "a")
    small_counts = {}
    for name, path in pages(world, small).items():
        client.get(path)  # warm: session, content types
        with django_assert_max_num_queries(MAX_QUERIES):
            small_counts[name] = count(client, path)
    grow(world, 40, "b")  # twenty times more of everything, in the same organization
    more_stays_on(small["prop"], 30)  # and a busier property, lock and stay list
    for name, path in pages(world, small).items():
        with django_assert_max_num_queries(MAX_QUERIES):
            large = count(client, path)
        assert large == small_counts[name], (name, small_counts[name], large)
