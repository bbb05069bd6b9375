"""What a manager sees is true, in a real browser (Chromium, as web/tests/test_browser.py):
an alert in German with advice that matches its state, a lock nobody heard from in grey, the
door code masked in the email log until "Show code", and no "Resend email" before the first
email (the page says which door it waits for). Screenshots: var/screenshots/truth-*.png."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bookings.models import GuestEmail
from bookings.stay.services import stay_create
from bookings.tests.test_integration import services  # noqa: F401 (fixture)
from portal.services import alert_raise
from portal.testing import days_from_now
from web.tests.test_browser import PASSWORD, TIMEOUT_MS, browser, shot, sign_in  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_what_the_manager_sees_is_true(live_server, services, browser, world, prop, locks):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    world.owner.set_password(PASSWORD)
    world.owner.save()
    base = live_server.url
    slug = world.org.slug
    # No worker runs: the stay's code stays on its way, so no email goes out.
    stay = stay_create(
        organization=world.org,
        property=prop,
        check_in=days_from_now(0),
        check_out=days_from_now(2),
        guest_name="Greta Gast",
        guest_email="greta@example.com",
    )
    alert_raise(
        organization=world.org,
        kind="code_not_set",
        subject=f"booking:{stay.pk}",
        severity="critical",
        code="code_not_set.gave_up",
        params={
            "guest": "Greta Gast",
            "check_in": f"{stay.check_in:%Y-%m-%d}",
            "property": prop.name,
            "locks": "Flat door",
        },
    )
    email = GuestEmail.objects.create(
        organization=world.org,
        booking=stay,
        kind="access",
        to="old@example.com",
        language="en",
        subject="Your door code",
        body_text="Your door code is 482913.\nhttp://x.test/stay/SECRET-TOKEN-1/\n",
        body_html="",
        valid_from=timezone.now(),
        valid_until=timezone.now(),
        code="482913",
        sent_at=None,
    )

    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, base, world.owner.username)

    # The stay page: no "Resend email" before a first email went out; it says what it waits for.
    page.goto(base + f"/o/{slug}/stays/{stay.pk}/")
    expect(page.locator("#email-waits")).to_contain_text("Waiting for: Building door, Flat door")
    expect(page.get_by_role("button", name="Resend email")).to_have_count(0)
    shot(page, "truth-stay-waiting")

    # The email log: the code and the stay link masked until "Show code".
    page.goto(base + f"/o/{slug}/emails/")
    assert "482913" not in page.content() and "SECRET-TOKEN-1" not in page.content()
    page.get_by_text("Your door code", exact=True).click()
    body = page.locator(f"#email-body-{email.pk}")
    expect(body).to_contain_text("Your door code is ••••••.")
    shot(page, "truth-emails-masked")
    page.get_by_role("button", name="Show code").click()
    expect(page.locator(f"#email-body-{email.pk}")).to_contain_text("Your door code is 482913.")
    shot(page, "truth-emails-revealed")

    # A lock nobody heard from yet: grey, "not reported yet", never a green badge.
    page.goto(base + f"/o/{slug}/locks/{locks[0].pk}/")
    badge = page.locator("main h1 .state")
    expect(badge).to_have_text("not reported yet")
    expect(badge).to_have_class("state state-unknown")
    assert badge.evaluate("el => getComputedStyle(el).color") != page.locator("main h1").evaluate(
        "el => getComputedStyle(el).color"
    )
    shot(page, "truth-lock-unknown")

    # Today in German: the alert's title, text and advice in the reader's language.
    page.goto(base + f"/o/{slug}/")
    page.get_by_label("Language").select_option("de")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Heute")
    alert = page.locator(".alert").first
    expect(alert).to_contain_text("Code nicht auf dem Schloss")
    expect(alert).to_contain_text("Das Portal hat aufgehört, es zu versuchen.")
    expect(alert).to_contain_text("„Erneut versuchen“")
    expect(alert).not_to_contain_text("The portal")
    shot(page, "truth-today-alert-de")
    context.close()
