"""Who may see what (issue 12, item 5): guest codes and credentials only for someone who could
change them (owners, managers, write keys); viewers and read keys get masked values. And the
password re-entry ("sudo") in front of session API calls that reveal or change a credential.

Every endpoint that serializes a code or a credential is asked by owner, manager, viewer,
read key, write key and outsider."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from bookings.models import AccessGrant
from bookings.pms.services import connection_create
from bookings.standing.services import standing_access_create
from portal.sudo import SUDO_KEY
from portal.testing import days_from_now

pytestmark = pytest.mark.django_db

REVEAL = {"owner": True, "member": True, "write_key": True, "viewer": False, "read_key": False}


def callers(world) -> dict[str, APIClient]:
    out = {"write_key": world.api(world.write_key), "read_key": world.api(world.read_key)}
    for name in ("owner", "member", "viewer"):
        client = APIClient()
        client.force_login(getattr(world, name))
        out[name] = client
    return out


def outsiders(world) -> list[APIClient]:
    user = APIClient()
    user.force_login(world.outsider)
    return [world.api(world.outsider_key), user]


@pytest.fixture
def stay(world, locks, prop):
    answer = world.api(world.write_key).post(
        "/api/v1/bookings/",
        {
            "external_id": "SEE-1",
            "property": prop.pk,
            "status": "confirmed",
            "check_in": str(days_from_now(1)),
            "check_out": str(days_from_now(3)),
            "guest": {"name": "Gwen", "email": "gwen@example.com"},
        },
        format="json",
    )
    assert answer.status_code == 201
    grant = AccessGrant.objects.get(booking_id=answer.json()["id"])
    assert grant.code and answer.json()["access"][0]["code"] == grant.code  # the writer sees it
    return grant


def _codes_in(body) -> list:
    rows = body["results"] if isinstance(body, dict) and "results" in body else body
    if isinstance(rows, dict):
        rows = [rows]
    found = []
    for row in rows:
        for access in row.get("access", []) if "access" in row else [row]:
            if "code" in access:
                found.append((access["code"], access["code_masked"]))
    return found


def test_booking_codes_only_for_those_who_could_change_them(world, stay):
    urls = ["/api/v1/bookings/", f"/api/v1/bookings/{stay.booking_id}/"]
    for name, client in callers(world).items():
        for url in urls:
            answer = client.get(url)
            assert answer.status_code == 200, (name, url)
            found = _codes_in(answer.json())
            assert found, (name, url)
            if REVEAL[name]:
                assert set(found) == {(stay.code, False)}, (name, url)
            else:
                assert set(found) == {(None, True)}, (name, url)
                assert stay.code not in answer.content.decode(), (name, url)
    for client in outsiders(world):
        assert client.get(urls[1]).status_code == 404
        listed = client.get(urls[0])
        assert listed.status_code == 404 or listed.json()["results"] == []


def test_lock_codes_only_for_those_who_could_change_them(world, stay, locks):
    url = f"/api/v1/locks/{locks[0].pk}/codes/"
    for name, client in callers(world).items():
        answer = client.get(url)
        assert answer.status_code == 200, name
        expected = {(stay.code, False)} if REVEAL[name] else {(None, True)}
        assert set(_codes_in(answer.json())) == expected, name
    for client in outsiders(world):
        assert client.get(url).status_code == 404


def test_standing_access_code_only_for_those_who_could_change_them(world, locks, prop):
    access = standing_access_create(
        organization=world.org,
        property=prop,
        name="Cleaner",
        weekdays=64,
        from_time=dt.time(11, 0),
        until_time=dt.time(15, 0),
    )
    urls = ["/api/v1/standing-access/", f"/api/v1/standing-access/{access.pk}/"]
    for name, client in callers(world).items():
        for url in urls:
            body = client.get(url).json()
            row = body["results"][0] if "results" in body else body
            expected = (access.code, False) if REVEAL[name] else (None, True)
            assert (row["code"], row["code_masked"]) == expected, (name, url)
    for client in outsiders(world):
        assert client.get(urls[1]).status_code == 404


def test_pms_webhook_url_only_for_those_who_could_change_it(world, settings):
    """The probe: a viewer read a Smoobu connection's webhook URL (its only credential)."""
    settings.SITE_URL = "https://portal.example.org"
    conn = connection_create(organization=world.org, kind="smoobu", name="Smoobu")
    urls = ["/api/v1/pms-connections/", f"/api/v1/pms-connections/{conn.pk}/"]
    for name, client in callers(world).items():
        for url in urls:
            answer = client.get(url)
            body = answer.json()
            row = body["results"][0] if "results" in body else body
            if REVEAL[name]:
                assert row["webhook_url"].endswith(f"/hooks/pms/{conn.webhook_key}/"), name
                assert row["webhook_url_masked"] is False
            else:
                assert row["webhook_url"] is None and row["webhook_url_masked"] is True, name
                assert conn.webhook_key not in answer.content.decode(), (name, url)
    for client in outsiders(world):
        assert client.get(urls[1]).status_code == 404


