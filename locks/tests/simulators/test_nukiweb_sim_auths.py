"""Smartlocks and authorizations (keypad codes) on the simulated Nuki Web API, over loopback."""

import time

import httpx2
import pytest

from locks.simulators.nukiweb import AUTH_KEYPAD_CODE, NukiWebSimulator, smartlock_id_for

TOKEN = "api-token-for-tests"
DELAY = 0.1


@pytest.fixture
def sim():
    with NukiWebSimulator(api_tokens=[TOKEN], apply_delay=DELAY, smartlocks=2) as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx2.Client(base_url=sim.url, headers=headers, trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture
def lock_id(sim):
    return sim.smartlock_ids[0]


def keypad(name="Guest Smith", code=345678, **extra):
    return {
        "name": name,
        "type": 13,
        "code": code,
        "remoteAllowed": False,
        "allowedFromDate": "2024-06-01T14:00:00.000Z",
        "allowedUntilDate": "2024-06-08T10:00:00.000Z",
        "allowedWeekDays": 127,
        "allowedFromTime": 0,
        "allowedUntilTime": 0,
        **extra,
    }


def codes(api, lock_id):
    answer = api.get(f"/smartlock/{lock_id}/auth", params={"types": "13"})
    assert answer.status_code == 200
    return {a["code"]: a for a in answer.json()}


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)


def test_smartlock_list_and_detail(sim, api, lock_id):
    locks = api.get("/smartlock").json()
    assert [lock["smartlockId"] for lock in locks] == sim.smartlock_ids
    first = locks[0]
    assert first["smartlockId"] == smartlock_id_for(4, sim.locks[lock_id].nuki_id)
    assert first["type"] == 4
    assert first["config"]["keypadPaired"] is True
    assert first["serverState"] == 0
    state = first["state"]
    assert {"mode", "state", "batteryCritical", "batteryCharge", "doorState"} <= set(state)
    assert state["state"] == 1  # locked
    assert state["doorState"] == 2  # closed
    assert isinstance(first["advancedConfig"]["lngTimeout"], int)
    assert api.get(f"/smartlock/{lock_id}").json() == first
    assert api.get("/smartlock/999").status_code == 404
    assert api.get("/account").json()["accountId"] == sim.account_id


def test_create_is_queued_then_applied(sim, api, lock_id):
    answer = api.put(f"/smartlock/{lock_id}/auth", json=keypad())
    assert answer.status_code == 204
    assert answer.content == b""
    assert 345678 not in codes(api, lock_id)  # 204 means queued, not done
    assert sim.pending(lock_id)[0]["kind"] == "create"

    applied = eventually(lambda: codes(api, lock_id).get(345678))
    assert applied, "the code never reached the lock"
    assert applied["name"] == "Guest Smith"
    assert applied["type"] == AUTH_KEYPAD_CODE
    assert applied["smartlockId"] == lock_id
    assert applied["enabled"] is True
    assert applied["allowedFromDate"] == "2024-06-01T14:00:00.000Z"
    assert applied["allowedUntilDate"] == "2024-06-08T10:00:00.000Z"
    assert isinstance(applied["authId"], int)
    assert len(applied["id"]) == 24
    assert "operationId" not in applied
    assert api.get(f"/smartlock/{lock_id}/auth/{applied['id']}").json() == applied
    assert sim.pending() == []


def test_code_as_digit_string_and_offset_dates_are_normalized(api, lock_id, sim):
    body = keypad(code="456789", allowedFromDate="2024-06-01T16:00:00+02:00")
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 204
    sim.wait_applied()
    applied = codes(api, lock_id)[456789]
    assert applied["allowedFromDate"] == "2024-06-01T14:00:00.000Z"


def test_update_then_delete(sim, api, lock_id):
    api.put(f"/smartlock/{lock_id}/auth", json=keypad())
    sim.wait_applied()
    auth = codes(api, lock_id)[345678]
    path = f"/smartlock/{lock_id}/auth/{auth['id']}"

    changed = api.post(
        path,
        json={"name": "Guest Smith (late)", "allowedUntilDate": "2024-06-08T12:00:00Z"},
    )
    assert changed.status_code == 204
    pending = codes(api, lock_id)[345678]
    assert pending["name"] == "Guest Smith"  # the lock still has the old version
    assert pending["operationId"]
    sim.wait_applied()
    updated = codes(api, lock_id)[345678]
    assert updated["name"] == "Guest Smith (late)"
    assert updated["allowedUntilDate"] == "2024-06-08T12:00:00.000Z"
    assert updated["id"] == auth["id"]
    assert updated["authId"] == auth["authId"]

    assert api.post(path, json={"name": "Guest Smith", "code": 567891}).status_code == 204
    sim.wait_applied()
    assert 567891 in codes(api, lock_id)

    assert api.delete(path).status_code == 204
    assert 567891 in codes(api, lock_id)
    sim.wait_applied()
    assert 567891 not in codes(api, lock_id)
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert sim.counters["auth_ops_applied:delete"] == 1


