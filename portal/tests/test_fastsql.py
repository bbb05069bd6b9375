"""The hand-built statements of the ingest path must store and read exactly what the ORM does
(runs on SQLite and, in CI, on PostgreSQL: the converters differ between the two)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from locks.models import AccessCode, Lock, LockCommand
from portal import fastsql
from portal.services import organization_create
from properties.services import property_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def lock():
    org, _user, _password = organization_create(
        name="Fast", owner_email="fast@example.invalid", owner_password="pw-123456789"
    )
    prop = property_create(organization=org, name="Flat", timezone="Europe/Vienna")
    return Lock.objects.create(
        organization=org, property=prop, name="Door", driver="virtual", config={"delay_ms": 5}
    )


def _columns(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def test_insert_sets_keys_and_stores_what_the_orm_would(lock):
    start = timezone.now().replace(microsecond=123456)
    codes = [
        AccessCode(
            organization=lock.organization,
            lock=lock,
            holder=f"grant:{n}",
            code=f"34567{n}",
            name=f"LK{n} Ünïcode",
            valid_from=start,
            valid_until=start + dt.timedelta(days=2),
            push_after=start - dt.timedelta(hours=72),
            applied={"slot": n, "nested": [1, None, "x"]},
        )
        for n in (1, 2)
    ]
    fastsql.insert(codes)
    assert all(c.pk for c in codes) and codes[0].pk != codes[1].pk
    assert not codes[0]._state.adding
    for code in codes:
        assert _columns(AccessCode.objects.get(pk=code.pk)) == _columns(code)


def test_insert_of_nothing_runs_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        fastsql.insert([])


def test_select_converts_like_the_orm(lock):
    command = LockCommand.objects.create(
        organization=lock.organization, lock=lock, kind="sync_code", payload={"a": [1, 2]}
    )
    [found] = fastsql.select(LockCommand, "id = %s", [command.pk])
    assert _columns(found) == _columns(LockCommand.objects.get(pk=command.pk))
    assert isinstance(found.next_attempt_at, dt.datetime) and found.next_attempt_at.tzinfo
    [door] = fastsql.select(Lock, "property_id = %s", [lock.property_id], for_update=True)
    assert door.config == {"delay_ms": 5} and door.online is True
    assert fastsql.select(Lock, "property_id = %s", [lock.property_id + 1000]) == []


def test_select_orders_and_limits(lock):
    other = Lock.objects.create(
        organization=lock.organization, property=lock.property, name="Back", driver="virtual"
    )
    found = fastsql.select(Lock, "property_id = %s", [lock.property_id], order_by="id DESC")
    assert [x.pk for x in found] == [other.pk, lock.pk]
    assert len(fastsql.select(Lock, "property_id = %s", [lock.property_id], limit=1)) == 1


def test_insert_unless_exists_skips_a_taken_key_and_leaves_the_transaction_usable(lock):
    from django.db import transaction

    from bookings.models import Booking

    def stay(name: str) -> Booking:
        return Booking(
            organization=lock.organization,
            property=lock.property,
            source="api",
            external_id="R-1",
            status="confirmed",
            guest_name=name,
            check_in=dt.date(2026, 7, 1),
            check_out=dt.date(2026, 7, 3),
        )

    first = stay("First")
    with transaction.atomic():
        assert fastsql.insert_unless_exists(first) is True and first.pk
        second = stay("Second")
        assert fastsql.insert_unless_exists(second) is False and second.pk is None
        # Still usable (no aborted transaction on PostgreSQL): a plain read works.
        assert Booking.objects.get(pk=first.pk).guest_name == "First"
    assert Booking.objects.count() == 1
