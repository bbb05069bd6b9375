"""App access (Nuki app authorizations for the guest's Nuki account) and weekday / time limits
through the portal, against the Nuki Web stand-in over loopback (the real Nuki cloud cannot be
reached from tests): desired state → outbox → nuki_web driver → stand-in → signed DEVICE_AUTHS
webhook or read-back → confirmed; removed at the end."""

from __future__ import annotations

import datetime as dt
import io
import time

import pytest

from bookings.models import AccessGrant, GuestEmail
from locks.models import AccessCode, CommandKind, Lock, ObservedCode
from locks.simulators.nukiweb import NukiWebSimulator
from locks.sync.desired import access_put, access_withdraw
from locks.sync.outbox import command_enqueue
from portal.testing import days_from_now

TOKEN = "api-token-app-access"


@pytest.fixture
def sim(settings):
    simulator = NukiWebSimulator(
        port=0, api_tokens=[TOKEN], apply_delay=0.1, smartlocks=2, timezone="Europe/Vienna"
    ).start()
    settings.NUKI_WEB_API_URL = simulator.url
    settings.NUKI_WEB_OAUTH_URL = simulator.url + "/oauth"
    yield simulator
    simulator.stop()


def wait_for(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def connect(world, prop=None, commit=None) -> list[Lock]:
    """Connect with an API token; `commit` (outside transactional tests) runs the setup task."""
    api = world.api(world.write_key)
    if commit is not None:
        with commit():
            res = api.post("/api/v1/nuki-web/", {"api_token": TOKEN}, format="json")
    else:
        res = api.post("/api/v1/nuki-web/", {"api_token": TOKEN}, format="json")
    assert res.status_code == 201
    locks = list(Lock.objects.filter(organization=world.org, driver="nuki_web").order_by("pk"))
    assert len(locks) == 2
    if prop is not None:
        for lock in locks:
            res = api.patch(f"/api/v1/locks/{lock.pk}/", {"property": prop.pk}, format="json")
            assert res.status_code == 200
    return locks


@pytest.mark.django_db(transaction=True)
def test_stay_with_app_access_set_changed_and_removed(
    world, prop, sim, live_server, settings, concurrent_db
):
    settings.SITE_URL = live_server.url  # where the stand-in delivers its webhooks
    locks = connect(world, prop)
    api = world.api(world.write_key)
    assert "app_access" in api.get(f"/api/v1/locks/{locks[0].pk}/").json()["capabilities"]
    res = api.patch(f"/api/v1/properties/{prop.pk}/", {"app_access": True}, format="json")
    assert res.status_code == 200 and res.json()["app_access"] is True

    body = {
        "external_id": "APP-1",
        "property": prop.pk,
        "status": "confirmed",
        "check_in": str(days_from_now(1)),
        "check_out": str(days_from_now(3)),
        "guest": {"name": "Gina", "email": "gina@example.com", "nuki_email": "Gina@Nuki.Example"},
    }
    created = api.post("/api/v1/bookings/", body, format="json")
    assert created.status_code == 201, created.content
    rows = created.json()["access"]
    assert sorted(r["kind"] for r in rows) == ["app", "app", "keypad", "keypad"]
    assert {r["state"] for r in rows} == {"setting"}  # 204 only means queued
    assert created.json()["guest"]["nuki_email"] == "Gina@Nuki.Example"
    booking_id = created.json()["id"]
    grant = AccessGrant.objects.get(booking_id=booking_id)
    app_holder = f"{grant.holder}/app"

    def states(holder):
        return set(AccessCode.objects.filter(holder=holder).values_list("state", flat=True))

    wait_for(lambda: states(app_holder) == {"set"}, what="app access confirmed")
    wait_for(lambda: states(grant.holder) == {"set"}, what="codes confirmed")
    (user,) = sim.account_users()  # invited once, for both locks
    assert user["email"] == "gina@nuki.example"
    for smartlock_id in sim.smartlock_ids:
        (app,) = [
            a for a in sim.auths(smartlock_id) if a["type"] == 0 and a["name"] != sim.account_name
        ]
        assert app["accountUserId"] == user["accountUserId"]
        assert app["allowedFromDate"].startswith(grant.valid_from.strftime("%Y-%m-%dT%H:%M"))
        assert app["allowedUntilDate"].startswith(grant.valid_until.strftime("%Y-%m-%dT%H:%M"))
        assert app["remoteAllowed"] is False
        inside = grant.valid_from.timestamp() + 3600
        assert sim.app_open(smartlock_id, "gina@nuki.example", inside)
        assert not sim.app_open(
            smartlock_id, "gina@nuki.example", grant.valid_until.timestamp() + 60
        )
    # The guest's code email is not held up by the app access (and went out once).
    wait_for(lambda: GuestEmail.objects.filter(booking_id=booking_id).exists(), what="email")
    observed = ObservedCode.objects.filter(access_code__holder=app_holder)
    wait_for(lambda: observed.count() == 2, what="app access observed")
    assert set(observed.values_list("kind", flat=True)) == {"app"}

    # A longer stay: the app access follows the new window.
    body["check_out"] = str(days_from_now(4))
    assert api.post("/api/v1/bookings/", body, format="json").status_code == 200
    grant.refresh_from_db()
    wait_for(lambda: states(app_holder) == {"set"}, what="app access update confirmed")
    for smartlock_id in sim.smartlock_ids:
        (app,) = [
            a for a in sim.auths(smartlock_id) if a.get("accountUserId") == user["accountUserId"]
        ]
        assert app["allowedUntilDate"].startswith(grant.valid_until.strftime("%Y-%m-%dT%H:%M"))
    assert len(sim.account_users()) == 1  # the same Nuki account, not invited again

    # Cancelled: code and app access leave both locks.
    body["status"] = "cancelled"
    assert api.post("/api/v1/bookings/", body, format="json").status_code == 200
    wait_for(lambda: states(app_holder) == {"removed"}, what="app access removed")
    wait_for(lambda: states(grant.holder) == {"removed"}, what="codes removed")
    for smartlock_id in sim.smartlock_ids:
        assert not [
            a for a in sim.auths(smartlock_id) if a.get("accountUserId") == user["accountUserId"]
        ]


@pytest.mark.django_db
def test_property_without_app_access_gives_none(world, prop, sim, commit):
    locks = connect(world, prop, commit)
    with commit():
        res = world.api(world.write_key).post(
            "/api/v1/bookings/",
            {
                "external_id": "NOAPP",
                "property": prop.pk,
                "status": "confirmed",
                "check_in": str(days_from_now(1)),
                "check_out": str(days_from_now(2)),
                "guest": {"name": "Ned", "email": "ned@example.com"},
            },
            format="json",
        )
    assert res.status_code == 201
    assert {r["kind"] for r in res.json()["access"]} == {"keypad"}
    assert not AccessCode.objects.filter(lock__in=locks, kind="app").exists()
    assert sim.account_users() == []


@pytest.mark.django_db
def test_weekday_and_time_limits_are_carried_and_read_back(world, prop, sim, commit):
    """Recurring staff access (Monday-Friday 08:00-17:00 Vienna) on Nuki Web locks: the
    driver sends the limits, a read-back confirms them, and a change made outside (someone
    widened the hours in the Nuki app) is noticed as drift and put back."""
    locks = connect(world, prop, commit)
    lock_json = world.api(world.read_key).get(f"/api/v1/locks/{locks[0].pk}/").json()
    assert "schedules" in lock_json["capabilities"]  # what a planner asks before limiting
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)
    with commit():
        codes = access_put(
            organization=world.org,
            holder="staff:7",
            locks=locks,
            code="473859",
            name="Cleaner Cleo",
            valid_from=start,
            valid_until=start + dt.timedelta(days=30),
            weekdays=64 | 32 | 16 | 8 | 4,
            from_minute=8 * 60,
            until_minute=17 * 60,
        )
    assert {ac.state for ac in codes} == {"setting"}
    assert sim.wait_applied(5)
    for smartlock_id in sim.smartlock_ids:
        (auth,) = [a for a in sim.auths(smartlock_id) if a.get("code") == 473859]
        assert (auth["allowedWeekDays"], auth["allowedFromTime"], auth["allowedUntilTime"]) == (
            124, 480, 1020,
        )  # fmt: skip
    with commit():
        for lock in locks:
            command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
    assert set(AccessCode.objects.filter(holder="staff:7").values_list("state", flat=True)) == {
        "set"
    }
    seen = ObservedCode.objects.filter(access_code__holder="staff:7")
    assert set(seen.values_list("weekdays", "from_minute", "until_minute")) == {(124, 480, 1020)}
    # Someone widens the hours on one lock outside the portal: drift, repaired.
    target = locks[0]
    (auth,) = [a for a in sim.auths(target.nuki_id) if a.get("code") == 473859]
    sim.edit_auth_outside(target.nuki_id, auth["id"], allowedUntilTime=23 * 60)
    with commit():
        command_enqueue(lock=target, kind=CommandKind.RECONCILE)
    assert sim.wait_applied(5)
    (auth,) = [a for a in sim.auths(target.nuki_id) if a.get("code") == 473859]
    assert auth["allowedUntilTime"] == 1020
    assert target.events.filter(kind="drift").exists()
    # Withdrawn: gone from the locks.
    with commit():
        access_withdraw(holder="staff:7")
    assert sim.wait_applied(5)
    assert not [a for sl in sim.smartlock_ids for a in sim.auths(sl) if a.get("code") == 473859]


