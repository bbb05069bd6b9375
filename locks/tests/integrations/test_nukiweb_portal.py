"""Nuki Web through the portal, against the Nuki Web stand-in over loopback (a real HTTP
server: the real Nuki cloud cannot be reached from tests). Connect with the full browser-less
OAuth dance, import, set / update / remove a code confirmed by signed webhooks, token expiry
mid-run, refresh failure → "needs reconnecting", tampered webhooks, duplicate codes."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from bookings.models import AccessGrant, GuestEmail
from locks.models import AccessCode, Lock, NukiWebConnection
from locks.simulators.nukiweb import NukiWebSimulator
from portal.models import Alert
from portal.testing import days_from_now

CLIENT_ID, CLIENT_SECRET = "latchkey-test", "s3cret-client"


@pytest.fixture
def sim(settings):
    simulator = NukiWebSimulator(
        port=0,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        api_tokens=["api-token-123456"],
        apply_delay=0.1,
        smartlocks=2,
    ).start()
    settings.NUKI_WEB_API_URL = simulator.url
    settings.NUKI_WEB_OAUTH_URL = simulator.url + "/oauth"
    settings.NUKI_WEB_CLIENT_ID = CLIENT_ID
    settings.NUKI_WEB_CLIENT_SECRET = CLIENT_SECRET
    yield simulator
    simulator.stop()


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def oauth_connect(client, world, sim) -> NukiWebConnection:
    """The manager clicks "Connect Nuki Web", allows on Nuki's page, and comes back."""
    client.force_login(world.member)
    start = client.post(f"/o/{world.org.slug}/integrations/nuki-web/connect/")
    assert start.status_code == 302 and start["Location"].startswith(sim.url + "/oauth/authorize")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"][0]
    with httpx2.Client(follow_redirects=False) as browser:
        page = browser.get(start["Location"])
        assert page.status_code == 200 and "Allow" in page.text
        challenge = page.text.split("name='consent_challenge' value='")[1].split("'")[0]
        back = browser.post(
            sim.url + "/oauth/authorize", data={"consent_challenge": challenge, "decision": "allow"}
        )
    assert back.status_code in (302, 303)
    parts = urlsplit(back.headers["location"])
    done = client.get(parts.path + "?" + parts.query)
    assert done.status_code == 302, done.content
    return NukiWebConnection.objects.get(organization=world.org)


@pytest.mark.django_db(transaction=True)
def test_connect_set_update_remove_with_webhook_confirmation(
    world, prop, client, sim, live_server, settings, concurrent_db
):
    settings.SITE_URL = live_server.url  # where the stand-in delivers its webhooks
    conn = oauth_connect(client, world, sim)
    assert conn.kind == "oauth" and conn.status == "ok" and conn.refresh_token
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM locks_nukiwebconnection")
        stored = cursor.fetchone()
    assert all(value.startswith("enc2:") for value in stored)  # encrypted at rest
    locks = list(Lock.objects.filter(organization=world.org, driver="nuki_web").order_by("nuki_id"))
    assert sorted(lock.nuki_id for lock in locks) == sorted(sim.smartlock_ids)
    api = world.api(world.write_key)
    caps = api.get(f"/api/v1/locks/{locks[0].pk}/").json()["capabilities"]
    assert "codes" in caps and "actions" in caps
    for lock in locks:
        assert (
            api.patch(f"/api/v1/locks/{lock.pk}/", {"property": prop.pk}, format="json").status_code
            == 200
        )

    body = {
        "external_id": "NW-1",
        "property": prop.pk,
        "status": "confirmed",
        "check_in": str(days_from_now(1)),
        "check_out": str(days_from_now(3)),
        "guest": {"name": "Nora", "email": "nora@example.com"},
    }
    created = api.post("/api/v1/bookings/", body, format="json")
    assert created.status_code == 201
    booking_id = created.json()["id"]
    assert {a["state"] for a in created.json()["access"]} == {"setting"}  # 204 is only queued
    grant = AccessGrant.objects.get(booking_id=booking_id)

    def states():
        return set(AccessCode.objects.filter(holder=grant.holder).values_list("state", flat=True))

    wait_for(lambda: states() == {"set"}, what="code confirmed by DEVICE_AUTHS")
    for smartlock_id in sim.smartlock_ids:
        codes = [a for a in sim.auths(smartlock_id) if a.get("type") == 13]
        assert [str(a["code"]) for a in codes] == [grant.code]
    wait_for(lambda: GuestEmail.objects.filter(booking_id=booking_id).exists(), what="email")

    # The access token expires mid-run: refreshed and retried without anyone noticing.
    old_refresh = NukiWebConnection.objects.get().refresh_token
    sim.expire_all_access_tokens()
    body["check_out"] = str(days_from_now(4))
    assert api.post("/api/v1/bookings/", body, format="json").status_code == 200
    grant.refresh_from_db()
    wait_for(lambda: states() == {"set"}, what="update confirmed")
    for smartlock_id in sim.smartlock_ids:
        (auth,) = [a for a in sim.auths(smartlock_id) if a.get("type") == 13]
        assert auth["allowedUntilDate"].startswith(grant.valid_until.strftime("%Y-%m-%dT%H:%M"))
    conn.refresh_from_db()
    assert conn.status == "ok" and conn.refresh_token != old_refresh  # rotated, newest kept

    # Cancelled: removed from the locks, confirmed by the read-back.
    body["status"] = "cancelled"
    assert api.post("/api/v1/bookings/", body, format="json").status_code == 200
    wait_for(lambda: states() == {"removed"}, what="removal confirmed")
    for smartlock_id in sim.smartlock_ids:
        assert not [a for a in sim.auths(smartlock_id) if a.get("type") == 13]


