"""The backup-code path end to end with real parts: the live server, a real Celery worker
(with beat), PostgreSQL and Redis. Two virtual doors get backup pools through the API, the
flat's internet goes down (the locks' `offline` knob), a guest books for tonight and gets a
working backup code by email; the internet comes back and the periodic reconcile narrows the
code to the stay and refills the pools on the locks."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import httpx2
import pytest
from django.db import connection
from django.utils import timezone

from bookings.models import AccessGrant, GuestEmail
from bookings.tests.test_integration import wait_for
from locks.models import BackupCode, VirtualLockCode
from portal.testing import Worker, database_url

pytestmark = [
    pytest.mark.integration,
    pytest.mark.clock,  # bookings planned against the wall clock: .ci/clock-sweep
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def fast_worker(monkeypatch, concurrent_db):
    from conftest import REQUIRE_SERVICES, services_available

    if not services_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL and Redis are required for the integration tests")
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL)")
    from portal.testing import purge_queues

    purge_queues()
    # Beat probes locks and plans often, so "as soon as the lock is back" fits in a test.
    monkeypatch.setenv("LATCHKEY_RECONCILE_SECONDS", "2")
    monkeypatch.setenv("LATCHKEY_PLAN_SECONDS", "2")
    with tempfile.TemporaryDirectory() as tmp:
        w = Worker(Path(tmp), database_url=database_url())
        w.start()
        yield w
        w.stop()
        print(w.log.read_text()[-4000:])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND application_name NOT LIKE 'pytest-live%%'"
        )


def test_backup_code_while_offline_then_narrowed_when_back(
    live_server, fast_worker, world, prop, locks
):
    api = httpx2.Client(
        base_url=live_server.url, headers={"Authorization": f"Bearer {world.write_key}"}, timeout=15
    )
    for lock in locks:
        assert (
            api.patch(f"/api/v1/locks/{lock.pk}/", json={"backup_pool_size": 2}).status_code == 200
        )

    def ready(lock):
        return api.get(f"/api/v1/locks/{lock.pk}/").json()["backup_codes_ready"]

    wait_for(lambda: all(ready(lock) == 2 for lock in locks), timeout=60, what="pools on the locks")
    pool = set(BackupCode.objects.filter(lock=locks[0]).values_list("code", flat=True))

    for lock in locks:  # the flat's internet goes down
        assert (
            api.patch(f"/api/v1/locks/{lock.pk}/", json={"config": {"offline": True}}).status_code
            == 200
        )
    check_in = (timezone.now() + dt.timedelta(minutes=30)).replace(microsecond=0)
    created = api.post(
        "/api/v1/bookings/",
        json={
            "external_id": "LIVE-TONIGHT",
            "property": prop.pk,
            "status": "confirmed",
            "check_in": check_in.isoformat(),
            "check_out": str(check_in.date() + dt.timedelta(days=2)),
            "guest": {"name": "Nora Night", "email": "nora@example.com"},
        },
    )
    assert created.status_code == 201, created.text
    booking_id = created.json()["id"]
    email = wait_for(
        lambda: GuestEmail.objects.filter(booking_id=booking_id, sent_at__isnull=False).first(),
        timeout=60,
        what="the guest's email with a backup code",
    )
    grant = AccessGrant.objects.get(booking_id=booking_id)
    assert grant.code in pool and email.code == grant.code and grant.code in email.body_text
    # The lock still holds the backup's long window: it cannot be narrowed while offline.
    held = VirtualLockCode.objects.get(lock=locks[1], code=grant.code)
    assert held.valid_until > grant.valid_until + dt.timedelta(days=300)

    for lock in locks:  # back online: nobody presses anything
        assert api.patch(f"/api/v1/locks/{lock.pk}/", json={"config": {}}).status_code == 200

    def narrowed():
        rows = VirtualLockCode.objects.filter(lock__in=locks, code=grant.code)
        return len(rows) == 2 and all(r.valid_until == grant.valid_until for r in rows)

    wait_for(narrowed, timeout=90, what="the backup code narrowed to the stay on both doors")
    wait_for(lambda: all(ready(lock) == 2 for lock in locks), timeout=90, what="pools refilled")
    access = api.get(f"/api/v1/bookings/{booking_id}/").json()["access"]
    assert {a["state"] for a in access} == {"set"} and {a["code"] for a in access} == {grant.code}
    assert GuestEmail.objects.filter(booking_id=booking_id).count() == 1
