"""The bridge client against the simulated bridge, over loopback HTTP (nothing mocked)."""

import logging
import pickle
import threading
import time

import httpx2
import pytest

from locks.nuki.bridge import (
    BridgeClient,
    BridgeError,
    CallbackEvent,
    LocalBridgeLock,
    LockAction,
    LockStateCode,
    RetryPolicy,
    TokenMode,
    TokenSigner,
)
from locks.nuki.bridge.failures import UNREACHABLE
from locks.nuki.bridge.tokens import format_ts, hash_token
from locks.simulators.bridge import (
    DOOR_CLOSED,
    DOOR_OPENED,
    LOCKED,
    LOCKING,
    UNLATCHED,
    UNLATCHING,
    UNLOCKED,
    UNLOCKED_LNG,
    UNLOCKING,
    BridgeSimulator,
    CallbackReceiver,
)

FAST_RETRY = RetryPolicy(attempts=6, base_delay=0.02, max_delay=0.2)
CALLBACK_FIELDS = {
    "nukiId",
    "deviceType",
    "mode",
    "state",
    "stateName",
    "batteryCritical",
    "batteryCharging",
    "batteryChargeState",
    "keypadBatteryCritical",
    "doorsensorState",
    "doorsensorStateName",
}


@pytest.fixture
def sim():
    with BridgeSimulator(locks=2, action_seconds=0.05, auth_window=0.5) as simulator:
        yield simulator


