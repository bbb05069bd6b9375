"""The manager's tasks in a real browser: Debian's Chromium driven by Playwright against the
live server, with a real Celery worker process, PostgreSQL and Redis, so "the code becomes
`set` without reloading" is the worker's doing, seen by the page's own polling.

Needs /usr/bin/chromium (.ci/run installs it; see DEVELOPERS.md), PostgreSQL and Redis.
Screenshots go to var/screenshots/ (LATCHKEY_SCREENSHOTS to change); the best are in docs/.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from django.utils import timezone

from bookings.models import Booking, GuestEmail
from bookings.tests.test_integration import services, wait_for, worker  # noqa: F401 (fixtures)
from locks.models import AccessCode, CommandStatus, LockCommand
from properties.models import Property

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LATCHKEY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("LATCHKEY_SCREENSHOTS", ROOT / "var" / "screenshots"))
PASSWORD = "pw-owner-browser-1"
TIMEOUT_MS = 30_000

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def browser(concurrent_db, monkeypatch):
    if not Path(CHROMIUM).exists():
        from conftest import REQUIRE_SERVICES

        if REQUIRE_SERVICES:
            pytest.fail(f"Chromium is required for the browser tests ({CHROMIUM})")
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM reads are
    # still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        # Every page must work under the Content-Security-Policy: Chromium reports each blocked
        # script, handler or style in the console ("... violates the following Content
        # Security Policy directive ..."); any such message fails the test.
        violations: list[str] = []
        new_context = browser.new_context

        def watched_context(*args, **kwargs):
            context = new_context(*args, **kwargs)
            context.on(
                "console",
                lambda msg: "Content Security Policy" in msg.text and violations.append(msg.text),
            )
            return context

        browser.new_context = watched_context
        yield browser
        browser.close()
        assert violations == []
        # ORM calls made while Playwright's loop runs get their own connection (asgiref keeps
        # connections per context): close it here, before the worker fixture ends the rest.
        from django.db import connections

        connections.close_all()


@pytest.fixture
def fast_failures(monkeypatch):
    """Commands give up after two attempts, so a failure shows within seconds (the worker
    process reads it from its environment)."""
    monkeypatch.setenv("LATCHKEY_COMMAND_MAX_ATTEMPTS", "2")


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


UNLABELLED_JS = """() => [...document.querySelectorAll(
  'input:not([type=hidden]), select, textarea, button')].filter(el =>
  !(el.labels && el.labels.length) && !el.getAttribute('aria-label') &&
  !(el.tagName === 'BUTTON' && el.textContent.trim())).map(el => el.outerHTML.slice(0, 80))"""


def assert_accessible_basics(page) -> None:
    """Landmarks, one h1, every control named, and the first Tab lands on "skip to content"."""
    assert page.locator("header[role=banner]").count() == 1
    assert page.locator("main#main").count() == 1
    assert page.locator("nav[aria-label]").count() >= 1
    assert page.locator("h1").count() == 1
    assert page.evaluate(UNLABELLED_JS) == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"


def sign_in(page, base: str, email: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/o/[\w-]+/$"))


def test_manager_journey(fast_failures, live_server, worker, browser, world):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    world.owner.set_password(PASSWORD)
    world.owner.save()
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)

    # Sign in: Today.
    sign_in(page, base, world.owner.username)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Today")

    # Add a property.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Properties").click()
    page.get_by_role("link", name="New property").click()
    page.get_by_label("Name").fill("Alpine Loft")
    page.get_by_label("Time zone").select_option("Europe/Vienna")
    page.get_by_label("House instructions").fill("Second floor, door on the left.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Alpine Loft")

    # Add a virtual lock to it; it answers after 1.5 s so "setting" is visible first.
    page.get_by_role("link", name="Add a virtual lock").click()
    page.get_by_label("Name").fill("Front door")
    page.get_by_label("Simulate: answer delay (ms)").fill("1500")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Front door")
    lock_path = page.url

    # A remote action behind its confirmation; its state follows live (the lock answers after
    # 1.5 s, done by the worker).
    page.get_by_text("Unlock…").click()
    page.get_by_role("button", name="Yes: Unlock").click()
    result = page.locator("#action-result")
    expect(result).to_contain_text("Sending to the lock")
    expect(result).to_contain_text("Done")
    assert LockCommand.objects.get(kind="lock_action").status == CommandStatus.SUCCEEDED

    # Create a stay from the property page.
    page.get_by_role("link", name="Alpine Loft").first.click()
    page.get_by_role("link", name="New stay").click()
    # Today where the property is (its time zone was chosen above), not the machine's: after
    # 23:00 UTC Vienna is already on the next day.
    loft = Property.objects.get(organization=world.org, name="Alpine Loft")
    today = timezone.localdate(timezone=loft.tz)
    page.get_by_label("Guest name").fill("Greta Gast")
    page.get_by_label("Guest email").fill("greta@example.com")
    page.get_by_label("Check-in").fill(today.isoformat())
    page.get_by_label("Check-out").fill((today + dt.timedelta(days=2)).isoformat())
    page.get_by_role("button", name="Create stay").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Greta Gast")

    # Watch its code become `set` without reloading: a marker set on the window survives only
    # if the page is never reloaded; the sync table refreshes itself by polling.
    page.evaluate("window.__notReloaded = true")
    state = page.locator("#stay-sync [data-testid=code-state]")
    expect(state).to_have_text("setting")
    shot(page, "stay-setting")
    expect(state).to_have_text("set")
    assert page.evaluate("window.__notReloaded") is True
    booking = Booking.objects.get(guest_name="Greta Gast")
    assert AccessCode.objects.get(holder=booking.grant.holder).state == "set"

    # The code is not in the page until asked for.
    code = booking.grant.code
    assert code not in page.content()
    page.get_by_role("button", name="Show code").click()
    expect(page.locator("#stay-code code")).to_have_text(code)

    # The access email went out once the code was set; resend it.
    wait_for(
        lambda: GuestEmail.objects.filter(booking=booking, sent_at__isnull=False).exists(),
        what="access email",
    )
    page.reload()
    emails = page.locator("#stay-emails tbody tr")
    expect(emails).to_have_count(1)
    page.get_by_role("button", name="Resend email").click()
    expect(page.get_by_role("status")).to_contain_text("Email sent to the guest.")
    expect(emails).to_have_count(2)
    assert GuestEmail.objects.filter(booking=booking, sent_at__isnull=False).count() == 2
    shot(page, "stay")

    # A failed command: the lock goes offline, a second stay cannot get its code.
    page.goto(base + f"/o/{world.org.slug}/locks/")
    page.get_by_role("link", name="Front door").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Simulate: lock offline").check()
    page.get_by_label("Simulate: answer delay (ms)").fill("0")
    page.get_by_role("button", name="Save").click()
    page.goto(base + f"/o/{world.org.slug}/stays/new/")
    page.get_by_label("Property").select_option(label="Alpine Loft")
    page.get_by_label("Guest name").fill("Otto Offline")
    page.get_by_label("Check-in").fill((today + dt.timedelta(days=1)).isoformat())
    page.get_by_label("Check-out").fill((today + dt.timedelta(days=3)).isoformat())
    page.get_by_role("button", name="Create stay").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Today").click()
    # Today refreshes itself: the alert and the failed command appear without a reload.
    failed = page.locator("#failed-commands")
    expect(failed).to_contain_text("The lock is offline.")
    expect(page.locator(".alert").first).to_contain_text("Could not set the code")
    shot(page, "today-failed")

    # Bring the lock back and retry from Today.
    LockCommand.objects.filter(status=CommandStatus.FAILED).get()  # exactly one failed
    lock = booking.property.locks.get()
    lock.config = {**lock.config, "offline": False}
    lock.save(update_fields=["config"])
    page.get_by_role("button", name="Retry on Front door").click()
    expect(page.get_by_role("status").first).to_contain_text("Retrying")
    otto = Booking.objects.get(guest_name="Otto Offline")
    wait_for(
        lambda: AccessCode.objects.get(holder=otto.grant.holder).state == "set",
        what="code set after retry",
    )
    expect(page.locator("#failed-commands")).to_have_count(0)
    shot(page, "today")

    # The other main pages, for the record.
    page.goto(lock_path)
    expect(page.locator("main h1")).to_contain_text("Front door")
    shot(page, "lock")
    for name, path in [
        ("properties", "properties/"),
        ("locks", "locks/"),
        ("stays", "stays/"),
        ("integrations", "integrations/"),
        ("settings", "settings/"),
        ("timeline", f"properties/{booking.property_id}/timeline/"),
    ]:
        page.goto(base + f"/o/{world.org.slug}/{path}")
        expect(page.locator("main h1")).to_be_visible()
        assert_accessible_basics(page)
        shot(page, name)

    # Switch the language: the same page in German, and it stays German.
    page.goto(base + f"/o/{world.org.slug}/")
    page.get_by_label("Language").select_option("de")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Heute")
    expect(page.get_by_role("navigation", name="Hauptmenü")).to_contain_text("Aufenthalte")
    page.goto(base + f"/o/{world.org.slug}/stays/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Aufenthalte")
    shot(page, "stays-de")

    # On a phone.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies(context.cookies())
    mobile = phone.new_page()
    mobile.goto(base + f"/o/{world.org.slug}/stays/{booking.pk}/")
    expect(mobile.get_by_role("heading", level=1)).to_contain_text("Greta Gast")
    shot(mobile, "stay-phone")
    phone.close()
    context.close()


def test_outsider_gets_404(live_server, browser, world, prop):
    from playwright.sync_api import expect

    booking = Booking.objects.create(
        organization=world.org,
        property=prop,
        external_id="x-1",
        status="confirmed",
        check_in=dt.date.today(),
        check_out=dt.date.today() + dt.timedelta(days=1),
        guest_name="Private Guest",
    )
    world.outsider.set_password(PASSWORD)
    world.outsider.save()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, live_server.url, world.outsider.username)
    for path in [f"stays/{booking.pk}/", f"properties/{prop.pk}/", ""]:
        response = page.goto(live_server.url + f"/o/{world.org.slug}/{path}")
        assert response.status == 404, path
        assert "Private Guest" not in page.content()
    # Their own organization's slug with our object's id: 404 too.
    response = page.goto(live_server.url + f"/o/{world.other_org.slug}/stays/{booking.pk}/")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("Private Guest")
    context.close()


@pytest.fixture
def private_urls(monkeypatch, settings):
    """The feed server is on loopback: allowed here, in the portal and in the worker process
    (which reads it from its environment), as a self-hoster with a LAN calendar would."""
    monkeypatch.setenv("LATCHKEY_ALLOW_PRIVATE_URLS", "true")
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True


def test_ical_feed_first_fetch_brings_its_stay(
    private_urls,
    live_server,
    worker,  # noqa: F811
    browser,
    world,
    prop,
    locks,
):
    """Add a feed served by a local HTTP server; the row shows the fetch in progress, then
    the page refreshes itself and the feed's stay is listed with the feed's counts."""
    from playwright.sync_api import expect

    from portal.tests.local_http import Answer, LocalServer
    from web.tests.test_features import ics

    expect.set_options(timeout=TIMEOUT_MS)
    world.owner.set_password(PASSWORD)
    world.owner.save()
    check_in, check_out = (
        dt.date.today() + dt.timedelta(days=2),
        dt.date.today() + dt.timedelta(days=5),
    )
    with LocalServer() as server:
        server.answers["/loft.ics"] = Answer(body=ics(("web-1@airbnb.com", check_in, check_out)))
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        sign_in(page, live_server.url, world.owner.username)
        page.goto(live_server.url + f"/o/{world.org.slug}/properties/{prop.pk}/")
        assert_accessible_basics(page)
        page.get_by_label("Calendar export link (iCal, .ics)").fill(
            server.url("/loft.ics") + "?s=BROWSERSECRET42"
        )
        page.get_by_label("Name (e.g. Airbnb)").fill("Airbnb")
        page.get_by_role("button", name="Add feed").click()
        expect(page.get_by_role("status").first).to_contain_text("Feed added")
        # Fetched by the worker; the status cell polls and the page then reloads by itself.
        feeds = page.get_by_role("region", name="Calendar feeds (iCal)")
        expect(feeds).to_contain_text("fetched")
        expect(feeds.locator("tbody tr").first).to_contain_text("1")
        stays = page.get_by_role("region", name="Upcoming stays")
        expect(stays.locator("tbody tr")).to_have_count(1)
        assert "BROWSERSECRET42" not in page.content()
        shot(page, "property-feeds")
        context.close()
    booking = Booking.objects.get(property=prop)
    assert booking.source.startswith("ical:") and booking.check_in == check_in
