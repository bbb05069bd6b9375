"""The portal's side of Nuki Bridges, against the bridge simulator over loopback (a real HTTP
server; no mocked HTTP): adding and importing, callbacks, every action, log sync, token modes,
and a wrong token explained in plain words."""

import json

import pytest
from django.core.cache import cache

from locks.integrations.bridge.callbacks import callback_register
from locks.integrations.bridge.services import bridge_log_sync
from locks.models import Bridge, CommandStatus, Lock, LockEvent
from locks.simulators.bridge import BridgeSimulator
from portal.models import Alert


@pytest.fixture
def sim(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the simulator is on loopback (refused otherwise)
    settings.LATCHKEY_LOCK_REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"  # file locks, whatever the suite's broker
    from locks.integrations.bridge.driver import bridge_lock_factory

    bridge_lock_factory.cache_clear()
    simulator = BridgeSimulator(locks=3, action_seconds=0.05, token="sim-token-123").start()
    yield simulator
    simulator.stop()
    bridge_lock_factory.cache_clear()


def add_bridge(world, sim, commit, **over):
    body = {"name": "Hallway bridge", "host": "127.0.0.1", "port": sim.port, "token": sim.token}
    body.update(over)
    with commit():
        res = world.api(world.write_key).post("/api/v1/bridges/", body, format="json")
    assert res.status_code == 201, res.content
    assert "token" not in res.json()
    return Bridge.objects.get(pk=res.json()["id"])


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["encrypted", "hashed", "plain"])
def test_add_bridge_imports_its_locks_in_every_token_mode(world, sim, commit, mode):
    bridge = add_bridge(world, sim, commit, token_mode=mode)
    bridge.refresh_from_db()
    assert bridge.status == "ok", bridge.last_error
    locks = Lock.objects.filter(bridge=bridge).order_by("nuki_id")
    assert [lock.nuki_id for lock in locks] == sorted(sim.locks)
    assert {lock.driver for lock in locks} == {"bridge_http"}
    assert {lock.state for lock in locks} == {"locked"}
    assert locks[0].battery_percent == 85
    res = world.api(world.read_key).get(f"/api/v1/locks/{locks[0].pk}/").json()
    assert res["capabilities"] == ["actions", "logs", "state"]  # no codes over the bridge
    # The token is encrypted at rest.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM locks_bridge WHERE id = %s", [bridge.pk])
        stored = cursor.fetchone()[0]
    assert sim.token not in stored and stored.startswith("enc2:")
    # One callback of ours is registered, carrying a secret.
    assert len(sim.callbacks()) == 1 and "/hooks/bridge/" in sim.callbacks()[0]


@pytest.mark.django_db
def test_reimport_replaces_our_stale_callback_and_keeps_others(world, sim, commit):
    bridge = add_bridge(world, sim, commit)
    first = list(sim.callbacks())
    from locks.nuki.bridge import BridgeClient

    BridgeClient("127.0.0.1", sim.token, port=sim.port).callback_add("http://10.0.0.9/other")
    callback_register(bridge=bridge)
    assert len(sim.callbacks()) == 2
    assert "http://10.0.0.9/other" in sim.callbacks()
    assert first[0] not in sim.callbacks()  # the old secret no longer works


@pytest.mark.django_db
def test_wrong_token_is_explained_in_plain_words(world, sim, commit):
    bridge = add_bridge(world, sim, commit, token="wrong-token", token_mode="plain")
    bridge.refresh_from_db()
    assert bridge.status == "error"
    assert "token" in bridge.last_error.lower()
    alert = Alert.objects.get(kind="bridge_error")
    assert "Hallway bridge" in alert.message and alert.fix
    res = world.api(world.read_key).get(f"/api/v1/bridges/{bridge.pk}/").json()
    assert res["status"] == "error" and res["last_error"]


@pytest.mark.django_db
def test_button_flow_gets_a_token(world, sim, commit):
    sim.press_button()
    bridge = add_bridge(world, sim, commit, token="")
    bridge.refresh_from_db()
    assert bridge.status == "ok" and bridge.token
    assert Lock.objects.filter(bridge=bridge).count() == 3


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "state"),
    [("unlock", 3), ("lock", 1), ("unlatch", 3), ("lock_n_go", 1)],
)
def test_every_action_through_the_sync_engine(world, sim, commit, action, state):
    bridge = add_bridge(world, sim, commit)
    lock = Lock.objects.filter(bridge=bridge).order_by("nuki_id").first()
    if action == "lock":
        sim.locks[lock.nuki_id].state = 3  # start unlocked
    with commit():
        res = world.api(world.write_key).post(
            f"/api/v1/locks/{lock.pk}/actions/", {"action": action}, format="json"
        )
    assert res.status_code == 202, res.content
    attempt = world.api(world.read_key).get(f"/api/v1/actions/{res.json()['id']}/").json()
    assert attempt["state"] == "succeeded", attempt
    assert attempt["action"] == action
    assert sim.locks[lock.nuki_id].state == state


