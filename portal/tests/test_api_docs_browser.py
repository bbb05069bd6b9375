"""The API docs in a real browser, offline: Swagger UI (/api/docs/) and ReDoc (/api/redoc/)
render the operations list from the portal's own files under the Content-Security-Policy,
with every request that would leave loopback refused (as on a laptop with no network or a
locked-down network), and "Authorize" takes an API key that "Try it out" then sends.

Needs /usr/bin/chromium (see web/tests/test_browser.py) and PostgreSQL (the live server).
Screenshots: var/screenshots/api-docs.png, api-docs-booking.png, api-redoc.png
(LATCHKEY_SCREENSHOTS to change).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import REQUIRE_SERVICES

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("LATCHKEY_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(os.environ.get("LATCHKEY_SCREENSHOTS", ROOT / "var" / "screenshots"))
TIMEOUT_MS = 30_000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline_page(concurrent_db, monkeypatch):
    """A Chromium page that may reach loopback only. Yields (page, outside, problems): the
    requests refused because they would have left the machine, and the console's CSP
    violations and page errors; the test asserts both stay empty."""
    if not Path(CHROMIUM).exists():
        if REQUIRE_SERVICES:
            pytest.fail(f"Chromium is required for the browser tests ({CHROMIUM})")
        pytest.skip(f"needs Chromium at {CHROMIUM}")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    problems: list[str] = []

    def only_loopback(route):
        if urlsplit(route.request.url).hostname in LOOPBACK:
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.route(re.compile(r"^(https?|wss?)://"), only_loopback)
        context.on(
            "console",
            lambda msg: "Content Security Policy" in msg.text and problems.append(msg.text),
        )
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.set_default_timeout(TIMEOUT_MS)
        yield page, outside, problems
        browser.close()
        # ORM calls made while Playwright's loop runs (the world fixture, set up after this
        # one) have a connection of their own (asgiref keeps them per context): close it here.
        connections.close_all()


def test_swagger_ui_lists_the_operations_offline_and_takes_an_api_key(
    offline_page, live_server, world
):
    from playwright.sync_api import expect

    page, outside, problems = offline_page
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(live_server.url + "/api/docs/")

    # The operations list, drawn by Swagger UI from /static/ and /api/schema/.
    bookings_post = page.locator("#operations-api-api_v1_bookings_create")
    expect(bookings_post).to_be_visible()
    assert page.locator(".opblock").count() >= 40
    expect(page.locator(".opblock-summary-path", has_text="/agent/v1/jobs").first).to_be_visible()

    # "Authorize" offers the API key (and the agent's token), and takes a key.
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    dialog = page.locator(".dialog-ux .modal-ux")
    expect(dialog).to_contain_text("apiKey (http, Bearer)")
    expect(dialog).to_contain_text("agentToken (http, Bearer)")
    api_key_form = dialog.locator(".auth-container", has_text="apiKey (http, Bearer)")
    api_key_form.get_by_label("auth-bearer-value").fill(world.write_key)
    api_key_form.get_by_role("button", name="Apply credentials").click()
    expect(api_key_form.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.locator("button.btn-done").first.click()

    # The booking endpoint shows its examples.
    bookings_post.locator(".opblock-summary").click()
    expect(bookings_post.locator(".examples-select").first).to_be_visible()
    expect(bookings_post).to_contain_text("A confirmed stay")
    page.screenshot(path=str(SHOTS / "api-docs.png"), full_page=False)
    bookings_post.screenshot(path=str(SHOTS / "api-docs-booking.png"))

    # "Try it out" on /ping/ sends the key: the answer names the organization.
    ping = page.locator("#operations-api-api_v1_ping_retrieve")
    ping.locator(".opblock-summary").click()
    ping.get_by_role("button", name="Try it out").click()
    ping.get_by_role("button", name="Execute").click()
    expect(ping.locator(".live-responses-table tbody .response-col_status").first).to_contain_text(
        "200"
    )
    expect(ping.locator(".live-responses-table")).to_contain_text(world.org.slug)

    assert outside == []
    assert problems == []


def test_redoc_renders_the_reference_offline(offline_page, live_server):
    from playwright.sync_api import expect

    page, outside, problems = offline_page
    expect.set_options(timeout=TIMEOUT_MS)
    page.goto(live_server.url + "/api/redoc/")
    expect(page.get_by_role("heading", name=re.compile("Latchkey API"))).to_be_visible()
    expect(
        page.locator("[data-section-id='operation/api_v1_bookings_create']").first
    ).to_be_attached()
    expect(page.get_by_text("A confirmed stay").first).to_be_attached()
    page.screenshot(path=str(SHOTS / "api-redoc.png"), full_page=False)
    assert outside == []
    # ReDoc's sidebar credit is an <img> of Redocly's logo on their CDN, hard-wired in the
    # bundle: the policy refuses it (so it never leaves the machine) and ReDoc then leaves the
    # logo out (its onError handler). That one refusal is expected; nothing else may be.
    assert [p for p in problems if "cdn.redoc.ly/redoc/logo-mini.svg" not in p] == []
