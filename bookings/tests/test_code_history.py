"""Ended codes are folded into a compact history (bookings.code_history): the AccessCode rows
of access that is over go in batches, an AccessCodeHistory row each stays without digits, and
the stay's page shows it. Virtual locks and eager tasks run the real set and removal; the
clock is frozen and stepped."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from bookings.models import AccessCodeHistory, AccessGrant, BookingStatus
from bookings.retention import retention_apply
from bookings.services import BookingData, booking_upsert
from locks.models import AccessCode, BackupCode, CodeState, LockCommand, ObservedCode
from locks.sync.desired import plan_due

pytestmark = pytest.mark.django_db
UTC = dt.UTC
CHECK_IN, CHECK_OUT = dt.date(2027, 1, 12), dt.date(2027, 1, 15)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def stay(world, prop, commit, *, external_id="S-1"):
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id=external_id,
                property=prop,
                status=BookingStatus.CONFIRMED,
                check_in=CHECK_IN,
                check_out=CHECK_OUT,
                guest_name="Anna Gruber",
                guest_email="anna@example.com",
                guest_language="en",
            ),
        )
    return booking


def test_a_stay_long_over_keeps_its_code_history_without_digits_and_its_page_shows_it(
    world, prop, locks, commit
):
    with time_machine.travel(at(CHECK_IN, 8), tick=False):
        booking = stay(world, prop, commit)
    grant = AccessGrant.objects.get(booking=booking)
    codes = list(AccessCode.objects.filter(holder=grant.holder).order_by("pk"))
    assert [c.state for c in codes] == [CodeState.SET] * 2
    digits = grant.code
    with time_machine.travel(at(CHECK_OUT, 18), tick=False), commit():
        assert plan_due()["removed"] == 2  # the stay is over: the codes leave the locks
    assert set(
        AccessCode.objects.filter(holder=grant.holder).values_list("state", "remote_id")
    ) == {(CodeState.REMOVED, "")}
    assert LockCommand.objects.filter(access_code__in=codes).exists()

    # 30 days after: LATCHKEY_CODE_HISTORY_DAYS passed, but the guest (90 days) not yet.
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=40)), tick=False):
        assert retention_apply().get("codes_folded", 0) == 0
    # A week past the guest's anonymisation: folded.
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=92)), tick=False):
        assert retention_apply()["guests"] == 1
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=99)), tick=False):
        done = retention_apply(batch_size=1)
    assert done["codes_folded"] == 2
    assert not AccessCode.objects.filter(holder=grant.holder).exists()
    assert not LockCommand.objects.filter(access_code_id__in=[c.pk for c in codes]).exists()
    history = list(AccessCodeHistory.objects.filter(holder=grant.holder).order_by("lock__name"))
    assert [(h.lock_id, h.valid_from, h.valid_until, h.outcome) for h in history] == sorted(
        [(c.lock_id, c.valid_from, c.valid_until, "removed") for c in codes],
        key=lambda row: next(lock.name for lock in locks if lock.pk == row[0]),
    )
    assert all(h.set_at and h.set_at <= h.ended_at for h in history)
    assert {h.name for h in history} == {f"LK{grant.pk}"}  # the anonymised name
    assert all(digits not in repr(vars(h)) for h in history)

    url = reverse("stay-page", kwargs={"slug": world.org.slug, "pk": booking.pk})
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=99)), tick=False):
        client, outsider = Client(), Client()
        client.force_login(world.owner)
        outsider.force_login(world.outsider)
        page = client.get(url)
        assert outsider.get(url).status_code == 404
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="code-history"' in html and "Was on the lock, then removed" in html
    assert all(lock.name in html for lock in locks) and digits not in html
    # A second run has nothing left to fold.
    with time_machine.travel(at(CHECK_OUT + dt.timedelta(days=99), 13), tick=False):
        assert retention_apply().get("codes_folded", 0) == 0
    assert AccessCodeHistory.objects.filter(holder=grant.holder).count() == 2


def test_only_codes_that_ended_and_no_lock_holds_are_folded(world, prop, locks, settings):
    settings.LATCHKEY_CODE_HISTORY_DAYS = 30
    world.org.retention_guest_days = 10
    world.org.save()
    now = dt.datetime(2027, 6, 1, 12, tzinfo=UTC)
    lock = locks[0]

    def code(n, *, days_ago=60, **changes):
        fields = {
            "organization": world.org,
            "lock": lock,
            "holder": f"grant:{n}",
            "name": f"LK{n}",
            "code": "246801",
            "valid_from": now - dt.timedelta(days=days_ago + 3),
            "valid_until": now - dt.timedelta(days=days_ago),
            "push_after": now - dt.timedelta(days=days_ago + 4),
            "wanted": False,
            "state": CodeState.REMOVED,
            **changes,
        }
        return AccessCode.objects.create(**fields)

    folded = [code(n) for n in range(1, 6)] + [code(6, state=CodeState.PLANNED)]
    kept = [
        code(10, days_ago=20),  # ended within LATCHKEY_CODE_HISTORY_DAYS
        code(11, wanted=True, state=CodeState.SET),  # still wanted (the planner is late)
        code(12, state=CodeState.FAILED),  # its removal failed: it may still be on the lock
        code(13, remote_id="r-13"),  # the lock still names it
    ]
    kept.append(code(14))
    ObservedCode.objects.create(
        organization=world.org, lock=lock, remote_id="r-14", access_code=kept[-1]
    )
    kept.append(code(15))
    BackupCode.objects.create(
        organization=world.org,
        lock=lock,
        code="975310",
        status=BackupCode.Status.TAKEN,
        access_code=kept[-1],
    )
    theirs = AccessCode.objects.create(
        organization=world.other_org,
        lock=__import__("locks.services", fromlist=["x"]).lock_create(
            organization=world.other_org, property=None, name="O", driver="virtual"
        ),
        holder="grant:99",
        name="LK99",
        code="111333",
        valid_from=now - dt.timedelta(days=400),
        valid_until=now - dt.timedelta(days=399),
        push_after=now - dt.timedelta(days=401),
        wanted=False,
        state=CodeState.REMOVED,
    )
    with time_machine.travel(now, tick=False):
        done = retention_apply(batch_size=2)
    assert done["codes_folded"] == len(folded) + 1  # and the other organization's own
    assert not AccessCode.objects.filter(pk__in=[c.pk for c in folded]).exists()
    assert AccessCode.objects.filter(pk__in=[c.pk for c in kept]).count() == len(kept)
    outcomes = dict(
        AccessCodeHistory.objects.filter(organization=world.org).values_list("holder", "outcome")
    )
    assert outcomes == {
        **{f"grant:{n}": "never_set" for n in range(1, 7)},
    }
    (their_row,) = AccessCodeHistory.objects.filter(organization=world.other_org)
    assert (their_row.holder, their_row.lock_id) == (theirs.holder, theirs.lock_id)