@pytest.fixture
def make_client(sim):
    clients = []

    def make(token=None, **kwargs):
        kwargs.setdefault("retry", FAST_RETRY)
        kwargs.setdefault("lock_factory", LocalBridgeLock())
        kwargs.setdefault("timeout", 5.0)
        client = BridgeClient.from_url(sim.url, sim.token if token is None else token, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def receiver():
    with CallbackReceiver() as rx:
        yield rx


RAW = httpx2.Client(timeout=5, trust_env=False)


def raw_get(sim, path, params):
    return RAW.get(sim.url + path, params=params)


def first_id(sim):
    return next(iter(sim.locks))


# Tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(TokenMode))
def test_every_token_mode_is_accepted(sim, make_client, mode):
    devices = make_client(token_mode=mode).list_devices()
    assert [d.nuki_id for d in devices] == list(sim.locks)
    assert sim.counters["unauthorized"] == 0


def test_encrypted_is_the_default_mode_and_sends_no_token(sim, client):
    assert client.token_mode is TokenMode.ENCRYPTED
    client.list_devices()
    params = client.signer.params()
    assert set(params) == {"ctoken", "nonce"}


def test_wrong_plain_token_says_the_token_is_wrong(sim, make_client):
    with pytest.raises(BridgeError) as caught:
        make_client(token="not-the-token", token_mode="plain").list_devices()
    error = caught.value
    assert error.status == 401
    assert error.permanent is True
    assert "token is wrong" in error.message
    assert "clock" not in error.message
    assert sim.counters["unauthorized"] == 1  # a plain token is not retried


@pytest.mark.parametrize("mode", [TokenMode.HASHED, TokenMode.ENCRYPTED])
def test_refused_hashed_or_encrypted_token_blames_clock_skew(sim, make_client, mode):
    with pytest.raises(BridgeError) as caught:
        make_client(token="not-the-token", token_mode=mode).info()
    error = caught.value
    assert error.status == 401
    assert error.permanent is True
    assert "clock skew" in error.message
    assert "token is wrong" in error.message
    assert error.endpoint == "/info"
    # Retried once with a fresh token (a random-number collision), then given up.
    assert sim.counters["unauthorized"] == 2


@pytest.mark.parametrize("mode", [TokenMode.HASHED, TokenMode.ENCRYPTED])
def test_clock_skew_beyond_a_minute_is_refused_and_the_offset_fixes_it(sim, make_client, mode):
    sim.clock_offset = -300  # the bridge's clock is five minutes behind
    with pytest.raises(BridgeError, match="clock skew") as caught:
        make_client(token_mode=mode).list_devices()
    assert caught.value.status == 401
    assert make_client(token_mode="plain").list_devices()  # the token itself is right
    assert make_client(token_mode=mode, clock_offset=-300).list_devices()
    sim.clock_offset = -45  # within the bridge's minute
    assert make_client(token_mode=mode).list_devices()


def test_a_hashed_token_cannot_be_replayed(sim):
    ts = format_ts(time.time())
    params = {"ts": ts, "rnr": "4711", "hash": hash_token(sim.token, ts, 4711)}
    assert raw_get(sim, "/list", params).status_code == 200
    assert raw_get(sim, "/list", params).status_code == 401
    fresh = {"ts": ts, "rnr": "4712", "hash": hash_token(sim.token, ts, 4712)}
    assert raw_get(sim, "/list", fresh).status_code == 200


def test_an_encrypted_token_cannot_be_replayed(sim):
    params = TokenSigner(sim.token, TokenMode.ENCRYPTED).params()
    assert raw_get(sim, "/list", params).status_code == 200
    assert raw_get(sim, "/list", params).status_code == 401


def test_a_stale_hashed_token_is_refused(sim):
    ts = format_ts(time.time() - 90)
    params = {"ts": ts, "rnr": "1", "hash": hash_token(sim.token, ts, 1)}
    assert raw_get(sim, "/list", params).status_code == 401
    assert raw_get(sim, "/list", {}).status_code == 401


# State and actions ---------------------------------------------------------------------------


def test_list_reports_the_last_known_state(sim, client):
    nuki_id = first_id(sim)
    sim.set_battery(nuki_id, 15)
    sim.set_door(nuki_id, DOOR_OPENED)
    devices = {d.nuki_id: d for d in client.list_devices()}
    assert len(devices) == 2
    device = devices[nuki_id]
    assert device.name == "Lock 1"
    assert device.device_type == 0
    state = device.last_known_state
    assert state.mode == 2
    assert state.state == LockStateCode.LOCKED
    assert state.state_name == "locked"
    assert state.battery_charge_state == 15
    assert state.battery_critical is True
    assert state.battery_charging is False
    assert state.keypad_battery_critical is False
    assert state.doorsensor_state == DOOR_OPENED
    assert state.doorsensor_state_name == "door opened"
    assert state.timestamp is not None and abs(state.timestamp.timestamp() - time.time()) < 5
    other = devices[nuki_id + 1].last_known_state
    assert (other.battery_charge_state, other.doorsensor_state) == (85, DOOR_CLOSED)


ACTIONS = [
    # (start state, call, states the lock goes through)
    (LOCKED, lambda c, i: c.unlock(i), [UNLOCKING, UNLOCKED]),
    (UNLOCKED, lambda c, i: c.lock(i), [LOCKING, LOCKED]),
    (LOCKED, lambda c, i: c.unlatch(i), [UNLATCHING, UNLATCHED, UNLOCKED]),
    (
        UNLOCKED,
        lambda c, i: c.lock_action(i, LockAction.LOCK_N_GO),
        [UNLOCKING, UNLOCKED_LNG, LOCKING, LOCKED],
    ),
    (
        LOCKED,
        lambda c, i: c.lock_action(i, LockAction.LOCK_N_GO_UNLATCH),
        [UNLATCHING, UNLATCHED, UNLOCKED_LNG, LOCKING, LOCKED],
    ),
    (UNLOCKED, lambda c, i: c.simple_lock(i), [LOCKING, LOCKED]),
    (LOCKED, lambda c, i: c.simple_unlock(i), [UNLOCKING, UNLOCKED]),
]


@pytest.mark.parametrize(("start", "call", "states"), ACTIONS)
def test_every_action_moves_the_state_and_fires_callbacks(
    sim, client, receiver, start, call, states
):
    nuki_id = first_id(sim)
    sim.locks[nuki_id].state = start
    client.callback_add(receiver.url("/cb/s3cret"))

    result = call(client, nuki_id)
    assert result.success is True
    assert result.battery_critical is False

    final = states[-1]
    assert client.lock_state(nuki_id).state == final
    listed = {d.nuki_id: d for d in client.list_devices()}[nuki_id]
    assert listed.last_known_state.state == final

    def lock_states(events):
        collapsed = []  # door-sensor changes repeat the lock state
        for event in events:
            if not collapsed or collapsed[-1] != event["state"]:
                collapsed.append(event["state"])
        return collapsed

    assert receiver.wait_for(lambda events: len(lock_states(events)) >= len(states), 5)
    assert lock_states(receiver.events) == states
    assert CallbackEvent.from_json(receiver.events[-1]).state.state == final
    assert {e["nukiId"] for e in receiver.events} == {nuki_id}
    assert set(receiver.paths) == {"/cb/s3cret"}
    for event in receiver.events:
        assert set(event) == CALLBACK_FIELDS
        assert event["deviceType"] == 0


def test_unlatch_opens_and_closes_the_door_sensor(sim, client, receiver):
    nuki_id = first_id(sim)
    client.callback_add(receiver.url())
    client.unlatch(nuki_id)
    assert receiver.wait_for(lambda events: len(events) >= 4, 5)
    doors = [(e["state"], e["doorsensorState"]) for e in receiver.events]
    assert doors == [
        (UNLATCHING, DOOR_CLOSED),
        (UNLATCHED, DOOR_OPENED),
        (UNLOCKED, DOOR_OPENED),
        (UNLOCKED, DOOR_CLOSED),
    ]


def test_nowait_answers_at_once_and_the_lock_finishes_later(sim, client, receiver):
    sim.action_seconds = 0.4
    nuki_id = first_id(sim)
    client.callback_add(receiver.url())
    client.unlock(nuki_id, nowait=True)
    # Answered before the lock got anywhere.
    now = {d.nuki_id: d for d in client.list_devices()}[nuki_id].last_known_state
    assert now.state == UNLOCKING
    assert receiver.wait_for(lambda events: events and events[-1]["state"] == UNLOCKED, 3)

    started = time.monotonic()
    client.lock(nuki_id)  # waits for the lock
    assert time.monotonic() - started >= 0.4
    assert {d.nuki_id: d for d in client.list_devices()}[nuki_id].last_known_state.state == LOCKED


def test_callbacks_never_block_the_bridge(sim, make_client):
    gate = threading.Event()
    with CallbackReceiver(gate=gate) as stuck:
        client = make_client()
        client.callback_add(stuck.url())
        started = time.monotonic()
        client.unlock(first_id(sim))  # two state changes; the receiver answers neither yet
        assert time.monotonic() - started < 2.0
        assert sim.counters["callbacks_sent"] == 0
        assert client.lock_state(first_id(sim)).state == UNLOCKED
        gate.set()
        assert stuck.wait_for(lambda events: len(events) == 2, 5)
    assert [e["state"] for e in stuck.events] == [UNLOCKING, UNLOCKED]


def test_unknown_device_is_a_permanent_error(sim, client):
    with pytest.raises(BridgeError) as caught:
        client.unlock(123)
    assert caught.value.status == 404
    assert caught.value.permanent is True
    assert "Nuki ID 123" in caught.value.message


def test_invalid_action_is_refused(sim, client):
    with pytest.raises(BridgeError) as caught:
        client.lock_action(first_id(sim), 9)
    assert (caught.value.status, caught.value.permanent) == (400, True)


def test_an_offline_lock_fails_but_not_permanently(sim, client):
    nuki_id = first_id(sim)
    sim.set_offline(nuki_id)
    with pytest.raises(BridgeError) as caught:
        client.unlock(nuki_id)
    assert caught.value.permanent is False
    assert "Bluetooth range" in caught.value.fix
    with pytest.raises(BridgeError):
        client.lock_state(nuki_id)
    sim.set_offline(nuki_id, False)
    assert client.unlock(nuki_id).success


def test_unpair_removes_the_device(sim, client):
    nuki_id = first_id(sim)
    client.unpair(nuki_id)
    assert nuki_id not in [d.nuki_id for d in client.list_devices()]
    with pytest.raises(BridgeError) as caught:
        client.lock_state(nuki_id)
    assert caught.value.status == 404


def test_third_party_parameter_spelling_no_wait(sim):
    # pynuki (Home Assistant) sends noWait=1 and an extra bridgeType on /info.
    nuki_id = first_id(sim)
    sim.action_seconds = 0.4
    params = {"token": sim.token, "nukiId": nuki_id, "deviceType": 0, "action": 1, "noWait": 1}
    answer = raw_get(sim, "/lockAction", params)
    assert answer.status_code == 200
    assert answer.json() == {"success": True, "batteryCritical": False}
    assert sim.locks[nuki_id].state == UNLOCKING  # answered without waiting
    info = raw_get(sim, "/info", {"token": sim.token, "bridgeType": 1})
    assert info.status_code == 200 and info.json()["bridgeType"] == 1


# Bridge endpoints ----------------------------------------------------------------------------


def test_info(sim, client):
    info = client.info()
    assert info.bridge_type == 1
    assert info.hardware_id == sim.hardware_id
    assert info.server_id == sim.server_id
    assert info.firmware_version and info.wifi_firmware_version
    assert info.uptime is not None and info.uptime >= 0
    assert abs(info.current_time.timestamp() - time.time()) < 5
    assert info.server_connected is True
    assert [s.nuki_id for s in info.scan_results] == list(sim.locks)
    assert all(s.paired and s.rssi < 0 for s in info.scan_results)


def test_log_pages_newest_first_and_clears(sim, client):
    nuki_id = first_id(sim)
    client.unlock(nuki_id)  # unlocking, unlocked
    client.lock(nuki_id)  # locking, locked
    entries = client.log()
    assert [e.fields["state"] for e in entries] == [LOCKED, LOCKING, UNLOCKED, UNLOCKING]
    assert all(e.type == "lock-state-changed" for e in entries)
    assert all(e.fields["nukiId"] == nuki_id for e in entries)
    times = [e.timestamp for e in entries]
    assert times == sorted(times, reverse=True)
    assert [e.fields["state"] for e in client.log(offset=1, count=2)] == [LOCKING, UNLOCKED]
    assert client.log(offset=4) == []
    client.clear_log()
    assert client.log() == []


def test_callbacks_add_list_remove_and_at_most_three(sim, client, receiver):
    urls = [receiver.url(f"/cb/{i}") for i in range(4)]
    for url in urls[:3]:
        client.callback_add(url)
    assert [(c.id, c.url) for c in client.callback_list()] == list(enumerate(urls[:3]))

    with pytest.raises(BridgeError) as caught:
        client.callback_add(urls[3])
    assert caught.value.permanent is True
    assert "too many" in caught.value.message
    assert "at most 3" in caught.value.fix

    with pytest.raises(BridgeError, match="already"):
        client.callback_add(urls[0])
    client.callback_remove(1)
    assert [c.url for c in client.callback_list()] == [urls[0], urls[2]]
    client.callback_add(urls[3])  # takes the free id 1
    assert {c.id: c.url for c in client.callback_list()} == {0: urls[0], 1: urls[3], 2: urls[2]}

    with pytest.raises(BridgeError, match="not remove callback 7"):
        client.callback_remove(7)

    # The bridge calls every registered URL.
    client.unlock(first_id(sim))
    assert receiver.wait_for(lambda events: len(events) == 6, 5)  # 2 changes x 3 URLs
    assert sorted(set(receiver.paths)) == ["/cb/0", "/cb/2", "/cb/3"]


def test_callback_urls_must_be_http_and_short(sim, client):
    with pytest.raises(BridgeError, match="http://") as caught:
        client.callback_add("https://example.com/cb")
    assert caught.value.permanent is True
    with pytest.raises(BridgeError, match="254"):
        client.callback_add("http://example.com/" + "x" * 240)
    assert sim.counters["endpoint:/callback/add"] == 0  # refused before calling the bridge
    # The simulator refuses them too, for clients that do not check.
    for url in ("https://example.com/cb", "http://example.com/" + "x" * 240):
        answer = raw_get(sim, "/callback/add", {"token": sim.token, "url": url})
        assert answer.json()["success"] is False
    assert client.callback_list() == []


def test_auth_needs_the_button(sim, make_client):
    client = make_client(token="")  # no token yet
    started = time.monotonic()
    with pytest.raises(BridgeError) as caught:
        client.auth()
    assert time.monotonic() - started >= 0.5  # the bridge waited for the button
    assert "press" in caught.value.fix and caught.value.permanent is False

    threading.Timer(0.2, sim.press_button).start()
    assert client.auth() == sim.token
    # One press grants one /auth.
    with pytest.raises(BridgeError):
        client.auth()
    # A press just before the request counts (the LED window), also through the HTTP hook.
    RAW.post(sim.url + "/__sim__/press-button")
    assert client.auth() == sim.token
    assert sim.counters["auth_granted"] == 2


def test_auth_can_be_switched_off(sim, make_client, client):
    client.config_auth(False)
    sim.press_button()
    with pytest.raises(BridgeError) as caught:
        make_client(token="").auth()
    assert (caught.value.status, caught.value.permanent) == (403, True)
    client.config_auth(True)
    assert make_client(token="").auth() == sim.token
    bad = raw_get(sim, "/configAuth", {"token": sim.token, "enable": "2"})
    assert bad.status_code == 400


def test_signed_calls_without_a_token_fail_plainly(sim, make_client):
    with pytest.raises(BridgeError, match="No API token") as caught:
        make_client(token="").list_devices()
    assert caught.value.permanent is True
    assert sim.counters["requests"] == 0


def test_maintenance_endpoints(sim, client):
    client.callback_add("http://127.0.0.1:9/cb")
    client.fw_update()
    client.reboot()
    client.factory_reset()
    assert sim.counters["fw_updates"] == 1
    assert sim.counters["reboots"] == 1
    assert sim.counters["factory_resets"] == 1
    assert client.callback_list() == []


# Failures ------------------------------------------------------------------------------------


def test_the_token_never_reaches_the_logs(sim, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    make_client(token_mode="plain").list_devices()
    make_client(token_mode="hashed").list_devices()
    with pytest.raises(BridgeError):
        make_client(token="wrong-" + sim.token, token_mode="plain").info()
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx2"]
    assert any("/list?token=***" in line for line in httpx_lines)
    assert any("hash=***" in line for line in httpx_lines)
    assert sim.token not in caplog.text


def test_bridge_errors_survive_pickling():
    error = BridgeError("gone", fix="plug it in", permanent=True, status=404, endpoint="/list")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.fix, copy.permanent, copy.status, copy.endpoint) == (
        "gone",
        "plug it in",
        True,
        404,
        "/list",
    )


def test_every_call_has_a_timeout_and_timeouts_are_retried(sim, make_client):
    sim.latency = 0.3
    # Waits long enough between tries for the bridge to finish the abandoned request.
    retry = RetryPolicy(attempts=3, base_delay=0.3, jitter=0.0)
    client = make_client(timeout=0.1, retry=retry)
    started = time.monotonic()
    with pytest.raises(BridgeError) as caught:
        client.list_devices()
    assert time.monotonic() - started < 2.0
    assert caught.value.permanent is False
    assert caught.value.status is None
    # One sentence for every failed connection (no port scanner): the cause is in `detail`.
    assert caught.value.message == UNREACHABLE and "Timeout" in caught.value.detail
    assert sim.counters["endpoint:/list"] == 3
    assert sim.counters["busy"] == 0


def test_calls_that_must_not_repeat_are_not_retried_after_a_timeout(sim, make_client):
    sim.latency = 0.5
    client = make_client(timeout=0.1, retry=RetryPolicy(attempts=3, base_delay=0.01))
    with pytest.raises(BridgeError, match=UNREACHABLE):
        client.callback_add("http://127.0.0.1:9/cb")
    assert sim.counters["endpoint:/callback/add"] == 1


def test_an_unreachable_bridge(sim):
    port = sim.port
    sim.stop()
    with (
        BridgeClient(
            "127.0.0.1", "t", port=port, retry=RetryPolicy(attempts=2, base_delay=0.01)
        ) as client,
        pytest.raises(BridgeError) as caught,
    ):
        client.list_devices()
    assert caught.value.permanent is False
    assert caught.value.message == UNREACHABLE and "ConnectError" in caught.value.detail
    sim.start()  # for the fixture's stop()
