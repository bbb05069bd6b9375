"""Remote lock actions per second through the whole portal against one simulated bridge.

Why: a bridge serves one request at a time, so its own serial rate is the ceiling for every lock
behind it. The portal adds an API call, an outbox row, a Celery task, a claim and a Redis lock
per action; this shows how much of the bridge's capacity survives that. Both figures are
measured in the same run against the same simulator, whose lock action takes 200 ms:

- serial limit: one client sending actions back to back, straight to the bridge;
- achieved: 40 actions POSTed at once to /api/v1/locks/{id}/actions/, run by two Celery worker
  processes (concurrency 2 each); from the first POST to the last action done.

Every action, in both runs, unlocks a different locked lock, so each one is a real 200 ms
movement (the simulator answers at once when a lock is already in the asked state).

Target: achieved / serial >= 0.8. Also checks the bridge never saw two requests at once.

Run: .venv/bin/python bench/bridge_actions.py
"""

from __future__ import annotations

import json
import sys
import time

import _common as common
import httpx2

DATABASE = "latchkey_bench_bridge"
BROKER_DB = 9
CACHE_DB = 10
ACTION_SECONDS = 0.2
SERIAL_ACTIONS = 15
ACTIONS = 40
TARGET_RATIO = 0.8


def serial_rate(sim) -> float:
    """Actions per second of one client talking straight to the bridge, back to back."""
    from locks.nuki.bridge import BridgeClient, LocalBridgeLock, LockAction

    nuki_ids = sorted(sim.locks)[-SERIAL_ACTIONS:]
    client = BridgeClient("127.0.0.1", sim.token, port=sim.port, lock_factory=LocalBridgeLock())
    started = time.perf_counter()
    for nuki_id in nuki_ids:
        client.lock_action(nuki_id, LockAction.UNLOCK)
    elapsed = time.perf_counter() - started
    client.close()
    return SERIAL_ACTIONS / elapsed


def setup_data(sim) -> tuple[str, list[int]]:
    from locks.integrations.bridge.services import bridge_import
    from locks.models import Bridge, Lock
    from portal.services import api_key_create, organization_create

    org, _, _ = organization_create(
        name="Bench Bridge", owner_email="owner@bench.invalid", owner_password="bench-pass-123"
    )
    bridge = Bridge.objects.create(
        organization=org, name="Bench bridge", host="127.0.0.1", port=sim.port, token=sim.token
    )
    bridge_import(bridge=bridge)
    _, key = api_key_create(organization=org, scope="write")
    locks = Lock.objects.filter(bridge=bridge, state="locked").order_by("nuki_id")
    return key, list(locks.values_list("pk", flat=True))[:ACTIONS]


def main() -> int:
    common.exit_on_sigterm()
    env = common.bench_env(
        database=DATABASE,
        broker_db=BROKER_DB,
        cache_db=CACHE_DB,
        LATCHKEY_ACTION_RATE="1000000/min",
        LATCHKEY_ALLOW_PRIVATE_URLS="true",  # the bridge simulator is on loopback
    )
    common.recreate_database(DATABASE)
    common.purge_redis(BROKER_DB, CACHE_DB)
    common.setup_django(env)
    common.migrate()
    from locks.models import CommandStatus, LockCommand
    from locks.simulators.bridge import BridgeSimulator

    sim = BridgeSimulator(
        locks=ACTIONS + SERIAL_ACTIONS, action_seconds=ACTION_SECONDS, token="bench-token"
    ).start()
    services = []
    try:
        key, lock_ids = setup_data(sim)
        serial = serial_rate(sim)
        common.close_django_connections()
        port = common.free_port()
        services.append(common.start_gunicorn(env, port=port, workers=2, threads=4))
        for n in range(2):
            argv = [str(common.BIN / "celery"), "-A", "portal", "worker", "--concurrency", "2",
                    "-l", "warning", "--hostname", f"bench{n}@%h"]  # fmt: skip
            services.append(common.start_service(f"worker{n}", argv, env))
        headers = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{port}"
        common.wait_http(services[0], f"{base}/api/v1/ping/", headers=headers)
        time.sleep(3)  # workers connected
        sim.max_concurrent_seen = 0
        before = sim.counters["endpoint:/lockAction"]
        ids = []
        with httpx2.Client(base_url=base, headers=headers, timeout=10) as api:
            started = time.time()
            for lock_id in lock_ids:
                res = api.post(f"/api/v1/locks/{lock_id}/actions/", json={"action": "unlock"})
                res.raise_for_status()
                ids.append(res.json()["id"])
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            open_ = LockCommand.objects.filter(
                pk__in=ids, status__in=[CommandStatus.PENDING, CommandStatus.RUNNING]
            ).count()
            if not open_:
                break
            time.sleep(0.2)
        rows = list(LockCommand.objects.filter(pk__in=ids).values_list("status", "finished_at"))
        failed = sum(1 for status, _ in rows if status != CommandStatus.SUCCEEDED)
        last = max(f for _, f in rows if f is not None).timestamp()
        achieved = ACTIONS / (last - started)
        ratio = achieved / serial
        sent = sim.counters["endpoint:/lockAction"] - before
        print(f"bridge action time:        {ACTION_SECONDS * 1000:.0f} ms")
        print(f"serial limit (direct):     {serial:.2f} actions/s")
        print(f"achieved through portal:   {achieved:.2f} actions/s ({ACTIONS} actions)")
        print(f"ratio:                     {ratio:.2f} (target >= {TARGET_RATIO})")
        print(f"failed actions:            {failed}")
        moved = sum(1 for lk in sim.locks.values() if lk.state == 3)
        print(f"locks unlocked:            {moved} (must be {ACTIONS + SERIAL_ACTIONS})")
        print(f"bridge requests at once:   {sim.max_concurrent_seen} (must be 1); "
              f"/lockAction calls {sent}")  # fmt: skip
        ok = (
            ratio >= TARGET_RATIO
            and failed == 0
            and sim.max_concurrent_seen == 1
            and moved == ACTIONS + SERIAL_ACTIONS
        )
        print(json.dumps({"serial_per_s": round(serial, 2), "achieved_per_s": round(achieved, 2),
                          "ratio": round(ratio, 3), "failed": failed,
                          "max_concurrent": sim.max_concurrent_seen, "ok": ok}))  # fmt: skip
        return 0 if ok else 1
    finally:
        for service in services:
            service.stop()
        sim.stop()
        common.purge_redis(BROKER_DB, CACHE_DB)


if __name__ == "__main__":
    sys.exit(main())
