"""Retention with the real parts: the beat entry fires in a real `celery worker -B` process
(every 2 s here instead of hourly) and the worker applies the retention on PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import Booking, BookingStatus
from bookings.retention import ANONYMISED_NAME
from bookings.tests.test_integration import services, wait_for, worker  # noqa: F401 (fixtures)
from locks.models import LockEvent

pytestmark = [
    pytest.mark.integration,
    pytest.mark.clock,  # bookings planned against the wall clock: .ci/clock-sweep
    pytest.mark.django_db(transaction=True),
]


def test_beat_applies_retention_in_a_real_worker(worker, monkeypatch):  # noqa: F811
    from locks.services import lock_create
    from portal.testing import make_world
    from properties.services import property_create

    worker.stop()  # restart it with a short retention interval
    monkeypatch.setenv("LATCHKEY_RETENTION_SECONDS", "2")
    world = make_world()
    prop = property_create(organization=world.org, name="Flat", timezone="Europe/Vienna")
    lock = lock_create(organization=world.org, property=prop, name="Door", driver="virtual")
    # Relative to the real clock, far from any boundary: the result is the same at any hour.
    now = timezone.now()
    old_stay = Booking.objects.create(
        organization=world.org,
        property=prop,
        external_id="OLD",
        status=BookingStatus.CONFIRMED,
        guest_name="Olga Old",
        guest_email="olga@example.com",
        check_in=(now - dt.timedelta(days=200)).date(),
        check_out=(now - dt.timedelta(days=197)).date(),
    )
    new_stay = Booking.objects.create(
        organization=world.org,
        property=prop,
        external_id="NEW",
        status=BookingStatus.CONFIRMED,
        guest_name="Nina New",
        check_in=(now - dt.timedelta(days=20)).date(),
        check_out=(now - dt.timedelta(days=17)).date(),
    )
    old_event = LockEvent.objects.create(
        organization=world.org, lock=lock, kind="state", occurred_at=now - dt.timedelta(days=500)
    )
    new_event = LockEvent.objects.create(
        organization=world.org, lock=lock, kind="state", occurred_at=now - dt.timedelta(days=100)
    )
    worker.start()
    wait_for(
        lambda: Booking.objects.get(pk=old_stay.pk).anonymised_at is not None,
        timeout=90,
        what="the beat's retention task to anonymise the old stay",
    )
    wait_for(
        lambda: not LockEvent.objects.filter(pk=old_event.pk).exists(),
        timeout=30,
        what="the old lock event to be pruned",
    )
    old_stay.refresh_from_db()
    assert (old_stay.guest_name, old_stay.guest_email) == (ANONYMISED_NAME, "")
    assert Booking.objects.get(pk=new_stay.pk).guest_name == "Nina New"
    assert LockEvent.objects.filter(pk=new_event.pk).exists()
