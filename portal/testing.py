"""Test helpers shared by every app: a tenancy world with owner, member, viewer and outsider."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from rest_framework.test import APIClient

from portal.celery import app as celery_app
from portal.models import Organization, Role
from portal.services import api_key_create, membership_add, organization_create


@dataclass
class World:
    org: Organization
    other_org: Organization
    owner: object
    member: object  # a manager: may write
    viewer: object  # read only
    outsider: object  # owner of another organization
    write_key: str
    read_key: str
    outsider_key: str

    def api(self, key: str | None = None) -> APIClient:
        client = APIClient()
        if key:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        return client


def make_world(name: str = "Acme Stays") -> World:
    org, owner, _ = organization_create(name=name, owner_email=f"owner@{name.split()[0]}.test")
    other, outsider, _ = organization_create(name=f"Other {name}", owner_email="outsider@x.test")
    users = get_user_model().objects
    member = users.create_user(
        username="member@acme.test", email="member@acme.test", password="pw-member-1"
    )
    viewer = users.create_user(
        username="viewer@acme.test", email="viewer@acme.test", password="pw-viewer-1"
    )
    membership_add(organization=org, user=member, role=Role.MANAGER)
    membership_add(organization=org, user=viewer, role=Role.VIEWER)
    _, write_key = api_key_create(organization=org, scope="write")
    _, read_key = api_key_create(organization=org, scope="read")
    _, outsider_key = api_key_create(organization=other, scope="write")
    return World(org, other, owner, member, viewer, outsider, write_key, read_key, outsider_key)


def days_from_now(days: int) -> dt.date:
    from django.utils import timezone

    return timezone.now().date() + dt.timedelta(days=days)


def window_start(seconds: int = 60):
    """Travel, the clock running, to one second into the next fixed rate-limit window of this
    length (a context manager). Rate limits count in windows aligned to the epoch
    (portal/throttling.py): a test that fills one with N requests and expects the N+1st refused
    fails whenever real time crosses a window's edge in between, i.e. depending on the second it
    runs. Only this process's clock moves, which is where the throttles count."""
    import time_machine

    now = dt.datetime.now(dt.UTC).timestamp()
    start = (now // seconds + 1) * seconds + 1
    return time_machine.travel(dt.datetime.fromtimestamp(start, dt.UTC), tick=True)


ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def purge_queues() -> int:
    """Empty every Celery queue (settings.LATCHKEY_QUEUES) of messages an earlier test left,
    so a real worker starts on this test's work only. Returns how many were dropped."""
    with celery_app.connection_for_write() as conn:
        return sum(
            conn.default_channel.queue_purge(name) or 0
            for name in settings.LATCHKEY_QUEUES.values()
        )


_worker_serial = itertools.count(1)


class Worker:
    """A real `celery worker` process (with an embedded beat for the sweep) on the test DB.

    Without `queues` it consumes every queue, as `make run`'s worker does; `queues` (channel
    names of settings.LATCHKEY_CHANNELS) makes it one of docker-compose's per-queue workers.
    `name` keeps several workers of one test apart (node name and log file)."""

    def __init__(
        self,
        tmp: Path,
        *,
        database_url: str,
        concurrency: int = 2,
        beat: bool = True,
        env: dict[str, str] | None = None,
        queues: list[str] | None = None,
        name: str = "worker",
    ):
        self.tmp = tmp
        self.extra_env = env or {}
        self.database_url = database_url
        self.concurrency = concurrency
        self.beat = beat
        self.queues = queues
        self.name = name
        self.proc: subprocess.Popen | None = None
        self.log = tmp / f"{name}.log"

    def start(self) -> None:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "LATCHKEY_COMMAND_LEASE_SECONDS": "6",
            "LATCHKEY_SWEEP_SECONDS": "2",
            "LATCHKEY_RETRY_BASE_SECONDS": "0.5",
            "LATCHKEY_ENV_FILE": "/nonexistent",
            **self.extra_env,
        }
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--hostname",
            f"{self.name}-{os.getpid()}-{next(_worker_serial)}@%h",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if self.beat:
            schedule = str(self.tmp / f"{self.name}-beat-schedule")
            cmd += ["-B", "--scheduler", "celery.beat:PersistentScheduler", "--schedule", schedule]
        if self.queues is not None:
            cmd += ["-Q", ",".join(settings.LATCHKEY_QUEUES[q] for q in self.queues)]
        self.proc = subprocess.Popen(  # noqa: S603 (our own interpreter, fixed arguments)
            cmd,
            cwd=ROOT,
            env=env,
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to finish or acknowledge anything."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
