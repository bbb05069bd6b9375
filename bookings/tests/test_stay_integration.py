"""The stay page end to end with real parts: the live server answering a browser-like client
(cookies, CSRF), a real Celery worker process running the opening through the virtual lock's
driver, PostgreSQL and Redis. Skips without them locally; fails on CI."""

from __future__ import annotations

import re

import httpx2
import pytest

from bookings.models import AccessGrant, BookingStatus
from bookings.services import BookingData, booking_upsert
from bookings.stay.links import stay_link_token
from bookings.tests.test_integration import services, wait_for, worker  # noqa: F401 (fixtures)
from locks.models import CommandKind, LockCommand, LockEvent
from portal.testing import days_from_now

pytestmark = [
    pytest.mark.integration,
    pytest.mark.clock,  # bookings planned against the wall clock: .ci/clock-sweep
    pytest.mark.django_db(transaction=True),
]


def test_guest_opens_the_door_from_the_stay_page(
    live_server,
    worker,  # noqa: F811 (the fixture imported above)
    concurrent_db,
    world,
    prop,
    locks,
):
    booking, _, _ = booking_upsert(
        organization=world.org,
        source="api",
        data=BookingData(
            external_id="LIVE-1",
            property=prop,
            status=BookingStatus.CONFIRMED,
            check_in=days_from_now(-1),
            check_out=days_from_now(1),
            guest_name="Lena Live",
            guest_email="lena@example.com",
            guest_language="de",
        ),
    )
    grant = AccessGrant.objects.get(booking=booking)
    token = stay_link_token(grant=grant)
    browser = httpx2.Client(base_url=live_server.url, timeout=15)
    page = browser.get(f"/stay/{token}/")
    assert page.status_code == 200
    html = page.text
    assert grant.code in html and "Flat door öffnen" in html
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    doors = re.findall(r'name="door" value="([0-9a-f]+)"', html)
    # No CSRF token: refused by the server.
    assert browser.post(f"/stay/{token}/open/", data={"door": doors[1]}).status_code == 403
    opened = browser.post(
        f"/stay/{token}/open/", data={"door": doors[1], "csrfmiddlewaretoken": csrf}
    )
    assert opened.status_code == 303
    status_url = opened.headers["location"]
    result = wait_for(
        lambda: (r := browser.get(status_url)).status_code == 200 and "ist offen" in r.text,
        timeout=60,
        what="the worker to open the door",
    )
    assert result
    command = LockCommand.objects.get(kind=CommandKind.LOCK_ACTION)
    assert command.lock_id == locks[1].pk and command.status == "succeeded"
    locks[1].refresh_from_db()
    assert locks[1].state == "unlocked"
    event = LockEvent.objects.get(kind="guest_open")
    assert event.detail["holder"] == grant.holder and event.source == "stay_page"
    assert LockEvent.objects.filter(lock=locks[1], kind="lock_action", source="virtual").exists()
