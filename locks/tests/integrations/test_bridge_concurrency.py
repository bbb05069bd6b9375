"""One request at a time per bridge: the simulator's 503, the client's retry, and the
per-bridge locks across threads and processes (over loopback HTTP; Redis when reachable)."""

import multiprocessing
import threading
import time
import uuid

import httpx2
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from locks.nuki.bridge import (
    NO_RETRY,
    BridgeClient,
    BridgeError,
    LocalBridgeLock,
    LockAction,
    RedisBridgeLock,
    RetryPolicy,
)
from locks.simulators.bridge import BridgeSimulator

FAST_RETRY = RetryPolicy(attempts=8, base_delay=0.02, max_delay=0.3)
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@pytest.fixture
def sim():
    with BridgeSimulator(locks=2, action_seconds=0.02) as simulator:
        yield simulator


@pytest.fixture
def redis_client():
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.exceptions.RedisError:
        from conftest import REQUIRE_SERVICES

        if REQUIRE_SERVICES:  # on CI a missing Redis is a failure, not a skip
            pytest.fail(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}")
        pytest.skip(f"Redis is not reachable at {REDIS_HOST}:{REDIS_PORT}")
    yield client
    client.close()


def get(url, params):
    return httpx2.get(url, params=params, timeout=5, trust_env=False)


