"""App authorizations (type 0 for a Nuki account user invited by email), weekday and
time-of-day limits, on the simulated Nuki Web API over loopback; and our Nuki Web client and
driver body against it."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import httpx2
import pytest

from locks.nuki.web import AuthType, NukiWebClient
from locks.nuki.web.client import auth_body
from locks.simulators.nukiweb import NukiWebSimulator

TOKEN = "api-token-for-app-tests"
VIENNA = ZoneInfo("Europe/Vienna")


@pytest.fixture
def sim():
    with NukiWebSimulator(
        api_tokens=[TOKEN], apply_delay=0.05, smartlocks=1, timezone="Europe/Vienna"
    ) as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx2.Client(base_url=sim.url, headers=headers, trust_env=False, timeout=5) as client:
        yield client


def vienna(*args) -> float:
    return dt.datetime(*args, tzinfo=VIENNA).timestamp()


def test_account_users_invited_by_email(api, sim):
    made = api.put("/account/user", json={"email": "Guest@Example.com", "name": "Gina"})
    assert made.status_code == 200
    user = made.json()
    assert user["accountUserId"] > 1 and user["email"] == "Guest@Example.com"
    assert sim.invitations == [{"email": "Guest@Example.com", "name": "Gina"}]
    # Found by email, case-insensitively; a second one with that email is refused.
    found = api.get("/account/user", params={"email": "guest@example.com"}).json()
    assert [u["accountUserId"] for u in found] == [user["accountUserId"]]
    assert api.get("/account/user", params={"email": "other@example.com"}).json() == []
    assert (
        api.put("/account/user", json={"email": "guest@example.com", "name": "G"}).status_code
        == 409
    )
    # Bad input answers 400 and creates nothing.
    for bad in ({"email": "not-an-email", "name": "X"}, {"email": "x@example.com"},
                {"email": "y@example.com", "name": "Y", "language": "xx"}):  # fmt: skip
        assert api.put("/account/user", json=bad).status_code == 400
    assert len(api.get("/account/user").json()) == 1
    assert api.get(f"/account/user/{user['accountUserId']}").json()["name"] == "Gina"
    assert api.get("/account/user/999").status_code == 404
    # Without a token: 401.
    assert httpx2.get(sim.url + "/account/user", trust_env=False).status_code == 401


def test_app_authorization_with_window_weekdays_and_times(api, sim):
    lock_id = sim.smartlock_ids[0]
    body = {
        "name": "Gina app",
        "type": 0,
        "remoteAllowed": False,
        "allowedFromDate": "2026-03-02T00:00:00.000Z",
        "allowedUntilDate": "2026-03-30T00:00:00.000Z",
        "allowedWeekDays": 64 | 16,  # Monday and Wednesday
        "allowedFromTime": 10 * 60,  # 10:00-12:00 on the lock's clock (Vienna)
        "allowedUntilTime": 12 * 60,
    }
    # An unknown account user: 404; none at all: 400.
    assert (
        api.put(f"/smartlock/{lock_id}/auth", json={**body, "accountUserId": 777}).status_code
        == 404
    )
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 400
    user = api.put("/account/user", json={"email": "gina@example.com", "name": "Gina"}).json()
    body["accountUserId"] = user["accountUserId"]
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 204
    # Queued, not yet on the lock: the app cannot open.
    assert not sim.app_open(lock_id, "gina@example.com", vienna(2026, 3, 2, 11, 0))
    assert sim.wait_applied(3)
    (auth,) = [a for a in sim.auths(lock_id) if a["type"] == 0 and a["name"] == "Gina app"]
    assert (auth["allowedWeekDays"], auth["allowedFromTime"], auth["allowedUntilTime"]) == (
        80, 600, 720,
    )  # fmt: skip
    assert auth["accountUserId"] == user["accountUserId"]
    # Monday 2 March 2026, 11:00 in Vienna (10:00 UTC): inside.
    assert sim.app_open(lock_id, "GINA@example.com", vienna(2026, 3, 2, 11, 0))
    # 09:30 Vienna is 08:30 UTC: outside the local time window.
    assert not sim.app_open(lock_id, "gina@example.com", vienna(2026, 3, 2, 9, 30))
    # 12:30 Vienna is 11:30 UTC (which would be inside if times were UTC): outside.
    assert not sim.app_open(lock_id, "gina@example.com", vienna(2026, 3, 2, 12, 30))
    # Tuesday: not an allowed weekday.
    assert not sim.app_open(lock_id, "gina@example.com", vienna(2026, 3, 3, 11, 0))
    # Wednesday inside; after the window's end date: refused.
    assert sim.app_open(lock_id, "gina@example.com", vienna(2026, 3, 4, 10, 0))
    assert not sim.app_open(lock_id, "gina@example.com", vienna(2026, 4, 1, 11, 0))
    # Someone without an authorization: refused.
    assert not sim.app_open(lock_id, "stranger@example.com", vienna(2026, 3, 2, 11, 0))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and len(sim.logs(lock_id)) < 2:
        time.sleep(0.02)
    opened = [e for e in sim.logs(lock_id) if e.get("authId") == auth["id"]]
    assert len(opened) == 2 and all(e["trigger"] == 5 for e in opened)
    assert all(e["accountUserId"] == user["accountUserId"] for e in opened)
    # Deleting the account user queues removal of their authorizations.
    assert api.delete(f"/account/user/{user['accountUserId']}").status_code == 204
    assert sim.wait_applied(3)
    assert not [a for a in sim.auths(lock_id) if a.get("accountUserId") == user["accountUserId"]]


def test_keypad_code_weekday_and_time_limits_on_lock_clock(api, sim):
    lock_id = sim.smartlock_ids[0]
    body = {
        "name": "Cleaner",
        "type": 13,
        "code": 345678,
        "remoteAllowed": False,
        "allowedWeekDays": 4,  # Friday
        "allowedFromTime": 9 * 60,
        "allowedUntilTime": 13 * 60,
    }
    assert (
        api.put(f"/smartlock/{lock_id}/auth", json={**body, "allowedWeekDays": 128}).status_code
        == 400
    )
    assert (
        api.put(f"/smartlock/{lock_id}/auth", json={**body, "allowedFromTime": 1440}).status_code
        == 400
    )
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 204
    assert sim.wait_applied(3)
    # Friday 6 March 2026 in Vienna.
    assert sim.keypad_entry(lock_id, 345678, vienna(2026, 3, 6, 9, 0))
    assert not sim.keypad_entry(lock_id, 345678, vienna(2026, 3, 6, 13, 30))
    assert not sim.keypad_entry(lock_id, 345678, vienna(2026, 3, 7, 10, 0))  # Saturday


def test_client_reads_and_writes_limits_and_app_access(sim):
    lock_id = sim.smartlock_ids[0]
    start = dt.datetime(2026, 5, 1, 12, tzinfo=dt.UTC)
    with NukiWebClient(sim.url, lambda refresh: TOKEN) as client:
        user = client.account_user_for(email="Ana@Example.com", name="Ana")
        again = client.account_user_for(email="ana@example.com", name="Ana")
        assert again == user  # found by email, not invited twice
        assert len(sim.account_users()) == 1
        client.auth_create(
            lock_id,
            auth_body(
                name="Ana app",
                account_user_id=user.account_user_id,
                valid_from=start,
                valid_until=start + dt.timedelta(days=2),
                weekdays=64 | 1,
                from_minute=480,
                until_minute=1200,
            ),
        )
        client.auth_create(
            lock_id,
            auth_body(
                name="Ana code",
                code="456789",
                valid_from=start,
                valid_until=start + dt.timedelta(days=2),
            ),
        )
        assert sim.wait_applied(3)
        auths = {a.name: a for a in client.auths(lock_id)}
    app, code = auths["Ana app"], auths["Ana code"]
    assert app.type == AuthType.APP and app.account_user_id == user.account_user_id
    assert (app.weekdays, app.from_minute, app.until_minute) == (65, 480, 1200)
    assert app.allowed_from == start and app.code is None
    assert code.type == AuthType.KEYPAD and code.code == "456789"
    assert (code.weekdays, code.from_minute, code.until_minute) == (127, 0, 0)
