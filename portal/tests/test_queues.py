"""Queues per channel: every task and every beat entry lands on its queue, and a lock command
on the queue of its lock's driver (sent to a real Redis, read back from the queue's key)."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from django.conf import settings
from django.utils import timezone

from locks.models import Bridge, CommandKind, Lock, LockCommand
from locks.sync import outbox

# Every task of ours and its channel: a new task must be given one here (and in settings).
EXPECTED = {
    "locks.tasks.run_command": "codes",  # the default: lock commands pick their driver's queue
    "locks.tasks.run_commands": "codes",
    "locks.tasks.nuki_web_setup": "codes",
    "bookings.tasks.replan_stay": "codes",
    "locks.tasks.bridge_connect": "bridge",
    "locks.tasks.sync_bridge_logs": "bridge",  # a beat entry, but it waits on bridges
    "locks.tasks.sync_bridge_log": "bridge",  # one bridge's log
    "locks.tasks.sync_nuki_web_logs": "codes",  # one Nuki Web account's logs
    "bookings.tasks.send_access_email": "mail",
    "bookings.pms.tasks.process_pms_event": "ingest",
    "bookings.ical.tasks.fetch_feed": "ingest",
    "locks.tasks.sweep_commands": "periodic",
    "locks.tasks.plan_due_codes": "periodic",
    "locks.tasks.reconcile_all": "periodic",
    "bookings.ical.tasks.poll_due_feeds": "periodic",
    "bookings.pms.tasks.sweep_pms_events": "periodic",
    "bookings.tasks.alert_unset_codes": "periodic",
    "bookings.tasks.assign_backup_codes": "periodic",
    "bookings.tasks.apply_retention": "periodic",
}


def _queue_of(task: str, options: dict | None = None) -> str:
    from portal.celery import app

    return app.amqp.router.route(dict(options or {}), task, (), {})["queue"].name


def test_every_task_is_routed_to_its_queue():
    from portal.celery import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.split(".")[0] in ("locks", "bookings", "portal")}
    assert ours == set(EXPECTED), "a task without a queue of its own (add it to both lists)"
    routed = {name: _queue_of(name) for name in ours}
    assert routed == {name: settings.LATCHKEY_QUEUES[ch] for name, ch in EXPECTED.items()}


def test_beat_entries_go_to_the_periodic_queue_except_the_bridges_log_sync():
    """Beat's sweeps and planning never wait behind lock work; the bridges' log sync waits on
    bridges, so it runs with them."""
    queues = {
        name: _queue_of(entry["task"], entry.get("options"))
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    }
    periodic = settings.LATCHKEY_QUEUES["periodic"]
    assert {n: q for n, q in queues.items() if q != periodic} == {
        "sync-bridge-logs": settings.LATCHKEY_QUEUES["bridge"]
    }
    assert "sweep-lost-commands" in queues and "plan-due-codes" in queues


def test_a_worker_without_q_consumes_every_queue():
    """`make run`'s single `celery -A portal worker` and the tests' Worker run everything: with
    no -Q, a worker consumes app.amqp.queues, which is every queue declared here (a real one
    answers /healthz with "ok": locks/tests/engine/test_queue_starvation.py)."""
    from portal.celery import app

    assert set(app.amqp.queues) == set(settings.LATCHKEY_QUEUES.values())
    assert len(settings.LATCHKEY_QUEUES) == 6
    assert "worker: celery -A portal worker " in (settings.BASE_DIR / "Procfile").read_text()
    assert " -Q" not in (settings.BASE_DIR / "Procfile").read_text()


def test_the_queue_prefix_keeps_benchmarks_apart():
    """LATCHKEY_QUEUE prefixes every name (bench/_common.py gives each benchmark its own)."""
    import os
    import subprocess
    import sys

    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.LATCHKEY_QUEUES, s.CELERY_TASK_DEFAULT_QUEUE, "
        "s.CELERY_TASK_ROUTES['locks.tasks.sweep_commands']]))"
    )
    env = {**os.environ, "LATCHKEY_QUEUE": "bench-x", "DJANGO_SETTINGS_MODULE": "portal.settings"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    queues, default, route = json.loads(out.strip().splitlines()[-1])
    assert queues["bridge"] == "bench-x-bridge" and len(queues) == 6
    assert default == "bench-x-codes"
    assert route == {"queue": "bench-x-periodic"}


# --- lock commands, sent to a real Redis -------------------------------------------------------


@pytest.fixture
def broker():
    from conftest import REQUIRE_SERVICES, services_available

    if not services_available():
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL and Redis are required for the integration tests")
        pytest.skip("needs Redis (CELERY_BROKER_URL)")
    import redis

    from portal.testing import purge_queues

    purge_queues()
    yield redis.Redis.from_url(settings.CELERY_BROKER_URL)
    purge_queues()


def _sent(broker) -> dict[str, list[tuple[str, list[int]]]]:
    """What each queue holds: (task, command ids) per message, read from Redis."""
    out: dict[str, list[tuple[str, list[int]]]] = {}
    for channel, name in settings.LATCHKEY_QUEUES.items():
        for raw in broker.lrange(name, 0, -1):
            message = json.loads(raw)
            args = json.loads(base64.b64decode(message["body"]))[0]
            ids = args[0] if isinstance(args[0], list) else [args[0]]
            out.setdefault(channel, []).append((message["headers"]["task"], sorted(ids)))
    return {channel: sorted(messages, key=lambda m: m[1]) for channel, messages in out.items()}


@pytest.fixture
def driver_locks(world):
    bridge = Bridge.objects.create(
        organization=world.org, name="B", host="192.168.1.20", port=8080, token="t"
    )
    return {
        "virtual": Lock.objects.create(organization=world.org, name="V", driver="virtual"),
        "nuki_web": Lock.objects.create(organization=world.org, name="W", driver="nuki_web"),
        "bridge_http": Lock.objects.create(
            organization=world.org, name="H", driver="bridge_http", bridge=bridge, nuki_id=1
        ),
        "ble_agent": Lock.objects.create(
            organization=world.other_org, name="L", driver="ble_agent"
        ),
    }


@pytest.mark.integration  # tasks go to the broker, not run in-process
@pytest.mark.django_db
def test_a_lock_command_goes_to_its_drivers_queue(broker, driver_locks, commit):
    with commit():
        ids = {
            kind: outbox.command_enqueue(lock=lock, kind=CommandKind.RECONCILE).pk
            for kind, lock in driver_locks.items()
        }
    assert _sent(broker) == {
        "codes": [
            ("locks.tasks.run_command", [ids["virtual"]]),
            ("locks.tasks.run_command", [ids["nuki_web"]]),
        ],
        "bridge": [("locks.tasks.run_command", [ids["bridge_http"]])],
        "agent": [("locks.tasks.run_command", [ids["ble_agent"]])],
    }


@pytest.mark.integration
@pytest.mark.django_db
def test_commands_sent_together_or_by_the_sweep_are_split_by_queue(broker, driver_locks, commit):
    """One message per queue when the driver is not given (its lock is looked up), and the
    sweep's re-sends go to the same queues as the first message."""
    rows = LockCommand.objects.bulk_create(
        LockCommand(organization_id=lock.organization_id, lock=lock, kind=CommandKind.RECONCILE)
        for lock in driver_locks.values()
    )
    ids = dict(zip(driver_locks, (row.pk for row in rows), strict=True))
    with commit():
        outbox.dispatch_many(list(ids.values()))
    together = _sent(broker)
    assert together == {
        "codes": [("locks.tasks.run_commands", sorted([ids["virtual"], ids["nuki_web"]]))],
        "bridge": [("locks.tasks.run_command", [ids["bridge_http"]])],
        "agent": [("locks.tasks.run_command", [ids["ble_agent"]])],
    }

    from portal.testing import purge_queues

    purge_queues()
    LockCommand.objects.filter(pk__in=ids.values()).update(
        next_attempt_at=timezone.now() - dt.timedelta(minutes=5)
    )
    with commit():
        assert outbox.sweep()["redispatched"] == 4
    swept = _sent(broker)
    assert {ch: sorted(i for _, ids_ in msgs for i in ids_) for ch, msgs in swept.items()} == {
        "codes": sorted([ids["virtual"], ids["nuki_web"]]),
        "bridge": [ids["bridge_http"]],
        "agent": [ids["ble_agent"]],
    }


def test_compose_runs_one_worker_service_per_queue_and_pings_its_own_node():
    """`docker compose up --scale worker-bridge=3` scales one queue; each service's healthcheck
    pings its own node name (on one host, a ping of any worker would pass for a dead one)."""
    import yaml

    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "worker" not in services
    consumed = {}
    for name, service in services.items():
        command = service.get("command") or []
        if command[:4] != ["celery", "-A", "portal", "worker"]:
            continue
        queue = command[command.index("-Q") + 1]
        node = command[command.index("-n") + 1]
        assert name == f"worker-{queue}" and node == f"{queue}@%h"
        assert f"-d {queue}@$$HOSTNAME" in service["healthcheck"]["test"][1]
        assert service["depends_on"] == {"migrate": {"condition": "service_completed_successfully"}}
        consumed[queue] = name
    assert set(consumed) == set(settings.LATCHKEY_CHANNELS)
