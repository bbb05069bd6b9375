"""PMS webhooks with real parts: deliveries over HTTP to the live server, processed by a real
Celery worker process through Redis and PostgreSQL, ending as codes `set` on virtual locks.

Needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL); skipped locally without them,
a failure on CI (LATCHKEY_REQUIRE_SERVICES=true)."""

from __future__ import annotations

import datetime as dt

import httpx2
import pytest

from bookings.models import AccessGrant, Booking, BookingStatus
from bookings.pms.models import PmsEvent
from bookings.pms.services import connection_create
from bookings.tests.pms_samples import Stay, payload, signed_headers
from bookings.tests.test_integration import services, wait_for, worker  # noqa: F401 (fixtures)
from locks.models import AccessCode, VirtualLockCode
from portal.testing import days_from_now
from properties.services import property_create

pytestmark = [
    pytest.mark.integration,
    pytest.mark.clock,  # bookings planned against the wall clock: .ci/clock-sweep
    pytest.mark.django_db(transaction=True),
]
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
GUESTY_SECRET = "whsec_c2VjcmV0LWtleS1mb3ItZ3Vlc3R5LXRlc3Rz"


@pytest.fixture
def site(world):
    from locks.services import lock_create

    prop = property_create(
        organization=world.org, name="Loft", timezone="Europe/Vienna", external_ref="81234"
    )
    locks = [
        lock_create(organization=world.org, property=prop, name=n, driver="virtual")
        for n in ("Building door", "Flat door")
    ]
    return prop, locks


def post(live_server, conn, body: bytes, secret: str | None = None) -> httpx2.Response:
    headers = signed_headers(conn.kind, secret or conn.secret, body)
    return httpx2.post(
        f"{live_server.url}/hooks/pms/{conn.webhook_key}/",
        content=body,
        headers=headers,
        timeout=10,
    )


def codes_set(booking_id: int, locks) -> bool:
    grant = AccessGrant.objects.filter(booking_id=booking_id, active=True).first()
    if grant is None:
        return False
    states = set(AccessCode.objects.filter(holder=grant.holder).values_list("state", flat=True))
    on_locks = VirtualLockCode.objects.filter(lock__in=locks, code=grant.code)
    return states == {"set"} and on_locks.count() == len(locks)


@pytest.mark.usefixtures("worker")
@pytest.mark.parametrize("kind", ["hostaway", "guesty", "hospitable", "smoobu"])
def test_signed_delivery_to_code_on_the_locks_with_a_real_worker(live_server, world, site, kind):
    _prop, locks = site
    conn = connection_create(
        organization=world.org,
        kind=kind,
        name=kind,
        secret=GUESTY_SECRET if kind == "guesty" else None,
    )
    if kind != "smoobu":
        refused = post(
            live_server,
            conn,
            payload(kind, Stay("1", "81234", days_from_now(0), days_from_now(2))),
            secret="z" * 43 if kind != "guesty" else "whsec_d3Jvbmc=",
        )
        assert refused.status_code == 401
    created = Stay("40123456", "81234", days_from_now(0), days_from_now(2), modified=T0)
    updated = Stay(
        "40123456", "81234", days_from_now(0), days_from_now(4), modified=T0 + dt.timedelta(hours=1)
    )
    # Out of order: the update arrives first, then the create it supersedes, then a retry.
    assert post(live_server, conn, payload(kind, updated, update=True)).status_code == 202
    assert post(live_server, conn, payload(kind, created)).status_code == 202
    again = post(live_server, conn, payload(kind, created))
    assert again.status_code == 200 and again.json()["duplicate"]

    wait_for(
        lambda: PmsEvent.objects.filter(connection=conn, processed_at__isnull=False).count() == 2,
        what="both events processed",
    )
    booking = Booking.objects.get(organization=world.org, source=kind)
    assert booking.check_out == days_from_now(4)
    assert booking.status == BookingStatus.CONFIRMED
    # Two worker processes may take them in either order; the end state is the same.
    outcomes = sorted(PmsEvent.objects.filter(connection=conn).values_list("outcome", flat=True))
    assert outcomes in (["applied", "stale"], ["applied", "applied"])
    wait_for(lambda: codes_set(booking.pk, locks), what="code set on both locks")
    grant = AccessGrant.objects.get(booking=booking)
    assert set(
        VirtualLockCode.objects.filter(lock__in=locks).values_list("valid_until", flat=True)
    ) == {grant.valid_until}

    # Cancelled in the PMS: the code leaves both locks.
    cancelled = Stay(
        "40123456",
        "81234",
        days_from_now(0),
        days_from_now(4),
        status="cancelled",
        modified=T0 + dt.timedelta(hours=2),
    )
    assert post(live_server, conn, payload(kind, cancelled, update=True)).status_code == 202
    wait_for(
        lambda: not VirtualLockCode.objects.filter(lock__in=locks).exists(), what="code removed"
    )