def test_duplicate_code_conflicts_even_while_queued(sim, api, lock_id):
    assert api.put(f"/smartlock/{lock_id}/auth", json=keypad()).status_code == 204
    queued = api.put(f"/smartlock/{lock_id}/auth", json=keypad(name="Another"))
    assert queued.status_code == 409
    assert "exists already" in queued.json()["detailMessage"]
    sim.wait_applied()
    applied = api.put(f"/smartlock/{lock_id}/auth", json=keypad(name="Another"))
    assert applied.status_code == 409
    # Another lock may hold the same digits.
    other = sim.smartlock_ids[1]
    assert api.put(f"/smartlock/{other}/auth", json=keypad()).status_code == 204
    # Changing a code to one that is taken conflicts too.
    api.put(f"/smartlock/{lock_id}/auth", json=keypad(name="Second", code=678912))
    sim.wait_applied()
    second = codes(api, lock_id)[678912]
    moved = api.post(
        f"/smartlock/{lock_id}/auth/{second['id']}", json={"name": "Second", "code": 345678}
    )
    assert moved.status_code == 409
    assert len([c for c in codes(api, lock_id) if c == 345678]) == 1


def test_pending_operation_answers_423(sim, api, lock_id):
    api.put(f"/smartlock/{lock_id}/auth", json=keypad())
    sim.wait_applied()
    auth = codes(api, lock_id)[345678]
    path = f"/smartlock/{lock_id}/auth/{auth['id']}"
    assert api.post(path, json={"name": "First change"}).status_code == 204
    busy = api.post(path, json={"name": "Second change"})
    assert busy.status_code == 423
    assert api.delete(path).status_code == 423
    sim.wait_applied()
    assert codes(api, lock_id)[345678]["name"] == "First change"
    assert api.delete(path).status_code == 204


