"""Each alert kind ends where its cause ends, not at a later sweep. The kinds tested
elsewhere: code_not_set, code_failed, no_backup_code and backup_code_given
(bookings/tests/test_alert_truth.py, test_backup_codes.py); lock_nearly_full and
foreign_codes (locks/tests/engine/test_reconcile.py); ical_feed_failing (test_ical.py);
ical_feed_capped (test_ical_caps.py);
agent_locks_capped (locks/tests/integrations/test_tenant_caps.py);
nuki_web_reconnect (locks/tests/integrations/test_nukiweb_portal.py); pms_unmapped
(test_pms_webhooks.py). Here: the kinds whose end was not tested, or not handled."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone

from bookings.tests.pms_samples import payload
from bookings.tests.test_ical import Answer, add_feed, airbnb_reserved, fetch, ics, vevent
from bookings.tests.test_ical import server as server  # the fixture
from bookings.tests.test_pms_webhooks import deliver, make_connection, stay
from bookings.tests.test_pms_webhooks import listing_locks as listing_locks  # the fixture
from bookings.tests.test_pms_webhooks import listing_prop as listing_prop  # the fixture
from locks.integrations.bridge.services import bridge_connect
from locks.models import VirtualLockCode
from locks.sync.outbox import command_enqueue
from locks.tests.engine.helpers import put
from locks.tests.integrations.test_bridge_portal import add_bridge
from locks.tests.integrations.test_bridge_portal import sim as sim  # the fixture
from portal.models import Alert
from portal.testing import days_from_now

pytestmark = pytest.mark.django_db


def is_open(kind: str) -> bool:
    return Alert.objects.filter(kind=kind, resolved_at__isnull=True).exists()


def test_lock_full_ends_when_the_lock_has_room_again(world, locks, commit):
    tiny = locks[0]
    tiny.capacity = 1
    tiny.save()
    now = timezone.now()
    VirtualLockCode.objects.create(
        lock=tiny,
        slot=40,
        code="999999",
        name="Owner",
        valid_from=now - dt.timedelta(days=10),
        valid_until=now + dt.timedelta(days=300),
    )
    put(world.org, [tiny], commit=commit, holder="grant:1", code="111111")
    assert is_open("lock_full")
    VirtualLockCode.objects.filter(lock=tiny, slot=40).delete()  # removed at the keypad
    with commit():
        command_enqueue(lock=tiny, kind="reconcile")
    assert not is_open("lock_full")


def test_bridge_error_ends_when_the_bridge_connects(world, sim, commit):
    bridge = add_bridge(world, sim, commit, token="wrong-token", token_mode="plain")
    assert is_open("bridge_error")
    bridge.refresh_from_db()
    bridge.token = sim.token
    bridge.save()
    with commit():
        bridge_connect(bridge=bridge)
    assert not is_open("bridge_error")


def test_a_vanished_stay_alert_ends_when_the_stay_is_back_in_the_feed(
    world, prop, locks, server, commit
):
    on = airbnb_reserved("now@airbnb.com", days_from_now(2), days_from_now(6))
    other = vevent("blk@airbnb.com", days_from_now(30), days_from_now(31), "Airbnb (Not available)")
    server.answers["/airbnb.ics"] = Answer(body=ics(on))
    feed = add_feed(world, prop, server, commit)
    server.answers["/airbnb.ics"] = Answer(body=ics(other))
    with time_machine.travel(timezone.now() + dt.timedelta(days=3), tick=True):
        for _ in range(3):
            fetch(feed, commit)
        assert is_open("ical_stay_vanished")
        server.answers["/airbnb.ics"] = Answer(body=ics(on, other))
        fetch(feed, commit)
    assert not is_open("ical_stay_vanished")


def test_refused_pms_deliveries_alert_ends_once_a_window_passes_without_refusal(
    throttle_window, client, world, listing_locks, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "pms_hook": "2/min",
        },
    }
    conn = make_connection(world, "smoobu")
    answers = [deliver(client, conn, payload("smoobu", stay(id=str(300 + i)))) for i in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    assert is_open("pms_throttled")
    # The window passes (its refusal marker expires) and a delivery gets through.
    cache.delete(f"latchkey:pms-throttled:{conn.pk}")
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=2), tick=True):
        assert deliver(client, conn, payload("smoobu", stay(id="400"))).status_code == 202
    assert not is_open("pms_throttled")