@pytest.mark.django_db
def test_refresh_failure_marks_needs_reconnecting(world, prop, client, sim, commit):
    with commit():
        oauth_connect(client, world, sim)
    sim.revoke_refresh_tokens()
    sim.expire_all_access_tokens()
    lock = Lock.objects.filter(driver="nuki_web").first()
    from locks.integrations.base import DriverError
    from locks.integrations.registry import driver_for

    with pytest.raises(DriverError) as failure:
        driver_for(lock).list_codes()
    assert failure.value.permanent
    conn = NukiWebConnection.objects.get()
    assert conn.status == "needs_reconnect"
    alert = Alert.objects.get(kind="nuki_web_reconnect", resolved_at__isnull=True)
    assert "connect again" in alert.fix
    # Reconnecting clears it.
    with commit():
        oauth_connect(client, world, sim)
    assert NukiWebConnection.objects.get().status == "ok"
    assert not Alert.objects.filter(kind="nuki_web_reconnect", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_api_token_connection_and_tampered_webhooks(world, sim, commit, client):
    with commit():
        res = world.api(world.write_key).post(
            "/api/v1/nuki-web/", {"api_token": "api-token-123456"}, format="json"
        )
    assert res.status_code == 201 and res.json()["kind"] == "api_token"
    assert world.api(world.read_key).get("/api/v1/nuki-web/").json()["status"] == "ok"
    assert world.api(world.outsider_key).get("/api/v1/nuki-web/").status_code == 404
    assert Lock.objects.filter(driver="nuki_web", organization=world.org).count() == 2
    conn = NukiWebConnection.objects.get()
    assert conn.webhook_secret  # registered with the stand-in
    lock = Lock.objects.filter(driver="nuki_web").first()
    url = f"/hooks/nuki-web/{conn.webhook_key}/"
    payload = json.dumps(
        {
            "feature": "DEVICE_STATUS",
            "smartlockId": lock.nuki_id,
            "state": {"state": 3, "batteryCharge": 41},
        }
    ).encode()
    good = hmac.new(conn.webhook_secret.encode(), payload, hashlib.sha256).hexdigest()

    def post(body, signature):
        headers = {"HTTP_X_NUKI_SIGNATURE_SHA256": signature} if signature is not None else {}
        return client.post(url, body, content_type="application/json", **headers)

    assert post(payload, None).status_code == 401
    assert post(payload, "0" * 64).status_code == 401
    assert post(payload.replace(b"41", b"99"), good).status_code == 401  # tampered body
    lock.refresh_from_db()
    assert lock.battery_percent is None  # nothing processed
    assert (
        client.post(
            "/hooks/nuki-web/unknown/", payload, content_type="application/json"
        ).status_code
        == 404
    )
    first = post(payload, good)
    assert first.status_code == 200 and first.json()["outcome"] == "status"
    lock.refresh_from_db()
    assert (lock.state, lock.battery_percent) == ("unlocked", 41)
    assert post(payload, good).json()["outcome"] == "duplicate"


@pytest.mark.django_db
def test_duplicate_code_on_the_lock_gets_a_new_code(world, prop, sim, commit, monkeypatch):
    with commit():
        world.api(world.write_key).post(
            "/api/v1/nuki-web/", {"api_token": "api-token-123456"}, format="json"
        )
    lock = Lock.objects.filter(driver="nuki_web").order_by("nuki_id").first()
    Lock.objects.filter(driver="nuki_web").exclude(pk=lock.pk).delete()
    Lock.objects.filter(pk=lock.pk).update(property=prop)
    sim.add_foreign_auth(lock.nuki_id, "Owner's code", code=345678, notify=False)
    import bookings.services as services

    sequence = ["345678", "456789", "567891", "678912", "789123", "891234", "912345", "234567"]
    monkeypatch.setattr(
        services, "draw_code", lambda avoid=(): next(c for c in sequence if c not in avoid)
    )
    from bookings.services import BookingData, booking_upsert

    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id="D-1",
                property=prop,
                status="confirmed",
                check_in=days_from_now(1),
                check_out=days_from_now(2),
            ),
        )
    grant = AccessGrant.objects.get(booking=booking)
    assert grant.code == "456789"  # the clash was seen on the lock and a new code chosen
    (ac,) = AccessCode.objects.filter(holder=grant.holder)
    assert ac.code == "456789" and ac.state == "setting"
    owner = [a for a in sim.auths(lock.nuki_id) if a["name"] == "Owner's code"]
    assert owner and str(owner[0]["code"]) == "345678"  # never touched


