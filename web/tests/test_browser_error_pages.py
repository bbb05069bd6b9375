"""The 403, 404 and 500 pages and the favicon in a real browser (DEBUG off, as in the demo):
styled like the rest of the portal, no Content-Security-Policy violation (the `browser`
fixture fails on any). Screenshots: var/screenshots/error-403.png etc."""

from __future__ import annotations

import pytest

from web.tests.test_browser import SHOTS, browser  # noqa: F401 (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("path", "status", "heading"),
    [
        ("/no-such-page/", 404, "This page does not exist"),
        ("/test-errors/403/", 403, "You may not do this"),
        ("/test-errors/500/", 500, "Something went wrong on our side"),
    ],
)
def test_error_page(browser, live_server, settings, path, status, heading):  # noqa: F811
    settings.DEBUG = False
    settings.ROOT_URLCONF = "portal.tests.error_urls"
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    answer = page.goto(live_server.url + path)
    assert answer.status == status
    assert page.locator("h1").inner_text() == heading
    # portal.css applied: the brand link is styled, not a default blue underlined link.
    assert page.locator("a.brand").evaluate("a => getComputedStyle(a).textDecorationLine") == "none"
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(live_server.url + icon).status == 200
    page.screenshot(path=str(SHOTS / f"error-{status}.png"), full_page=True)
    context.close()


def test_favicon_ico(browser, live_server):  # noqa: F811
    context = browser.new_context()
    answer = context.request.get(live_server.url + "/favicon.ico")
    assert answer.status == 200 and "svg" in answer.headers["content-type"]
    context.close()