def test_pages_show_codes_and_webhook_urls_only_to_owners_and_managers(world, stay, client):
    conn = connection_create(organization=world.org, kind="smoobu", name="Smoobu")
    code_url = reverse("stay-code", kwargs={"slug": world.org.slug, "pk": stay.booking_id})
    stay_url = reverse("stay-page", kwargs={"slug": world.org.slug, "pk": stay.booking_id})
    integrations = reverse("integrations", kwargs={"slug": world.org.slug})
    for user, allowed in ((world.owner, True), (world.member, True), (world.viewer, False)):
        client.force_login(user)
        code = client.get(code_url, HTTP_HX_REQUEST="true")
        page = client.get(stay_url).content.decode()
        hooks = client.get(integrations).content.decode()
        if allowed:
            assert code.status_code == 200 and stay.code in code.content.decode()
            assert code["Cache-Control"] == "no-store"
            assert code_url in page and conn.webhook_key in hooks
        else:
            assert code.status_code == 403 and stay.code not in code.content.decode()
            assert code_url not in page and conn.webhook_key not in hooks
    client.force_login(world.outsider)
    assert client.get(code_url).status_code == 404


def test_guest_emails_show_their_body_only_to_owners_and_managers(world, stay, client):
    """The access email carries the code: its body is a code like any other."""
    from bookings.models import GuestEmail

    email = GuestEmail.objects.create(
        organization=world.org,
        booking_id=stay.booking_id,
        kind="access",
        to="gwen@example.com",
        language="en",
        subject="Your door code",
        body_text=f"Door code: {stay.code}",
        body_html="",
        valid_from=stay.valid_from,
        valid_until=stay.valid_until,
        code=stay.code,
    )
    pages = [
        reverse("emails", kwargs={"slug": world.org.slug}),
        reverse("stay-page", kwargs={"slug": world.org.slug, "pk": stay.booking_id}),
    ]
    full = reverse("email-body", kwargs={"slug": world.org.slug, "pk": email.pk})
    for user, allowed in ((world.owner, True), (world.member, True), (world.viewer, False)):
        client.force_login(user)
        for page in pages:
            body = client.get(page).content.decode()
            assert "Your door code" in body, (user, page)
            # The body is shown masked, the code only on request ("Show code").
            assert stay.code not in body, (user, page)
            assert ("Door code: ••••••" in body) is allowed, (user, page)
        answer = client.get(full)
        assert answer.status_code == (200 if allowed else 403), user
        assert (f"Door code: {stay.code}" in answer.content.decode()) is allowed, user


# --- sudo for session-authenticated API calls ------------------------------------------------


def _sudo(client: APIClient) -> APIClient:
    session = client.session
    session[SUDO_KEY] = 4e9  # far in the future: inside the window
    session.save()
    return client


def test_session_api_calls_that_reveal_or_change_credentials_need_the_password_again(world):
    conn = connection_create(organization=world.org, kind="generic", name="G")
    secret_url = f"/api/v1/pms-connections/{conn.pk}/secret/"
    calls = [
        ("post", secret_url, {}),
        ("post", secret_url, {"rotate": True}),
        ("post", "/api/v1/pms-connections/", {"kind": "smoobu"}),
        ("post", "/api/v1/nuki-web/", {"api_token": "a-nuki-web-api-token-123"}),
        ("post", "/api/v1/bridges/", {"name": "B", "host": "192.168.1.9", "token": "t" * 12}),
    ]
    before = conn.secret
    for user in (world.owner, world.member):
        client = APIClient()
        client.force_login(user)
        for method, url, body in calls:
            answer = getattr(client, method)(url, body, format="json")
            assert answer.status_code == 403, (user, url)
            assert answer.json()["detail"].startswith("Confirm your password first"), url
            assert "secret" not in answer.json()
    conn.refresh_from_db()
    assert conn.secret == before  # nothing rotated
    from bookings.pms.models import PmsConnection
    from locks.models import Bridge, NukiWebConnection

    assert PmsConnection.objects.filter(organization=world.org).count() == 1
    assert not NukiWebConnection.objects.exists() and not Bridge.objects.exists()
    # Inside the window, the same calls work.
    client = _sudo(APIClient())
    client.force_login(world.member)
    _sudo(client)
    assert client.post(secret_url, {}, format="json").json()["secret"] == before
    created = client.post("/api/v1/pms-connections/", {"kind": "smoobu"}, format="json")
    assert created.status_code == 201 and created.json()["secret"]


def test_api_keys_are_not_asked_for_a_password(world):
    conn = connection_create(organization=world.org, kind="generic", name="G")
    answer = world.api(world.write_key).post(
        f"/api/v1/pms-connections/{conn.pk}/secret/", {}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["secret"] == conn.secret


def test_sudo_comes_after_the_tenant_and_role_checks(world):
    """Outsiders still learn nothing (404), viewers are refused for their role (403 without
    the password hint)."""
    conn = connection_create(organization=world.org, kind="generic", name="G")
    url = f"/api/v1/pms-connections/{conn.pk}/secret/"
    outsider = APIClient()
    outsider.force_login(world.outsider)
    assert outsider.post(url, {}, format="json").status_code == 404
    viewer = APIClient()
    viewer.force_login(world.viewer)
    refused = viewer.post(url, {}, format="json")
    assert refused.status_code == 403 and "password" not in refused.json()["detail"]
