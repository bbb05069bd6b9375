"""Requests per minute per PMS connection: over the rate a delivery answers 429 with
Retry-After, is counted on the connection, and the manager gets one alert (not one per
request); other connections and organizations are not affected."""

import pytest

from bookings.pms.models import PmsEvent
from bookings.pms.services import connection_create
from bookings.tests.pms_samples import payload
from bookings.tests.test_pms_webhooks import deliver, make_connection, stay
from bookings.tests.test_pms_webhooks import listing_locks as listing_locks  # the fixture
from bookings.tests.test_pms_webhooks import listing_prop as listing_prop  # the fixture
from portal.models import Alert


@pytest.mark.django_db
def test_a_connection_over_its_rate_is_refused_counted_and_reported_once(
    throttle_window, client, world, listing_locks, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "pms_hook": "3/min",
        },
    }
    conn = make_connection(world, "smoobu")
    other = connection_create(organization=world.other_org, kind="smoobu", name="Theirs")
    answers = [deliver(client, conn, payload("smoobu", stay(id=str(100 + i)))) for i in range(6)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429, 429]
    refused = answers[3]
    assert 1 <= int(refused["Retry-After"]) <= 60  # the rest of the minute's window
    assert "3/min" in refused.json()["detail"]
    assert PmsEvent.objects.filter(connection=conn).count() == 3
    conn.refresh_from_db()
    assert conn.throttled_count == 3
    alerts = Alert.objects.filter(kind="pms_throttled")
    assert alerts.count() == 1  # once, not per refused request
    alert = alerts.get()
    assert alert.organization == world.org and "“My smoobu”" in alert.message
    assert "3/min" in alert.message and "LATCHKEY_PMS_HOOK_RATE" in alert.fix

    # Another organization's connection has its own count: it delivers, and is not alerted.
    assert deliver(client, other, payload("smoobu", stay(id="900"))).status_code in (200, 202)
    other.refresh_from_db()
    assert other.throttled_count == 0
    assert not Alert.objects.filter(organization=world.other_org, kind="pms_throttled").exists()


@pytest.mark.django_db
def test_a_connection_under_its_rate_is_not_counted(throttle_window, client, world, listing_locks):
    conn = make_connection(world, "smoobu")
    for i in range(3):
        assert deliver(client, conn, payload("smoobu", stay(id=str(200 + i)))).status_code == 202
    conn.refresh_from_db()
    assert conn.throttled_count == 0
    assert not Alert.objects.filter(kind="pms_throttled").exists()
