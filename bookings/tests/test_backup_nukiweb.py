"""The backup-code path on a Nuki Web lock, against the Nuki Web stand-in over loopback (the
real cloud cannot be reached from tests). Nuki Web accepts writes for an unreachable lock and
queues them, so nothing fails: the code just never gets confirmed. Five minutes of that close
to check-in count as an unreachable lock."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from bookings.backup import QUEUED_GRACE, backup_codes_assign
from bookings.models import AccessGrant, GuestEmail
from bookings.tests.test_backup_codes import book, stay
from locks.backup import pool_usable
from locks.models import AccessCode, Lock
from locks.services import lock_update
from locks.sync.reconcile import reconcile_enqueue_all


@pytest.fixture
def sim(settings):
    from locks.simulators.nukiweb import NukiWebSimulator

    simulator = NukiWebSimulator(
        port=0, api_tokens=["api-token-123456"], apply_delay=0.1, smartlocks=2
    ).start()
    settings.NUKI_WEB_API_URL = simulator.url
    yield simulator
    simulator.stop()


def settle(sim, lock, commit, *, until):
    """Let the stand-in apply what it queued, then read the lock's codes back."""
    deadline = time.monotonic() + 10
    while sim.pending(lock.nuki_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    with commit():
        reconcile_enqueue_all()
    assert until(), "not settled"


@pytest.mark.django_db
def test_nuki_web_lock_unreachable_near_check_in_gets_a_backup_code(world, prop, sim, commit):
    with commit():
        world.api(world.write_key).post(
            "/api/v1/nuki-web/", {"api_token": "api-token-123456"}, format="json"
        )
    lock = Lock.objects.filter(driver="nuki_web").order_by("nuki_id").first()
    Lock.objects.filter(driver="nuki_web").exclude(pk=lock.pk).delete()
    with commit():
        lock = lock_update(lock=lock, property=prop, backup_pool_size=2)
    settle(sim, lock, commit, until=lambda: len(pool_usable(lock=lock)) == 2)
    pool = {b.code for b in pool_usable(lock=lock)}

    sim.set_offline(lock.nuki_id, True)  # the bridge lost its Wi-Fi
    booking = book(world, commit, stay(prop, "NW-TONIGHT", starts_in=-dt.timedelta(hours=1)))
    grant = AccessGrant.objects.get(booking=booking)
    (own,) = AccessCode.objects.filter(holder=grant.holder)
    assert own.state == "setting" and grant.code not in pool  # accepted by the cloud, queued
    assert backup_codes_assign() == 0  # a fresh queued write gets its chance first
    assert not GuestEmail.objects.exists()

    with commit():
        assert backup_codes_assign(now=timezone.now() + QUEUED_GRACE + dt.timedelta(seconds=5)) == 1
    grant.refresh_from_db()
    assert grant.code in pool
    email = GuestEmail.objects.get(booking=booking)
    assert email.code == grant.code and "backup" not in email.body_text.lower()
    on_cloud = {str(a.get("code")): a for a in sim.auths(lock.nuki_id)}
    assert grant.code in on_cloud  # the backup, still with its long window on the lock

    sim.set_offline(lock.nuki_id, False)  # back: the queued narrowing reaches the lock

    def narrowed():
        ac = AccessCode.objects.get(holder=grant.holder, lock=lock)
        return ac.state == "set" and ac.code == grant.code

    settle(sim, lock, commit, until=narrowed)
    auth = {str(a.get("code")): a for a in sim.auths(lock.nuki_id)}[grant.code]
    until = dt.datetime.fromisoformat(auth["allowedUntilDate"].replace("Z", "+00:00"))
    assert abs(until - grant.valid_until) < dt.timedelta(seconds=1)

    # The stay's first code, queued by the cloud all along, lands late; the reconcile loop
    # recognises it as ours and takes it off.
    def gone():
        return own.code not in {str(a.get("code")) for a in sim.auths(lock.nuki_id)}

    for _ in range(3):
        if gone():
            break
        settle(sim, lock, commit, until=lambda: True)
    assert gone()
    assert {str(a.get("code")) for a in sim.auths(lock.nuki_id)} >= {grant.code} | (
        pool - {grant.code}
    )
