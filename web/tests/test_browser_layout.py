"""Layouts a person sees in German and on a phone, measured in Debian's Chromium: the header
is one row at 1280 px in German (the longest labels), and at 390 px no page scrolls sideways
and the Today code column and a stay's email status are inside the viewport.

Screenshots go where test_browser.py keeps them (var/screenshots/, LATCHKEY_SCREENSHOTS),
named layout-*.png; the before/after pairs for the issue note are in docs/screenshots/
(layout-*-before.png from the tree before the fix).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import GuestEmail
from bookings.stay.services import stay_create
from locks.models import AccessCode, CodeState
from portal.models import Role
from portal.services import membership_add
from web.tests.test_browser import PASSWORD, TIMEOUT_MS, browser, shot, sign_in  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

# Everything on the page fits the viewport's width: the document does not scroll sideways.
OVERFLOW_JS = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# The banner's own height and the height of its tallest child: one row means the banner is
# no taller than one child plus its padding.
HEADER_JS = """() => {
  const h = document.querySelector('header[role=banner]');
  const kids = [...h.children].filter(
      el => el.offsetParent !== null && !el.classList.contains('skip'));
  const tops = new Set(kids.map(el => Math.round(el.getBoundingClientRect().top
      + el.getBoundingClientRect().height / 2)));
  return {height: h.getBoundingClientRect().height,
          rowHeight: Math.max(...kids.map(el => el.getBoundingClientRect().height)),
          centres: [...tops]};
}"""


@pytest.fixture
def stay(world, prop, locks):
    """A stay arriving today with a guest email sent and one that failed, its codes set on one
    lock and failed on the other: every chip and status the pages show."""
    # "Today" where the property is (the page's today), not the machine's: after 23:00 UTC
    # Vienna is already on the next day.
    today = timezone.localdate(timezone=prop.tz)
    booking = stay_create(
        organization=world.org,
        property=prop,
        check_in=today,
        check_out=today + dt.timedelta(days=2),
        guest_name="Greta Gast-Langname",
        guest_email="greta.gast-langname@example.com",
        guest_language="de",
    )
    codes = list(AccessCode.objects.filter(holder=booking.grant.holder).order_by("lock__name"))
    AccessCode.objects.filter(pk=codes[0].pk).update(state=CodeState.SET)
    AccessCode.objects.filter(pk=codes[1].pk).update(
        state=CodeState.FAILED, last_error="Das Schloss ist offline."
    )
    now = timezone.now()
    for sent in (True, False):
        GuestEmail.objects.create(
            organization=world.org,
            booking=booking,
            kind=GuestEmail.Kind.ACCESS,
            to=booking.guest_email,
            language="de",
            subject="Ihr Türcode für Alpine Loft",
            body_text="…",
            body_html="…",
            valid_from=now,
            valid_until=now + dt.timedelta(days=2),
            sent_at=now if sent else None,
            error="" if sent else "SMTP refused",
        )
    return booking


def _signed_in(browser, live_server, world, viewport, **kwargs):  # noqa: F811
    """The demo's manager as the page sees them: a long sign-in address, and a second
    organization to switch to (its name in the header's switcher)."""
    world.owner.username = world.owner.email = "manager@demo.latchkey.local"
    world.owner.set_password(PASSWORD)
    world.owner.save()
    membership_add(organization=world.other_org, user=world.owner, role=Role.MANAGER)
    context = browser.new_context(viewport=viewport, locale="de-DE", **kwargs)
    context.add_cookies([{"name": "django_language", "value": "de", "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in_de(page, live_server.url, world.owner.username)
    return context, page


def sign_in_de(page, base: str, email: str) -> None:
    """sign_in() with the German labels (the language cookie is set before signing in)."""
    page.goto(base + "/accounts/login/")
    page.locator("input[name=username]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/o/**")


def _header(page) -> dict:
    return page.evaluate(HEADER_JS)


def test_header_is_one_row_in_german_at_1280(live_server, browser, world, stay):  # noqa: F811
    context, page = _signed_in(browser, live_server, world, DESKTOP)
    base = live_server.url + f"/o/{world.org.slug}/"
    for name, path in [("today", ""), ("stay", f"stays/{stay.pk}/"), ("settings", "settings/")]:
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == "de"
        if name == "today":
            shot(page, "layout-header-de-1280")
        header = _header(page)
        # One row: every visible child of the banner is centred on the same line.
        assert len(header["centres"]) == 1, (name, header)
        assert header["height"] <= header["rowHeight"] + 24, (name, header)
    context.close()


def _inside_viewport(box: dict | None, width: int) -> None:
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_phone_shows_the_code_column_and_the_email_status(
    live_server,
    browser,  # noqa: F811
    world,
    stay,
):
    context, page = _signed_in(browser, live_server, world, PHONE, is_mobile=True)
    base = live_server.url + f"/o/{world.org.slug}/"

    page.goto(base)
    shot(page, "layout-today-phone")
    today_overflow = page.evaluate(OVERFLOW_JS)
    arrivals = page.locator("section[aria-labelledby=arrivals] table").first
    chips = arrivals.locator("tbody tr").first.locator(".state")
    chip_boxes = [chips.nth(i).bounding_box() for i in range(chips.count())]

    page.goto(base + f"stays/{stay.pk}/")
    shot(page, "layout-stay-phone")
    stay_overflow = page.evaluate(OVERFLOW_JS)
    statuses = page.locator("#stay-emails tbody tr .state")
    status_boxes = [statuses.nth(i).bounding_box() for i in range(statuses.count())]

    assert today_overflow <= 0 and stay_overflow <= 0
    assert len(chip_boxes) == 2 and len(status_boxes) == 2
    for box in chip_boxes + status_boxes:
        _inside_viewport(box, PHONE["width"])
    context.close()