@pytest.mark.django_db
def test_locks_that_cannot_carry_limits_or_app_access_say_so(world, locks, commit):
    """A virtual lock keeps no weekdays or times and has no Nuki app: the command fails at
    once in plain words rather than retrying forever or setting a wider code."""
    start = dt.datetime.now(dt.UTC)
    with commit():
        access_put(
            organization=world.org,
            holder="staff:1",
            locks=locks[:1],
            code="563847",
            name="Cleaner",
            valid_from=start,
            valid_until=start + dt.timedelta(days=1),
            weekdays=64,
        )
        access_put(
            organization=world.org,
            holder="staff:1/app",
            locks=locks[:1],
            code="",
            name="Cleaner",
            valid_from=start,
            valid_until=start + dt.timedelta(days=1),
            kind="app",
            account_email="cleo@example.com",
        )
    limited = AccessCode.objects.get(holder="staff:1")
    app = AccessCode.objects.get(holder="staff:1/app")
    assert limited.state == app.state == "failed"
    assert "weekdays" in limited.last_error
    assert "Nuki app" in app.last_error
    assert not locks[0].virtual_codes.exists()
    with pytest.raises(ValueError):
        access_put(
            organization=world.org, holder="x", locks=locks, code="563847", name="X",
            valid_from=start, valid_until=start + dt.timedelta(days=1), from_minute=1440,
        )  # fmt: skip


