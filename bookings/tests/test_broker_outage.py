"""A stored change answers 2xx when the broker is down; the sweep sends its message later.

- unit: the broker refuses every publish: POST /api/v1/bookings/ answers 201 with its codes
  `setting`, the commands wait in the outbox, and the sweep (as beat runs it) sets the code;
- integration: a real gunicorn whose broker is a closed port takes the booking; then Redis is
  started on that port with a real worker and its beat: the code reaches `set` by itself;
- a silent broker (accepts, never answers) fails a publish within seconds, not forever.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import httpx2
import pytest
from django.db import connection
from django.utils import timezone
from kombu.exceptions import OperationalError

from locks.models import CommandStatus, LockCommand, VirtualLockCode
from locks.sync import outbox
from portal.testing import ROOT, Worker, database_url, days_from_now

REFUSED = "Error 111 connecting to 127.0.0.1:1. Connection refused."


def booking_body(prop, **over):
    # Checks in tomorrow (15:00 Vienna): inside the 72 h preload horizon at any hour, so its
    # code goes to the locks at once.
    body = {
        "external_id": "OUTAGE-1",
        "property": prop.pk,
        "status": "confirmed",
        "check_in": str(days_from_now(1)),
        "check_out": str(days_from_now(3)),
        "guest": {"name": "Olga Outage", "email": "olga@example.com"},
    }
    body.update(over)
    return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=30.0, every=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_booking_answers_201_with_codes_setting_when_the_broker_refuses(
    world, prop, locks, monkeypatch, caplog
):
    from celery.app.task import Task

    def refuse(self, *args, **kwargs):
        raise OperationalError(REFUSED)

    monkeypatch.setattr(Task, "apply_async", refuse)
    res = world.api(world.write_key).post("/api/v1/bookings/", booking_body(prop), format="json")

    assert res.status_code == 201, res.content
    assert {a["state"] for a in res.json()["access"]} == {"setting"}
    pending = LockCommand.objects.filter(lock__in=locks, status=CommandStatus.PENDING, attempts=0)
    assert pending.count() == 2  # stored with the booking, waiting for the sweep
    assert "not queued: the broker cannot be reached (OperationalError)" in caplog.text
    code = res.json()["access"][0]["code"]
    assert code and code not in caplog.text

    # Later the broker is back, and beat's sweep finds the commands nobody ran.
    monkeypatch.undo()
    result = outbox.sweep(now=timezone.now() + timedelta(minutes=1))
    assert result["redispatched"] == 2
    booking = world.api(world.write_key).get(f"/api/v1/bookings/{res.json()['id']}/").json()
    assert {a["state"] for a in booking["access"]} == {"set"}
    assert {v.code for v in VirtualLockCode.objects.filter(lock__in=locks)} == {code}


# --- with real processes ---------------------------------------------------------------------


@pytest.fixture
def postgres():
    from conftest import REQUIRE_SERVICES

    if "postgresql" not in connection.settings_dict["ENGINE"]:
        if REQUIRE_SERVICES:
            pytest.fail("this test needs PostgreSQL (DATABASE_URL)")
        pytest.skip("needs PostgreSQL: the web and worker processes share the test database")
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("this test needs the redis-server program")
        pytest.skip("needs the redis-server program")
    yield
    # Connections left by the stopped processes would block flushing the test database.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_broker_down_then_up_the_code_reaches_set_by_itself(postgres, world, prop, locks):
    broker_port, web_port = free_port(), free_port()
    broker_url = f"redis://127.0.0.1:{broker_port}/0"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": broker_url,  # nothing listens there yet
        "LATCHKEY_ENV_FILE": "/nonexistent",
        "PYTHONUNBUFFERED": "1",
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        web_log, redis_proc, worker, web = tmp / "web.log", None, None, None
        try:
            gunicorn = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--workers", "1"]
            web = subprocess.Popen(
                [*gunicorn, "--bind", f"127.0.0.1:{web_port}"],
                cwd=ROOT,
                env=env,
                stdout=web_log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            api = httpx2.Client(
                base_url=f"http://127.0.0.1:{web_port}",
                headers={"Authorization": f"Bearer {world.write_key}"},
                timeout=30,
            )

            def web_up():
                assert web.poll() is None, web_log.read_text()
                try:
                    return api.get("/healthz").status_code == 200
                except httpx2.TransportError:
                    return False

            wait_for(web_up, timeout=60, what="the web server")

            started = time.monotonic()
            created = api.post("/api/v1/bookings/", json=booking_body(prop))
            took = time.monotonic() - started
            assert created.status_code == 201, created.text
            assert took < 5, f"the booking waited {took:.1f}s for a broker that is down"
            booking_id = created.json()["id"]

            def states():
                access = api.get(f"/api/v1/bookings/{booking_id}/").json()["access"]
                return {a["state"] for a in access}

            assert states() == {"setting"}
            assert LockCommand.objects.filter(status=CommandStatus.PENDING).count() == 2

            # The broker comes up on that very port, with a worker and its beat (sweep every
            # 2 s): nobody touches the booking again.
            no_disk = ["--save", "", "--appendonly", "no"]
            redis_proc = subprocess.Popen(
                ["redis-server", "--port", str(broker_port), "--bind", "127.0.0.1", *no_disk],
                stdout=(tmp / "redis.log").open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # The broker is a server, not the code under test: under .ci/clock-sweep it
                # keeps the real clock, as the machine's own Redis does (libfaketime stops it).
                env={k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")},
            )
            wait_for(lambda: _redis_answers(broker_port), timeout=15, what="redis-server")
            worker = Worker(tmp, database_url=database_url(), env={"CELERY_BROKER_URL": broker_url})
            worker.start()

            wait_for(lambda: states() == {"set"}, timeout=60, what="the code set by itself")
            assert VirtualLockCode.objects.filter(lock__in=locks).count() == 2
            swept = r"sweep_commands\[.*\] succeeded.*'redispatched': [1-9]"
            assert re.search(swept, worker.log.read_text()), "the sweep sent the commands"
        finally:
            _stop(web)
            if worker is not None:
                worker.stop()
            _stop(redis_proc)
        log = web_log.read_text()
        assert "not queued: the broker cannot be reached" in log
        assert "Traceback" not in log
        code = created.json()["access"][0]["code"]
        assert code and code not in log + worker.log.read_text()


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def test_a_silent_broker_fails_a_publish_within_seconds(tmp_path):
    """A broker that accepts the connection and never answers (a half-open connection, a hung
    Redis): the publish gives up after about twice LATCHKEY_BROKER_TIMEOUT_SECONDS."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        probe = (
            "import time, django; django.setup()\n"
            "from locks.tasks import run_command\n"
            "t = time.monotonic()\n"
            "try:\n"
            "    run_command.apply_async((1,))\n"
            "except Exception as exc:\n"
            "    print(type(exc).__name__, round(time.monotonic() - t, 1))\n"
        )
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/0",
            "LATCHKEY_BROKER_TIMEOUT_SECONDS": "1",
            "LATCHKEY_ENV_FILE": "/nonexistent",
        }
        out = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    name, seconds = out.stdout.split()
    assert name == "OperationalError", out.stderr
    assert float(seconds) < 5