@pytest.mark.django_db
def test_action_on_offline_lock_fails_with_a_reason(world, sim, commit, settings):
    settings.LATCHKEY_RETRY_BASE_SECONDS = 0
    bridge = add_bridge(world, sim, commit)
    lock = Lock.objects.filter(bridge=bridge).first()
    sim.set_offline(lock.nuki_id)
    with commit():
        res = world.api(world.write_key).post(
            f"/api/v1/locks/{lock.pk}/actions/", {"action": "unlock"}, format="json"
        )
    from locks.models import LockCommand
    from locks.sync.runner import command_run

    command = LockCommand.objects.get(pk=res.json()["id"])
    while command.status == CommandStatus.PENDING:  # run the (immediate) retries
        with commit():
            command_run(command_id=command.pk)
        command.refresh_from_db()
    attempt = world.api(world.read_key).get(f"/api/v1/actions/{command.pk}/").json()
    assert attempt["state"] == "failed" and attempt["attempts"] == 3
    assert attempt["reason"] and attempt["fix"]


@pytest.mark.django_db
def test_late_action_is_cancelled_not_carried_out(world, sim, commit):
    import datetime as dt

    import time_machine
    from django.utils import timezone

    from locks.actions import lock_action_request
    from locks.sync.runner import command_run

    bridge = add_bridge(world, sim, commit)
    lock = Lock.objects.filter(bridge=bridge).first()
    command = lock_action_request(lock=lock, action="unlock")  # its message is lost...
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=5)):
        command_run(command_id=command.pk)  # ...and found by the sweep five minutes later
    command.refresh_from_db()
    assert command.status == CommandStatus.FAILED and "in time" in command.reason
    assert sim.locks[lock.nuki_id].state == 1  # still locked


@pytest.mark.django_db
def test_actions_need_the_capability_and_a_valid_action(world, sim, commit, locks):
    api = world.api(world.write_key)
    bad = api.post(f"/api/v1/locks/{locks[0].pk}/actions/", {"action": "explode"}, format="json")
    assert bad.status_code == 400 and "action" in bad.json()


@pytest.mark.django_db
def test_actions_are_rate_limited(throttle_window, world, sim, commit):
    from locks.api import ActionThrottle

    bridge = add_bridge(world, sim, commit)
    lock = Lock.objects.filter(bridge=bridge).first()
    ActionThrottle.THROTTLE_RATES = {**ActionThrottle.THROTTLE_RATES, "lock_actions": "3/min"}
    try:
        codes = []
        for _ in range(4):
            with commit():
                codes.append(
                    world.api(world.write_key)
                    .post(f"/api/v1/locks/{lock.pk}/actions/", {"action": "lock"}, format="json")
                    .status_code
                )
    finally:
        ActionThrottle.THROTTLE_RATES = {**ActionThrottle.THROTTLE_RATES, "lock_actions": "60/min"}
    assert codes == [202, 202, 202, 429]


@pytest.mark.django_db
def test_log_sync_adds_each_entry_once(world, sim, commit):
    bridge = add_bridge(world, sim, commit)
    lock = Lock.objects.filter(bridge=bridge).order_by("nuki_id").first()
    for action in ("unlock", "lock"):
        with commit():
            world.api(world.write_key).post(
                f"/api/v1/locks/{lock.pk}/actions/", {"action": action}, format="json"
            )
    first = bridge_log_sync(bridge=bridge)
    assert first >= 4  # unlocking, unlocked, locking, locked
    assert bridge_log_sync(bridge=bridge) == 0
    kinds = set(
        LockEvent.objects.filter(lock=lock, source="bridge log").values_list("kind", flat=True)
    )
    assert kinds
    # The activity log API: newest first, filterable.
    api = world.api(world.read_key)
    events = api.get(f"/api/v1/locks/{lock.pk}/events/").json()["results"]
    import datetime as dt

    times = [dt.datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) for e in events]
    assert times == sorted(times, reverse=True)
    kind = next(iter(kinds))
    filtered = api.get(f"/api/v1/locks/{lock.pk}/events/", {"kind": kind}).json()["results"]
    assert filtered and {e["kind"] for e in filtered} == {kind}
    assert (
        api.get(f"/api/v1/locks/{lock.pk}/events/", {"since": "2999-01-01T00:00:00Z"}).json()[
            "results"
        ]
        == []
    )
    assert api.get(f"/api/v1/locks/{lock.pk}/events/", {"since": "yesterday"}).status_code == 400