@pytest.mark.django_db
def test_a_smartlock_without_keypad_gets_no_codes(world, prop, commit):
    from bookings.services import BookingData, booking_upsert

    no_keypad = Lock.objects.create(
        organization=world.org,
        property=prop,
        name="No keypad",
        driver="nuki_web",
        nuki_id=1,
        config={"keypad": False},
    )
    with_keypad = Lock.objects.create(
        organization=world.org,
        property=prop,
        name="Keypad",
        driver="nuki_web",
        nuki_id=2,
        config={"keypad": True},
    )
    assert "codes" not in no_keypad.capabilities and "actions" in no_keypad.capabilities
    assert "codes" in with_keypad.capabilities
    booking, _, _ = booking_upsert(
        organization=world.org,
        source="api",
        data=BookingData(
            external_id="K",
            property=prop,
            status="confirmed",
            check_in=days_from_now(10),
            check_out=days_from_now(11),
        ),
    )
    grant = AccessGrant.objects.get(booking=booking)
    assert list(
        AccessCode.objects.filter(holder=grant.holder).values_list("lock_id", flat=True)
    ) == [with_keypad.pk]


@pytest.mark.django_db
def test_actions_and_log_reads_through_nuki_web(world, sim, commit):
    from locks.integrations.nuki_web.connection import nuki_web_log_sync

    with commit():
        world.api(world.write_key).post(
            "/api/v1/nuki-web/", {"api_token": "api-token-123456"}, format="json"
        )
    lock = Lock.objects.filter(driver="nuki_web").order_by("nuki_id").first()
    with commit():
        res = world.api(world.write_key).post(
            f"/api/v1/locks/{lock.pk}/actions/", {"action": "unlock"}, format="json"
        )
    assert res.status_code == 202
    attempt = world.api(world.read_key).get(f"/api/v1/actions/{res.json()['id']}/").json()
    assert attempt["state"] == "succeeded"
    wait_for(lambda: sim.endpoint_calls("POST", "/smartlock/{smartlockId}/action") == 1)
    wait_for(lambda: nuki_web_log_sync(lock=lock) > 0, what="log entry of the unlock")
    assert nuki_web_log_sync(lock=lock) == 0  # read again: nothing twice
    events = world.api(world.read_key).get(f"/api/v1/locks/{lock.pk}/events/").json()["results"]
    assert any(e["source"] == "nuki web log" for e in events)