@pytest.mark.parametrize(
    "change",
    [
        {"code": 123456},  # starts with 12
        {"code": 345670},  # contains 0
        {"code": 34567},  # five digits
        {"code": 3456789},  # seven digits
        {"code": "34a678"},
        {"code": None},
        {"name": "x" * 33},
        {"name": ""},
        {"type": 5},
        {"allowedWeekDays": 128},
        {"allowedFromTime": 1440},
        {"allowedFromDate": "2024-06-01T14:00:00"},  # no UTC offset
        {"allowedFromDate": "next tuesday"},
        {"allowedFromDate": "2024-06-09T00:00:00Z"},  # after allowedUntilDate
        {"remoteAllowed": "yes"},
    ],
)
def test_invalid_create_is_400_and_changes_nothing(sim, api, lock_id, change):
    body = {**keypad(), **change}
    answer = api.put(f"/smartlock/{lock_id}/auth", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detailMessage"]
    assert sim.pending() == []


@pytest.mark.parametrize("missing", ["name", "remoteAllowed", "code"])
def test_required_fields(sim, api, lock_id, missing):
    body = keypad()
    del body[missing]
    answer = api.put(f"/smartlock/{lock_id}/auth", json=body)
    assert answer.status_code == 400
    assert missing in answer.json()["detailMessage"]


def test_app_authorization_needs_an_account_user(api, lock_id, sim):
    body = {"name": "Cleaner", "type": 0, "remoteAllowed": True}
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 400
    body["accountUserId"] = 77  # no such account user
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 404
    user = api.put("/account/user", json={"email": "c@example.com", "name": "Cleaner"}).json()
    body["accountUserId"] = user["accountUserId"]
    assert api.put(f"/smartlock/{lock_id}/auth", json=body).status_code == 204
    sim.wait_applied()
    apps = api.get(f"/smartlock/{lock_id}/auth", params={"types": "0"}).json()
    assert any(a["accountUserId"] == user["accountUserId"] for a in apps)


def test_bad_update_is_400(sim, api, lock_id):
    api.put(f"/smartlock/{lock_id}/auth", json=keypad())
    sim.wait_applied()
    path = f"/smartlock/{lock_id}/auth/{codes(api, lock_id)[345678]['id']}"
    assert api.post(path, json={"name": "Guest", "code": 120000}).status_code == 400
    assert api.post(path, json={"name": "Guest", "type": 0}).status_code == 400
    assert api.post(path, json={"enabled": False}).status_code == 400  # name is required
    assert (
        api.post(
            path, content=b"{not json", headers={"Content-Type": "application/json"}
        ).status_code
        == 400
    )
    assert sim.pending() == []
    assert (
        api.post(
            f"/smartlock/{lock_id}/auth/0123456789abcdef01234567", json={"name": "x"}
        ).status_code
        == 404
    )


def test_foreign_auths_are_listed(sim, api, lock_id):
    foreign = sim.add_foreign_auth(lock_id, "Owner's mother", code=987654)
    sim.add_foreign_auth(lock_id, "Owner fob", type=2)
    listed = codes(api, lock_id)
    assert listed[987654]["id"] == foreign["id"]
    assert listed[987654]["name"] == "Owner's mother"
    every = api.get(f"/smartlock/{lock_id}/auth").json()
    assert {a["type"] for a in every} == {0, 2, 13}  # owner app, fob, keypad code
    # Its digits are taken for us too.
    assert api.put(f"/smartlock/{lock_id}/auth", json=keypad(code=987654)).status_code == 409
    # Changed and removed outside the integration.
    sim.edit_auth_outside(lock_id, foreign["id"], enabled=False)
    assert codes(api, lock_id)[987654]["enabled"] is False
    sim.remove_auth_outside(lock_id, foreign["id"])
    assert 987654 not in codes(api, lock_id)


def test_offline_lock_keeps_changes_queued(sim, api, lock_id):
    sim.set_offline(lock_id)
    assert api.get(f"/smartlock/{lock_id}").json()["serverState"] == 4
    assert api.put(f"/smartlock/{lock_id}/auth", json=keypad()).status_code == 204
    time.sleep(DELAY * 3)
    assert 345678 not in codes(api, lock_id)
    assert sim.pending(lock_id)
    # Still counts as on its way: no duplicate can be queued meanwhile.
    assert api.put(f"/smartlock/{lock_id}/auth", json=keypad(name="Dup")).status_code == 409

    sim.set_offline(lock_id, False)
    assert eventually(lambda: 345678 in codes(api, lock_id))
    assert api.get(f"/smartlock/{lock_id}").json()["serverState"] == 0


def test_account_wide_authorization_endpoints(sim, api):
    first, second = sim.smartlock_ids
    body = {**keypad(), "smartlockIds": [first, second]}
    assert api.put("/smartlock/auth", json=body).status_code == 204
    sim.wait_applied()
    everywhere = api.get("/smartlock/auth", params={"types": "13"}).json()
    assert sorted(a["smartlockId"] for a in everywhere) == [first, second]

    update = [{"id": a["id"], "name": "Renamed", "enabled": False} for a in everywhere]
    assert api.post("/smartlock/auth", json=update).status_code == 204
    sim.wait_applied()
    assert {a["name"] for a in api.get("/smartlock/auth", params={"types": "13"}).json()} == {
        "Renamed"
    }
    assert (
        api.request("DELETE", "/smartlock/auth", json=[a["id"] for a in everywhere]).status_code
        == 204
    )
    sim.wait_applied()
    assert api.get("/smartlock/auth", params={"types": "13"}).json() == []
    missing = {**keypad(), "smartlockIds": [first, 424242]}
    assert api.put("/smartlock/auth", json=missing).status_code == 404


def test_requests_are_counted_per_endpoint(sim, api, lock_id):
    sim.reset_counters()
    for code in (345678, 456789, 567891):
        api.put(f"/smartlock/{lock_id}/auth", json=keypad(code=code))
    api.get(f"/smartlock/{lock_id}/auth")
    assert sim.endpoint_calls("PUT", "/smartlock/{smartlockId}/auth") == 3
    assert sim.endpoint_calls("GET", "/smartlock/{smartlockId}/auth") == 1
    assert sim.counters["requests"] == 4
    assert sim.max_concurrent_seen >= 1
