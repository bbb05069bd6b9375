"""No organization's silent on-site agents can stall another organization's codes.

A real Celery worker (concurrency 2, with beat's sweep). Organization A has 20 enrolled agents
that never poll, each serving a BLE lock, and stays on those locks; organization B then books
a stay on a virtual lock. Before the agent path became asynchronous, each of A's commands held
a worker slot for 45 s waiting for its agent (164 s for B's code to reach `set` in the issue's
report); now A's commands wait without a worker and B's code is set in seconds. A's commands
end failed in plain words after their (shortened) deadline and one retry."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from django.db import connection

from portal.testing import Worker, database_url, days_from_now

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SILENT_AGENTS = 20
DEADLINE_SECONDS = 3


@pytest.fixture
def worker():
    from django.conf import settings

    from conftest import REQUIRE_SERVICES, services_available

    if not services_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL and Redis are required for the integration tests")
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL)")
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(settings.CELERY_TASK_DEFAULT_QUEUE)
    with tempfile.TemporaryDirectory() as tmp:
        w = Worker(
            Path(tmp),
            database_url=database_url(),
            concurrency=2,
            env={
                "LATCHKEY_AGENT_JOB_DEADLINE_SECONDS": str(DEADLINE_SECONDS),
                "LATCHKEY_COMMAND_MAX_ATTEMPTS": "2",
                "LATCHKEY_COMMAND_LEASE_SECONDS": "120",
            },
        )
        w.start()
        yield w
        w.stop()
        print(w.log.read_text()[-3000:])
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def book(*, organization, prop, ref: str):
    from bookings.services import BookingData, booking_upsert

    booking, _, _ = booking_upsert(
        organization=organization,
        source="api",
        data=BookingData(
            external_id=ref,
            property=prop,
            status="confirmed",
            check_in=days_from_now(0),
            check_out=days_from_now(2),
            guest_name=f"Guest {ref}",
            guest_email=f"{ref.lower()}@example.com",
        ),
    )
    return booking


def test_silent_agents_of_one_organization_do_not_delay_another(world, worker):
    from locks.integrations.ble_agent.enrollment import agent_create, agent_enroll
    from locks.models import AccessCode, Lock
    from locks.services import lock_create
    from properties.services import property_create

    noisy, quiet = world.org, world.other_org
    homes = [
        property_create(
            organization=noisy, name=f"A home {n}", timezone="Europe/Vienna", address="A street"
        )
        for n in range(2)
    ]
    for n in range(SILENT_AGENTS):  # enrolled once, then never heard from again
        agent, token = agent_create(organization=noisy, name=f"Silent {n}")
        agent, _ = agent_enroll(token=token)
        Lock.objects.create(
            organization=noisy,
            property=homes[n % 2],
            name=f"A door {n}",
            driver="ble_agent",
            agent=agent,
            ble_address=f"54:D2:72:00:00:{n:02X}",
        )
    for n, home in enumerate(homes):
        book(organization=noisy, prop=home, ref=f"A-{n}")  # 10 BLE codes each
    noisy_codes = AccessCode.objects.filter(organization=noisy)
    assert noisy_codes.count() == SILENT_AGENTS

    time.sleep(0.5)  # A's commands are ahead of B's in the queue
    flat = property_create(
        organization=quiet, name="B flat", timezone="Europe/Vienna", address="B street"
    )
    lock_create(organization=quiet, property=flat, name="B door", driver="virtual")
    started = time.monotonic()
    book(organization=quiet, prop=flat, ref="B-1")
    quiet_code = AccessCode.objects.get(organization=quiet)
    while quiet_code.state != "set" and time.monotonic() - started < 60:
        time.sleep(0.05)
        quiet_code.refresh_from_db()
    took = time.monotonic() - started
    print(f"B's booking → set: {took:.2f} s")
    assert quiet_code.state == "set", quiet_code.last_error
    assert took < 10.0, f"B's code took {took:.1f} s behind A's silent agents"

    # A's work still ends: failed in plain words once the deadline passed twice.
    limit = time.monotonic() + 90
    while noisy_codes.exclude(state="failed").exists() and time.monotonic() < limit:
        time.sleep(0.5)
    states = sorted(set(noisy_codes.values_list("state", flat=True)))
    assert states == ["failed"], states
    for ac in noisy_codes.select_related("lock__agent"):
        assert ac.last_error.startswith(f"The on-site agent “{ac.lock.agent.name}” has not been "
                                        "heard from since "), ac.last_error  # fmt: skip
