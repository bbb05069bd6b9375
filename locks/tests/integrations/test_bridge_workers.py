"""20 actions for the locks of one bridge, issued at once and run by several real Celery worker
processes: all succeed, and the bridge (simulator) never sees two requests at the same time.
Needs PostgreSQL and Redis (the cross-process bridge lock is a Redis lock)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest

from locks.integrations.bridge.services import bridge_import
from locks.models import Bridge, CommandStatus, Lock, LockCommand
from locks.simulators.bridge import BridgeSimulator
from portal.testing import Worker, database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def services():
    from conftest import REQUIRE_SERVICES, services_available

    if not services_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL and Redis are required for the integration tests")
        pytest.skip("needs PostgreSQL (DATABASE_URL) and Redis (CELERY_BROKER_URL)")
    from portal.testing import purge_queues

    purge_queues()


def test_twenty_actions_from_several_workers_never_overlap(services, world, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the simulator is on loopback, here and in
    allow = {"LATCHKEY_ALLOW_PRIVATE_URLS": "true"}  # the workers (refused by default)
    sim = BridgeSimulator(locks=5, action_seconds=0.2, token="tok-workers").start()
    workers = []
    try:
        bridge = Bridge.objects.create(
            organization=world.org, name="B", host="127.0.0.1", port=sim.port, token=sim.token
        )
        bridge_import(bridge=bridge)
        locks = list(Lock.objects.filter(bridge=bridge))
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(3):
                w = Worker(
                    Path(tmp), database_url=database_url(), concurrency=2, beat=False, env=allow
                )
                w.start()
                workers.append(w)
            time.sleep(3)  # let the workers connect before the burst
            api = world.api(world.write_key)

            ids = []
            for i in range(20):
                lock = locks[i % len(locks)]
                res = api.post(
                    f"/api/v1/locks/{lock.pk}/actions/",
                    {"action": "unlock" if i % 2 == 0 else "lock"},
                    format="json",
                )
                assert res.status_code == 202, res.content
                ids.append(res.json()["id"])
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = LockCommand.objects.filter(pk__in=ids).exclude(
                    status__in=[CommandStatus.PENDING, CommandStatus.RUNNING]
                )
                if done.count() == len(ids):
                    break
                time.sleep(0.2)
            statuses = dict(LockCommand.objects.filter(pk__in=ids).values_list("pk", "status"))
            reasons = list(LockCommand.objects.filter(pk__in=ids).values_list("reason", flat=True))
            assert set(statuses.values()) == {CommandStatus.SUCCEEDED}, (statuses, reasons)
            assert sim.max_concurrent_seen == 1
            assert sim.counters["endpoint:/lockAction"] == 20
    finally:
        for w in workers:
            w.stop()
        sim.stop()
