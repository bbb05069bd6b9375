"""Lock actions, logs, keypad entries and signed webhooks of the simulated Nuki Web API."""

import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx2
import pytest

from locks.simulators.nukiweb import (
    ACTION_LOCK,
    ACTION_UNLATCH,
    ACTION_UNLOCK,
    LOCKED,
    UNLOCKED,
    NukiWebSimulator,
    WebhookReceiver,
)

TOKEN = "api-token-for-tests"
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def sim():
    with NukiWebSimulator(
        api_tokens=[TOKEN],
        apply_delay=0.05,
        action_seconds=0.02,
        smartlocks=2,
        webhook_retry_delays=(0.05, 0.1),
    ) as simulator:
        yield simulator


@pytest.fixture
def api(sim):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx2.Client(base_url=sim.url, headers=headers, trust_env=False, timeout=5) as client:
        yield client


@pytest.fixture
def lock_id(sim):
    return sim.smartlock_ids[0]


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def eventually(check, timeout=3.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.01)


def lock_state(api, lock_id):
    return api.get(f"/smartlock/{lock_id}").json()["state"]


def keypad(code, name="Guest", **extra):
    return {"name": name, "type": 13, "code": code, "remoteAllowed": False, **extra}


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def register(api, receiver, features):
    answer = api.put(
        "/api/decentralWebhook", json={"webhookUrl": receiver.url(), "webhookFeatures": features}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def verified(record, secret):
    """Check a delivery's signature independently of the simulator's code."""
    expected = hmac.new(secret.encode(), record["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(record["headers"]["x-nuki-signature-sha256"], expected)


# Actions and logs ----------------------------------------------------------------------------


def test_action_changes_state_and_adds_a_log_entry(sim, api, lock_id):
    assert lock_state(api, lock_id)["state"] == LOCKED
    answer = api.post(f"/smartlock/{lock_id}/action", json={"action": ACTION_UNLOCK})
    assert answer.status_code == 204
    assert eventually(lambda: lock_state(api, lock_id)["state"] == UNLOCKED)
    state = lock_state(api, lock_id)
    assert state["lastAction"] == ACTION_UNLOCK
    assert state["trigger"] == 4  # web

    entries = api.get(f"/smartlock/{lock_id}/log").json()
    assert len(entries) == 1
    entry = entries[0]
    assert entry["action"] == ACTION_UNLOCK
    assert entry["smartlockId"] == lock_id
    assert entry["trigger"] == 4
    assert entry["state"] == 0
    assert entry["name"] == sim.account_name
    assert len(entry["id"]) == 24
    # The other lock did not move.
    assert api.get(f"/smartlock/{sim.smartlock_ids[1]}/log").json() == []

    assert api.post(f"/smartlock/{lock_id}/action/lock").status_code == 204
    assert eventually(lambda: lock_state(api, lock_id)["state"] == LOCKED)


def test_unlatch_passes_through_unlatched_to_unlocked(api, lock_id):
    api.post(f"/smartlock/{lock_id}/action", json={"action": ACTION_UNLATCH})
    assert eventually(lambda: lock_state(api, lock_id)["state"] == UNLOCKED)
    assert api.get(f"/smartlock/{lock_id}/log").json()[0]["action"] == ACTION_UNLATCH


@pytest.mark.parametrize(
    "body", [{"action": 9}, {"action": "unlock"}, {}, {"action": 1, "option": 9}]
)
def test_bad_action_is_400(sim, api, lock_id, body):
    assert api.post(f"/smartlock/{lock_id}/action", json=body).status_code == 400
    assert api.post("/smartlock/12345/action", json={"action": 1}).status_code == 404
    assert sim.counters["actions"] == 0


def test_offline_lock_drops_actions(sim, api, lock_id):
    sim.set_offline(lock_id)
    assert api.post(f"/smartlock/{lock_id}/action", json={"action": 1}).status_code == 204
    time.sleep(0.1)
    assert lock_state(api, lock_id)["state"] == LOCKED
    assert sim.counters["actions_dropped_offline"] == 1


def test_log_filters_and_limit(sim, api, lock_id):
    for action in (ACTION_UNLOCK, ACTION_LOCK) * 3:
        api.post(f"/smartlock/{lock_id}/action", json={"action": action})
        assert eventually(lambda n=len(sim.logs(lock_id)): len(sim.logs(lock_id)) > n)
        time.sleep(0.03)  # let the movement finish before the next one
    entries = api.get(f"/smartlock/{lock_id}/log", params={"limit": 50}).json()
    assert [e["action"] for e in entries] == [ACTION_LOCK, ACTION_UNLOCK] * 3  # newest first
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)

    assert len(api.get(f"/smartlock/{lock_id}/log", params={"limit": 2}).json()) == 2
    assert len(api.get(f"/smartlock/{lock_id}/log").json()) == 6  # default limit 20
    for limit in (0, 51, "many"):
        bad = api.get(f"/smartlock/{lock_id}/log", params={"limit": limit})
        assert bad.status_code == 400

    unlocks = api.get(f"/smartlock/{lock_id}/log", params={"action": ACTION_UNLOCK}).json()
    assert len(unlocks) == 3 and {e["action"] for e in unlocks} == {ACTION_UNLOCK}

    older = api.get(f"/smartlock/{lock_id}/log", params={"id": entries[1]["id"]}).json()
    assert [e["id"] for e in older] == [e["id"] for e in entries[2:]]

    middle = entries[3]["date"]
    until = api.get(f"/smartlock/{lock_id}/log", params={"toDate": middle}).json()
    assert entries[3]["id"] in [e["id"] for e in until]
    assert all(e["date"] <= middle for e in until)
    since = api.get(f"/smartlock/{lock_id}/log", params={"fromDate": middle}).json()
    assert all(e["date"] >= middle for e in since)
    future = iso(dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert api.get(f"/smartlock/{lock_id}/log", params={"fromDate": future}).json() == []

    owner = entries[0]["authId"]
    assert len(api.get(f"/smartlock/{lock_id}/log", params={"authId": owner}).json()) == 6
    assert api.get(f"/smartlock/{lock_id}/log", params={"authId": "0" * 24}).json() == []
    assert len(api.get("/smartlock/log", params={"limit": 50}).json()) == 6


def test_keypad_entry_respects_the_codes_window(sim, api, lock_id):
    now = dt.datetime.now(dt.UTC)
    window = {
        "allowedFromDate": iso(now - dt.timedelta(hours=1)),
        "allowedUntilDate": iso(now + dt.timedelta(hours=1)),
    }
    api.put(f"/smartlock/{lock_id}/auth", json=keypad(345678, "Guest Now", **window))
    later = {
        "allowedFromDate": iso(now + dt.timedelta(days=2)),
        "allowedUntilDate": iso(now + dt.timedelta(days=3)),
    }
    api.put(f"/smartlock/{lock_id}/auth", json=keypad(456789, "Guest Later", **later))
    sim.wait_applied()

    assert sim.keypad_entry(lock_id, 456789) is False  # not yet valid
    assert sim.keypad_entry(lock_id, 999999) is False  # unknown
    assert sim.keypad_entry(lock_id, 345678) is True
    assert eventually(lambda: lock_state(api, lock_id)["state"] == UNLOCKED)
    entries = api.get(f"/smartlock/{lock_id}/log").json()
    opened = entries[0]
    assert (opened["trigger"], opened["source"], opened["state"]) == (255, 1, 0)
    assert opened["name"] == "Guest Now"
    guest = next(a for a in sim.auths(lock_id) if a.get("code") == 345678)
    assert opened["authId"] == guest["id"]
    assert guest["lockCount"] == 1 and guest["lastActiveDate"]
    assert sorted(e["state"] for e in entries) == [0, 224, 224]


# Webhooks ------------------------------------------------------------------------------------


def test_webhook_registration(api, receiver):
    created = register(api, receiver, ["DEVICE_AUTHS", "DEVICE_STATUS"])
    assert set(created) == {"id", "secret", "webhookUrl", "webhookFeatures"}
    assert created["webhookUrl"] == receiver.url()
    assert len(created["secret"]) >= 32
    listed = api.get("/api/decentralWebhook").json()
    assert listed == [
        {
            "id": created["id"],
            "webhookUrl": receiver.url(),
            "webhookFeatures": created["webhookFeatures"],
        }
    ]
    assert api.delete(f"/api/decentralWebhook/{created['id']}").status_code == 204
    assert api.get("/api/decentralWebhook").json() == []
    assert api.delete(f"/api/decentralWebhook/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"webhookUrl": "http://example.com/hook", "webhookFeatures": ["DEVICE_STATUS"]},
        {"webhookUrl": "ftp://127.0.0.1/hook", "webhookFeatures": ["DEVICE_STATUS"]},
        {"webhookUrl": "https://example.com/hook", "webhookFeatures": []},
        {"webhookUrl": "https://example.com/hook", "webhookFeatures": ["EVERYTHING"]},
        {"webhookFeatures": ["DEVICE_STATUS"]},
    ],
)
def test_webhook_registration_is_validated(api, body):
    assert api.put("/api/decentralWebhook", json=body).status_code == 400
    assert api.get("/api/decentralWebhook").json() == []


def test_https_webhook_urls_are_accepted(api):
    body = {"webhookUrl": "https://hooks.example.com/nuki", "webhookFeatures": ["DEVICE_LOGS"]}
    assert api.put("/api/decentralWebhook", json=body).status_code == 200


def test_signed_delivery_of_auths_and_status(sim, api, lock_id, receiver):
    hook = register(api, receiver, ["DEVICE_AUTHS", "DEVICE_STATUS"])
    api.put(f"/smartlock/{lock_id}/auth", json=keypad(345678, "Guest Smith"))
    assert receiver.wait_for(lambda events: any(e["feature"] == "DEVICE_AUTHS" for e in events))
    auth_event = receiver.events("DEVICE_AUTHS")[0]
    assert auth_event["smartlockId"] == lock_id
    assert auth_event["smartlockAuth"]["code"] == 345678
    assert auth_event["smartlockAuth"]["name"] == "Guest Smith"
    assert auth_event["deleted"] is False
    # The webhook comes once the code is on the lock: reading back agrees.
    listed = api.get(f"/smartlock/{lock_id}/auth", params={"types": "13"}).json()
    assert [a["id"] for a in listed] == [auth_event["smartlockAuth"]["id"]]

    api.post(f"/smartlock/{lock_id}/action", json={"action": ACTION_UNLOCK})
    assert receiver.wait_for(
        lambda events: any(
            e["feature"] == "DEVICE_STATUS" and e["state"]["state"] == UNLOCKED for e in events
        )
    )
    api.delete(f"/smartlock/{lock_id}/auth/{auth_event['smartlockAuth']['id']}")
    assert receiver.wait_for(lambda events: any(e.get("deleted") for e in events))

    assert sim.webhooks.wait_idle()
    for record in receiver.received:
        assert record["headers"]["content-type"].startswith("application/json")
        assert verified(record, hook["secret"]), record
        assert json.loads(record["body"])["feature"] in ("DEVICE_AUTHS", "DEVICE_STATUS")
    # A signature made with another secret does not verify.
    assert not verified(receiver.received[0], "0" * 40)
    assert not receiver.events("DEVICE_LOGS")  # not subscribed


def test_each_registration_gets_its_features_and_secret(sim, api, lock_id):
    with WebhookReceiver() as logs_only, WebhookReceiver() as everything:
        first = register(api, logs_only, ["DEVICE_LOGS"])
        second = register(
            api, everything, ["DEVICE_LOGS", "DEVICE_STATUS", "DEVICE_CONFIG", "DEVICE_MASTERDATA"]
        )
        assert first["secret"] != second["secret"]
        sim.set_door(lock_id, 3)  # opened: status + log
        sim.set_config(lock_id, keypadPaired=False)
        sim.rename(lock_id, "Front door")
        assert sim.webhooks.wait_idle()
        assert [e["feature"] for e in logs_only.events()] == ["DEVICE_LOGS"]
        assert logs_only.events()[0]["smartlockLog"]["action"] == 240
        assert [e["feature"] for e in everything.events()] == [
            "DEVICE_STATUS",
            "DEVICE_LOGS",
            "DEVICE_CONFIG",
            "DEVICE_MASTERDATA",
        ]
        assert everything.events("DEVICE_CONFIG")[0]["config"]["keypadPaired"] is False
        assert everything.events("DEVICE_MASTERDATA")[0]["name"] == "Front door"
        assert all(verified(r, first["secret"]) for r in logs_only.received)
        assert all(verified(r, second["secret"]) for r in everything.received)


def test_failed_deliveries_are_retried_then_given_up(sim, api, lock_id):
    with WebhookReceiver(fail_first=2) as flaky:
        register(api, flaky, ["DEVICE_STATUS"])
        sim.set_battery(lock_id, 15)
        assert sim.webhooks.wait_idle()
        assert flaky.requests == 3
        assert flaky.events("DEVICE_STATUS")[0]["state"]["batteryCritical"] is True
        assert sim.webhooks.deliveries[-1]["attempts"] == 3
        assert sim.webhooks.deliveries[-1]["delivered"] is True

        flaky.fail_first = 100
        sim.set_battery(lock_id, 14)
        assert sim.webhooks.wait_idle()
        assert sim.webhooks.deliveries[-1]["delivered"] is False
        assert sim.counters["webhook_given_up"] == 1
        assert sim.counters["webhook_deliveries"] == 1


def test_offline_and_back_reports_server_state(sim, lock_id, api, receiver):
    register(api, receiver, ["DEVICE_STATUS"])
    sim.set_offline(lock_id)
    sim.set_offline(lock_id, False)
    assert sim.webhooks.wait_idle()
    assert [e["serverState"] for e in receiver.events("DEVICE_STATUS")] == [4, 0]


# Concurrency and the command line ------------------------------------------------------------


def test_max_concurrency_is_recorded(api, lock_id):
    with NukiWebSimulator(api_tokens=[TOKEN], latency=0.15) as slow:
        barrier = threading.Barrier(4)

        def call():
            barrier.wait()
            with httpx2.Client(trust_env=False) as client:
                client.get(f"{slow.url}/smartlock", headers={"Authorization": f"Bearer {TOKEN}"})

        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert slow.max_concurrent_seen >= 2
        assert slow.endpoint_calls("GET", "/smartlock") == 4


def test_command_line_server():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "locks.simulators.nukiweb", "--port", "0", "--api-token", "cli-t"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = process.stdout.readline()
        assert "Nuki Web simulator at http://127.0.0.1:" in first_line, process.stderr.read()
        url = first_line.split(" at ")[1].strip()
        answer = httpx2.get(f"{url}/smartlock", headers={"Authorization": "Bearer cli-t"})
        assert answer.status_code == 200
        assert len(answer.json()) == 2
        assert httpx2.get(f"{url}/smartlock").status_code == 401
        state = httpx2.get(f"{url}/__sim__/state").json()
        assert state["counters"]["GET /smartlock"] == 2
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_outage_and_stop():
    with NukiWebSimulator(api_tokens=[TOKEN]) as sim:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx2.Client(base_url=sim.url, headers=headers, trust_env=False) as client:
            assert client.get("/smartlock").status_code == 200
            sim.outage_status = 503
            assert client.get("/smartlock").status_code == 503
            sim.outage_status = None
            assert client.get("/smartlock").status_code == 200
            sim.stop()
            # The pooled keep-alive connection is cut too: a stopped simulator is gone.
            with pytest.raises(httpx2.TransportError):
                client.get("/smartlock")
