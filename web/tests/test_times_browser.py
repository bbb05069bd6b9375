"""Times as a manager sees them in a real browser: Anna's code on the lock page reads in the
property's zone, the zone named once beside the heading, on a desktop and a 390 px phone.

Screenshots: var/screenshots/times-*.png (see web/tests/test_browser.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from bookings.models import AccessGrant
from bookings.stay.services import stay_create
from bookings.tests.test_integration import services, worker  # noqa: F401 (fixtures)
from locks.services import lock_create
from portal.times import local_stamp
from properties.services import property_create
from web.tests.test_browser import PASSWORD, TIMEOUT_MS, browser, shot, sign_in  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ZONE = "Pacific/Auckland"
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"


def test_lock_and_stay_pages_show_the_property_time(live_server, worker, browser, world):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    world.org.timezone = "America/Los_Angeles"
    world.org.save(update_fields=["timezone"])
    prop = property_create(organization=world.org, name="Harbour", timezone=ZONE)
    lock = lock_create(organization=world.org, property=prop, name="Harbour door", driver="virtual")
    today = dt.datetime.now(prop.tz).date()
    stay = stay_create(
        organization=world.org,
        property=prop,
        check_in=today + dt.timedelta(days=1),
        check_out=today + dt.timedelta(days=3),
        guest_name="Anna",
        guest_email="anna@example.com",
    )
    grant = AccessGrant.objects.get(booking=stay)
    local = f"{local_stamp(grant.valid_from, ZONE, named=False)} \u2013 "
    local += local_stamp(grant.valid_until, ZONE, named=False)
    utc = local_stamp(grant.valid_from, "UTC", named=False)
    world.owner.set_password(PASSWORD)
    world.owner.save()
    base = live_server.url + f"/o/{world.org.slug}/"
    for name, viewport in (("desktop", (1280, 900)), ("phone", (390, 844))):
        context = browser.new_context(viewport=dict(zip(("width", "height"), viewport)))
        page = context.new_page()
        sign_in(page, live_server.url, world.owner.username)

        page.goto(base + f"locks/{lock.pk}/")
        shot(page, f"times-lock-page-{name}")
        expect(page.locator("#page-zone")).to_have_text(f"Times in {ZONE}")
        expect(page.locator("#page-zone")).to_be_visible()
        expect(page.locator("tr", has_text=local)).to_contain_text("Anna")
        assert utc not in page.content()

        page.goto(base + f"stays/{stay.pk}/")
        shot(page, f"times-stay-page-{name}")
        expect(page.locator("#page-zone")).to_have_text(f"Times in {ZONE}")
        expect(page.locator("dd", has_text=local)).to_be_visible()
        assert utc not in page.content()

        page.goto(base)  # Today reads in the organization's zone
        shot(page, f"times-today-{name}")
        expect(page.locator("#page-zone")).to_have_text("Times in America/Los_Angeles")
        # Anna arrives on Auckland's tomorrow: her row names the zone its dates are in, and
        # the longer cell does not push the page sideways on a phone.
        expect(page.locator("#today-live tr", has_text="Anna").first).to_contain_text(f"({ZONE})")
        assert page.evaluate(OVERFLOW_JS) <= 0, name
        context.close()