def test_plain_codes_keep_their_confirmed_snapshot():
    """Codes confirmed before weekdays, times and app access existed compare equal, so the
    upgrade re-sends nothing."""
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    ac = AccessCode(code="345678", name="G", valid_from=now, valid_until=now)
    assert set(ac.desired_snapshot()) == {"code", "name", "valid_from", "valid_until"}
    ac.weekdays = 0  # "every day" too
    assert set(ac.desired_snapshot()) == {"code", "name", "valid_from", "valid_until"}
    ac.from_minute = 60
    assert ac.desired_snapshot()["from_minute"] == 60


@pytest.mark.django_db
def test_signed_device_auths_payload_confirms_without_reading_back(
    world, prop, sim, commit, client
):
    """The DEVICE_AUTHS body names the authorization that changed: when it is exactly what we
    sent, it confirms the code with no further API call; a removal likewise. Someone else's
    authorization is read back instead."""
    import hashlib
    import hmac
    import json

    from locks.models import NukiWebConnection

    locks = connect(world, prop, commit)
    conn = NukiWebConnection.objects.get()
    lock = locks[0]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sim.reset_counters()
    with commit():
        (ac,) = access_put(
            organization=world.org,
            holder="owner:1",
            locks=[lock],
            code="374859",
            name="Owner",
            valid_from=start,
            valid_until=start + dt.timedelta(days=3),
        )
    assert sim.wait_applied(5)
    ac.refresh_from_db()
    assert ac.state == "setting"
    assert sim.endpoint_calls("PUT", "/smartlock/{smartlockId}/auth") == 1
    assert sim.endpoint_calls("GET", "/smartlock/{smartlockId}/auth") == 0  # no GET before PUT

    def deliver(auth, deleted=False):
        body = json.dumps(
            {
                "feature": "DEVICE_AUTHS",
                "smartlockId": lock.nuki_id,
                "smartlockAuth": auth,
                "deleted": deleted,
            }
        ).encode()
        signature = hmac.new(conn.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        with commit():
            res = client.post(
                f"/hooks/nuki-web/{conn.webhook_key}/",
                body,
                content_type="application/json",
                HTTP_X_NUKI_SIGNATURE_SHA256=signature,
            )
        assert res.status_code == 200
        return res.json()["outcome"]

    (auth,) = [a for a in sim.auths(lock.nuki_id) if a.get("code") == 374859]
    # A payload that differs from what we sent (another window) confirms nothing by itself.
    other = {**auth, "allowedUntilDate": "2030-01-01T00:00:00.000Z"}
    assert deliver(other) == "auths"  # read back instead: the read-back finds the real one
    ac.refresh_from_db()
    assert ac.state == "set" and ac.remote_id == auth["id"]
    reads = sim.endpoint_calls("GET", "/smartlock/{smartlockId}/auth")
    assert reads == 1
    # Update: confirmed from the payload alone.
    with commit():
        access_put(
            organization=world.org,
            holder="owner:1",
            locks=[lock],
            code="374859",
            name="Owner",
            valid_from=start,
            valid_until=start + dt.timedelta(days=5),
        )
    assert sim.wait_applied(5)
    (auth,) = [a for a in sim.auths(lock.nuki_id) if a.get("code") == 374859]
    assert deliver(auth) == "auths-confirmed"
    ac.refresh_from_db()
    assert ac.state == "set" and ac.applied["valid_until"] == ac.valid_until.isoformat()
    # Removal: confirmed by the deletion payload.
    with commit():
        access_withdraw(holder="owner:1")
    assert sim.wait_applied(5)
    assert deliver(auth, deleted=True) == "auths-confirmed"
    ac.refresh_from_db()
    assert ac.state == "removed" and ac.remote_id == ""
    assert sim.endpoint_calls("GET", "/smartlock/{smartlockId}/auth") == reads  # no more reads
    # Someone else's authorization: read back and recorded as observed, not ours.
    foreign = sim.add_foreign_auth(lock.nuki_id, "Neighbour", code=987654, notify=False)
    assert deliver(foreign) == "auths"
    assert ObservedCode.objects.get(remote_id=foreign["id"]).access_code is None


@pytest.mark.django_db
def test_connect_needs_an_https_redirect_uri_and_a_client_id(world, client, settings):
    """Nuki's integrator rules: the redirect URI is registered and HTTPS only (loopback http
    is allowed for development); without a client id the manager is told to use a token."""
    client.force_login(world.member)
    url = f"/o/{world.org.slug}/integrations/nuki-web/connect/"
    settings.NUKI_WEB_CLIENT_ID = "latchkey"
    settings.SITE_URL = "http://portal.example.com"
    res = client.post(url)
    assert res.status_code == 400 and b"HTTPS" in res.content
    assert "nuki_web_oauth" not in client.session
    settings.SITE_URL = "https://portal.example.com"
    res = client.post(url)
    assert res.status_code == 302
    assert "redirect_uri=https%3A%2F%2Fportal.example.com%2Fintegrations" in res["Location"]
    settings.NUKI_WEB_CLIENT_ID = ""
    res = client.post(url)
    assert res.status_code == 400 and b"API token" in res.content


@pytest.mark.django_db
def test_demo_seed_connects_to_the_stand_in_idempotently(settings, commit, monkeypatch, tmp_path):
    """seed_demo (make run) connects the demo organization to the Procfile's stand-in with an
    API token, imports its smartlocks onto the lock rows it prepared, and the demo stay's code
    and app access reach the stand-in. Running it again adds nothing."""
    from django.core.management import call_command

    from demo.nukiweb import DEMO_API_TOKEN
    from locks.models import NukiWebConnection
    from portal.models import Organization

    # The demo's Bluetooth part waits for its agent process (not running here); it has its
    # own test (demo/tests/test_ble.py).
    monkeypatch.setattr("demo.management.commands.seed_demo.seed_ble_demo", lambda **kwargs: None)
    with NukiWebSimulator(
        api_tokens=[DEMO_API_TOKEN], apply_delay=0.05, smartlocks=2, timezone="Europe/Vienna"
    ) as stand_in:
        settings.LATCHKEY_DEMO_NUKIWEB_PORT = stand_in.port
        settings.VAR_DIR = tmp_path  # the demo's credentials file, not the checkout's var/
        settings.NUKI_WEB_API_URL = "https://api.nuki.invalid"  # the demo must not use it
        for _ in range(2):
            with commit():
                call_command("seed_demo", stdout=io.StringIO())
        org = Organization.objects.get(slug="demo-rentals")
        conn = NukiWebConnection.objects.get(organization=org)
        assert conn.kind == "api_token" and conn.api_url == stand_in.url
        assert conn.webhook_secret and conn.last_error == ""
        locks = Lock.objects.filter(organization=org, driver="nuki_web").order_by("nuki_id")
        assert [lock.nuki_id for lock in locks] == sorted(stand_in.smartlock_ids)
        assert all(lock.config.get("keypad") is True for lock in locks)
        assert {lock.property.external_ref for lock in locks} == {"harbour-studio"}
        assert stand_in.wait_applied(5)
        with commit():
            for lock in locks:
                command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
        states = AccessCode.objects.filter(lock__in=locks).values_list("kind", "state")
        assert sorted(states) == [
            ("app", "set"),
            ("app", "set"),
            ("keypad", "set"),
            ("keypad", "set"),
        ]
        for smartlock_id in stand_in.smartlock_ids:
            kinds = sorted(a["type"] for a in stand_in.auths(smartlock_id))
            assert kinds == [0, 0, 13]  # the owner, the guest's app access, the guest's code
        assert [u["email"] for u in stand_in.account_users()] == ["hana.nuki@example.com"]
        port = stand_in.port

    # `make run` again: a fresh stand-in (it keeps nothing) on the same port. Seeding again
    # reconnects, and the read-back after the import puts the demo stay's access back.
    with NukiWebSimulator(
        port=port, api_tokens=[DEMO_API_TOKEN], apply_delay=0.05, smartlocks=2
    ) as fresh:
        with commit():
            call_command("seed_demo", stdout=io.StringIO())
        assert fresh.wait_applied(5)
        with commit():
            for lock in locks:
                command_enqueue(lock=lock, kind=CommandKind.RECONCILE)
        states = AccessCode.objects.filter(lock__in=locks).values_list("kind", "state")
        assert sorted(states) == [
            ("app", "set"),
            ("app", "set"),
            ("keypad", "set"),
            ("keypad", "set"),
        ]
        for smartlock_id in fresh.smartlock_ids:
            assert sorted(a["type"] for a in fresh.auths(smartlock_id)) == [0, 0, 13]
        assert Lock.objects.filter(organization=org, driver="nuki_web").count() == 2
