"""The property's id and reference where a manager sees them, in Chromium: the property page
shows both, the form sets the reference, and a reference another property uses is refused on
the field with nothing saved. Screenshots: var/screenshots/property-reference*.png."""

from __future__ import annotations

import pytest

from properties.models import Property
from properties.services import property_create
from web.tests.test_browser import PASSWORD, SHOTS, TIMEOUT_MS, browser, sign_in  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_manager_sees_the_id_and_sets_the_reference(live_server, browser, world):  # noqa: F811
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    world.member.set_password(PASSWORD)
    world.member.save()
    property_create(
        organization=world.org, name="Alpine Loft", timezone="Europe/Vienna",
        external_ref="loft-1",
    )  # fmt: skip
    plain = property_create(organization=world.org, name="Harbour Studio", timezone="UTC")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    sign_in(page, live_server.url, world.member.username)

    page.goto(f"{live_server.url}/o/{world.org.slug}/properties/{plain.pk}/")
    details = page.locator("section", has=page.get_by_role("heading", name="Details"))
    expect(details.locator("#property-id")).to_have_text(str(plain.pk))
    expect(details.locator("#property-ref")).to_have_count(0)

    # A reference another property has: refused on the field, nothing saved.
    details.get_by_role("link", name="Edit").click()
    expect(page.get_by_text(f"Id {plain.pk}")).to_be_visible()
    page.get_by_label("Reference (for the API and PMS listings)").fill("loft-1")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("div#id_external_ref_error")).to_contain_text("already uses this reference")
    page.screenshot(path=str(SHOTS / "property-reference-taken.png"), full_page=True)
    plain.refresh_from_db()
    assert plain.external_ref == ""

    page.get_by_label("Reference (for the API and PMS listings)").fill(" HX-LISTING-77 ")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Harbour Studio")
    expect(page.locator("#property-ref")).to_have_text("HX-LISTING-77")
    page.screenshot(path=str(SHOTS / "property-reference.png"), full_page=True)
    assert Property.objects.get(pk=plain.pk).external_ref == "HX-LISTING-77"
    context.close()