@pytest.mark.django_db
def test_callback_receiver_security(world, sim, commit, client):
    bridge = add_bridge(world, sim, commit)
    secret = "known-secret-value"
    import hashlib

    Bridge.objects.filter(pk=bridge.pk).update(
        callback_secret_hash=hashlib.sha256(secret.encode()).hexdigest()
    )
    lock = Lock.objects.filter(bridge=bridge).first()
    other = add_bridge(world, sim, commit, name="Other")  # same simulator, other bridge row
    other_lock = Lock.objects.filter(bridge=other).first()
    body = {"nukiId": lock.nuki_id, "deviceType": 0, "mode": 2, "state": 3,
            "stateName": "unlocked", "batteryCritical": False, "batteryChargeState": 60,
            "doorsensorState": 3, "doorsensorStateName": "door opened"}  # fmt: skip
    url = f"/hooks/bridge/{secret}/"
    assert (
        client.post("/hooks/bridge/nope/", body, content_type="application/json").status_code == 404
    )
    assert client.post(url, "{oops", content_type="application/json").status_code == 400
    assert client.post(url, {"state": 1}, content_type="application/json").status_code == 400
    # A lock of another bridge cannot be named through this bridge's URL.
    stranger = {**body, "nukiId": 999}
    assert client.post(url, stranger, content_type="application/json").status_code == 404
    other_lock.refresh_from_db()
    before = other_lock.state
    res = client.post(url, body, content_type="application/json")
    assert res.status_code == 200
    lock.refresh_from_db()
    assert (lock.state, lock.battery_percent, lock.door_state) == ("unlocked", 60, "door opened")
    other_lock.refresh_from_db()
    assert other_lock.state == before
    assert LockEvent.objects.filter(lock=lock, kind="state", source="bridge callback").count() == 1


@pytest.mark.django_db
def test_unknown_callback_secrets_are_throttled(client, settings):
    from portal.throttling import StrangerRateThrottle

    cache.clear()
    StrangerRateThrottle.THROTTLE_RATES = {**StrangerRateThrottle.THROTTLE_RATES, "anon": "3/min"}
    try:
        codes = [
            client.post(
                f"/hooks/bridge/guess{i}/", "{}", content_type="application/json"
            ).status_code
            for i in range(5)
        ]
    finally:
        StrangerRateThrottle.THROTTLE_RATES = {
            **StrangerRateThrottle.THROTTLE_RATES,
            "anon": "60/min",
        }
    assert codes[:3] == [404, 404, 404] and codes[-1] == 429


@pytest.mark.django_db(transaction=True)
def test_state_arrives_by_callback_from_the_simulator(
    world, sim, live_server, settings, concurrent_db
):
    """The simulator POSTs its callback to the live server when the lock moves."""
    settings.LATCHKEY_BRIDGE_CALLBACK_BASE = live_server.url
    from django.test.utils import CaptureQueriesContext  # noqa: F401

    from locks.integrations.bridge.services import bridge_import
    from locks.nuki.bridge import BridgeClient, LockAction

    bridge = Bridge.objects.create(
        organization=world.org, name="B", host="127.0.0.1", port=sim.port, token=sim.token
    )
    bridge_import(bridge=bridge)
    url = callback_register(bridge=bridge)
    assert url.startswith(live_server.url)
    lock = Lock.objects.filter(bridge=bridge).order_by("nuki_id").first()
    BridgeClient("127.0.0.1", sim.token, port=sim.port).lock_action(lock.nuki_id, LockAction.UNLOCK)
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lock.refresh_from_db()
        if lock.state == "unlocked":
            break
        time.sleep(0.1)
    assert lock.state == "unlocked"
    assert LockEvent.objects.filter(lock=lock, source="bridge callback").exists()
    json.dumps({})  # keep the import used