def run_in_threads(count, target):
    """Start `count` threads on target(index, barrier) at the same moment; return results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            results[index] = target(index, barrier)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


# The bridge itself ---------------------------------------------------------------------------


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_a_second_concurrent_request_gets_503(sim):
    sim.action_seconds = 0.5
    nuki_id = next(iter(sim.locks))
    answers = {}

    def slow_action():
        params = {"token": sim.token, "nukiId": nuki_id, "deviceType": 0, "action": 1}
        answers["action"] = get(sim.url + "/lockAction", params)

    first = threading.Thread(target=slow_action)
    first.start()
    wait_until(lambda: sim.counters["endpoint:/lockAction"] == 1)  # the action is under way
    answers["list"] = get(sim.url + "/list", {"token": sim.token})
    first.join()
    assert answers["list"].status_code == 503
    assert answers["action"].status_code == 200
    assert sim.max_concurrent_seen == 2
    assert sim.counters["busy"] == 1
    # Once the first has finished, the bridge serves again.
    assert get(sim.url + "/list", {"token": sim.token}).status_code == 200


def test_the_radio_runs_one_lock_command_at_a_time(sim):
    sim.action_seconds = 0.5
    nuki_id = next(iter(sim.locks))
    base = {"token": sim.token, "nukiId": nuki_id, "deviceType": 0}
    started = get(sim.url + "/lockAction", {**base, "action": 1, "nowait": 1})
    assert started.status_code == 200
    # The HTTP side is free (nowait), the Bluetooth side is not: cached /list works, commands
    # to a lock are refused until the action is done.
    assert get(sim.url + "/list", {"token": sim.token}).status_code == 200
    assert get(sim.url + "/lockState", base).status_code == 503
    assert get(sim.url + "/lockAction", {**base, "action": 2}).status_code == 503
    wait_until(lambda: sim.locks[nuki_id].state == 3)
    assert get(sim.url + "/lockState", base).json()["state"] == 3


def test_the_client_retries_503_until_both_succeed(sim):
    sim.action_seconds = 0.5
    nuki_ids = list(sim.locks)

    def act(index, barrier):
        # Separate lock factories: nothing serializes these two clients but the bridge's 503.
        with BridgeClient.from_url(
            sim.url, sim.token, lock_factory=LocalBridgeLock(), retry=FAST_RETRY
        ) as client:
            barrier.wait()
            return client.unlock(nuki_ids[index])

    results = run_in_threads(2, act)
    assert [r.success for r in results] == [True, True]
    assert sim.counters["busy"] >= 1  # one of them was refused at least once ...
    assert sim.counters["actions"] == 2  # ... and both actions were carried out
    states = {lock.nuki_id: lock.state for lock in sim.locks.values()}
    assert states == {nuki_ids[0]: 3, nuki_ids[1]: 3}


def test_without_retries_the_503_surfaces_as_a_temporary_error(sim):
    sim.action_seconds = 0.5
    nuki_ids = list(sim.locks)

    def act(index, barrier):
        with BridgeClient.from_url(
            sim.url, sim.token, lock_factory=LocalBridgeLock(), retry=NO_RETRY
        ) as client:
            barrier.wait()
            return client.unlock(nuki_ids[index])

    results = run_in_threads(2, act)
    errors = [r for r in results if isinstance(r, BridgeError)]
    assert len(errors) == 1
    assert errors[0].status == 503
    assert errors[0].permanent is False
    assert "busy" in errors[0].message


# The per-bridge lock -------------------------------------------------------------------------


def twenty_actions(sim, lock_factory_for, retry):
    nuki_ids = list(sim.locks)

    def act(index, barrier):
        with BridgeClient.from_url(
            sim.url, sim.token, lock_factory=lock_factory_for(index), retry=retry
        ) as client:
            barrier.wait()
            action = LockAction.UNLOCK if index % 4 < 2 else LockAction.LOCK
            return client.lock_action(nuki_ids[index % 2], action)

    return run_in_threads(20, act)


def test_twenty_threads_sharing_a_lock_never_overlap(sim):
    shared = LocalBridgeLock()
    # No retries: a single 503 would fail an action.
    results = twenty_actions(sim, lambda index: shared, NO_RETRY)
    assert [getattr(r, "success", r) for r in results] == [True] * 20
    assert sim.max_concurrent_seen == 1
    assert sim.counters["busy"] == 0
    assert sim.counters["actions"] == 20


def test_control_twenty_threads_without_a_shared_lock_do_overlap(sim):
    # Shows that the test above can fail: the same load, one lock factory per client.
    results = twenty_actions(sim, lambda index: LocalBridgeLock(), NO_RETRY)
    assert sim.max_concurrent_seen >= 2
    assert sim.counters["busy"] >= 1
    assert any(isinstance(r, BridgeError) and r.status == 503 for r in results)


def test_the_wait_for_the_lock_is_bounded(sim):
    factory = LocalBridgeLock(blocking_timeout=0.2)
    with BridgeClient.from_url(sim.url, sim.token, lock_factory=factory) as client:
        with factory(client.key):  # someone else is talking to this bridge
            started = time.monotonic()
            with pytest.raises(BridgeError) as caught:
                client.list_devices()
            assert 0.2 <= time.monotonic() - started < 2.0
        assert caught.value.permanent is False
        assert "more than 0.2 seconds" in caught.value.message
        assert caught.value.endpoint == "/list"
        assert sim.counters["requests"] == 0
        assert client.list_devices()  # released: works again


def test_locks_are_per_bridge(sim):
    factory = LocalBridgeLock(blocking_timeout=0.2)
    with (
        BridgeClient.from_url(sim.url, sim.token, lock_factory=factory) as client,
        factory("192.0.2.1:8080"),  # another bridge is busy
    ):
        assert client.list_devices()


# Across processes, through Redis ---------------------------------------------------------------


def _process_worker(url, token, nuki_id, prefix, use_redis, barrier, results, count):
    if use_redis:
        factory = RedisBridgeLock(
            redis.Redis(host=REDIS_HOST, port=REDIS_PORT),
            prefix=prefix,
            timeout=10,
            blocking_timeout=30,
        )
    else:
        factory = LocalBridgeLock()  # serializes nothing across processes
    outcomes = []
    with BridgeClient.from_url(url, token, lock_factory=factory, retry=NO_RETRY) as client:
        barrier.wait()
        for i in range(count):
            action = LockAction.UNLOCK if i % 2 == 0 else LockAction.LOCK
            try:
                client.lock_action(nuki_id, action)
                outcomes.append("ok")
            except BridgeError as exc:
                outcomes.append(f"{exc.status}: {exc.message}")
    results.put(outcomes)


def run_in_processes(sim, use_redis, processes=4, count=5):
    # forkserver: real, separate processes forked from a clean single-threaded server (not
    # from this process, which runs the simulator's threads), with the imports done once.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    prefix = f"latchkey-test:{uuid.uuid4().hex}:"
    args = (sim.url, sim.token, next(iter(sim.locks)), prefix, use_redis, barrier, results, count)
    workers = [ctx.Process(target=_process_worker, args=args) for _ in range(processes)]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
        assert worker.exitcode == 0
    return [outcome for worker_outcomes in outcomes for outcome in worker_outcomes]


def test_redis_lock_serializes_four_processes(sim, redis_client):
    outcomes = run_in_processes(sim, use_redis=True)
    assert outcomes == ["ok"] * 20
    assert sim.max_concurrent_seen == 1
    assert sim.counters["busy"] == 0
    assert sim.counters["actions"] == 20


def test_control_four_processes_without_redis_do_overlap(sim, redis_client):
    sim.action_seconds = 0.05
    outcomes = run_in_processes(sim, use_redis=False)
    assert sim.max_concurrent_seen >= 2
    assert any(outcome.startswith("503") for outcome in outcomes)


def test_redis_lock_wait_is_bounded(sim, redis_client):
    prefix = f"latchkey-test:{uuid.uuid4().hex}:"
    factory = RedisBridgeLock(redis_client, prefix=prefix, timeout=5, blocking_timeout=0.2)
    with BridgeClient.from_url(sim.url, sim.token, lock_factory=factory) as client:
        holder = redis_client.lock(prefix + client.key, timeout=5)
        assert holder.acquire(blocking=False)  # another process holds this bridge
        try:
            with pytest.raises(BridgeError, match=r"more than 0\.2 seconds") as caught:
                client.list_devices()
            assert caught.value.permanent is False
        finally:
            holder.release()
        assert client.list_devices()
    assert sim.counters["requests"] == 1


def test_redis_down_is_a_plain_temporary_error(sim):
    dead = redis.Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    factory = RedisBridgeLock(dead, blocking_timeout=0.2)
    with (
        BridgeClient.from_url(sim.url, sim.token, lock_factory=factory) as client,
        pytest.raises(BridgeError, match="Could not reach Redis") as caught,
    ):
        client.list_devices()
    assert caught.value.permanent is False
    assert sim.counters["requests"] == 0
