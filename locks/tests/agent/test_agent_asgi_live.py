"""Idle agents cannot stall the portal: many agents long-poll a live ASGI server (gunicorn with
uvicorn workers, the Procfile's own command line, on PostgreSQL) while another organization's
`GET /api/v1/ping/` stays fast, and a job created for one agent wakes its poll at once: through
Redis when the cache is Redis (production), by the database re-check without it (make run).

To see the old serving fail, run with the sync command, e.g.
LATCHKEY_TEST_WEB_COMMAND='gunicorn portal.wsgi --bind 127.0.0.1:$PORT --workers 2 --threads 4'
(the ping waits for a poll to end: ~30 s; LATCHKEY_TEST_PINGS=3 keeps that run short).
"""

from __future__ import annotations

import asyncio
import math
import os
import shlex
import threading
import time
from pathlib import Path

import httpx2
import pytest

from locks.integrations.ble_agent.enrollment import agent_create
from locks.models import AgentJob, Lock
from portal.services import api_key_create, organization_create
from portal.tests.test_limits_live import Gunicorn, _free_port, _procfile_web

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

AGENTS_PER_ORG, ORGS = 10, 5  # 50 agents, within LATCHKEY_ORG_MAX_AGENTS (20)
PINGS = int(os.environ.get("LATCHKEY_TEST_PINGS", 50))  # fewer to watch the old serving


def _web_command(port: int) -> list[str]:
    override = os.environ.get("LATCHKEY_TEST_WEB_COMMAND")
    if override:
        args = shlex.split(override.replace("$PORT", str(port)))
        return args[1:] if args[0] == "gunicorn" else args
    return _procfile_web(port)


def _p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]  # nearest rank


class Polls:
    """Every agent's `GET /agent/v1/jobs?wait=30`, at once, from an event loop in a thread."""

    def __init__(self, base: str, tokens: list[str]):
        self.base, self.tokens = base, tokens
        self.done: dict[int, tuple[float, httpx2.Response | BaseException]] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.future = asyncio.run_coroutine_threadsafe(self._all(), self.loop)

    async def _all(self) -> None:
        limits = httpx2.Limits(max_connections=len(self.tokens) + 10)
        async with httpx2.AsyncClient(base_url=self.base, timeout=60, limits=limits) as client:
            await asyncio.gather(*(self._one(client, i) for i in range(len(self.tokens))))

    async def _one(self, client: httpx2.AsyncClient, index: int) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[index]}"}
        try:
            result = await client.get("/agent/v1/jobs", params={"wait": 30}, headers=headers)
        except Exception as exc:  # the server stopped under it: recorded, not raised
            result = exc
        self.done[index] = (time.monotonic(), result)

    def stop(self) -> None:
        self.future.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


def _worker_threads(master_pid: int) -> int:
    """Threads in all of gunicorn's worker processes (the master's children), from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if fields.get("PPid", "").strip() == str(master_pid):
            total += int(fields["Threads"])
    return total


def _enroll(base: str, organization) -> tuple[str, int]:
    _, token = agent_create(organization=organization, name="Door agent")
    res = httpx2.post(f"{base}/agent/v1/enroll", json={"token": token}, timeout=30)
    assert res.status_code == 201, res.text
    return res.json()["agent_token"], res.json()["agent_id"]


@pytest.mark.parametrize("mode", ["redis", "no redis (make run)"])
def test_idle_agents_hold_no_thread_and_a_job_wakes_its_poll(tmp_path, settings, mode):
    redis = mode == "redis"
    env = {"CACHE_URL": os.environ["CACHE_URL"] if redis else f"filecache://{tmp_path / 'c'}"}
    if not redis:  # this process creates the job: it signals the way the server listens
        settings.CACHES = {
            "default": {
                "BACKEND": "portal.filecache.LockedFileCache",
                "LOCATION": str(tmp_path / "c"),
            }
        }
        settings.LATCHKEY_AGENT_WAKE_URL = ""
    else:
        from django.core.cache import cache

        cache.clear()  # no poll slots left over from another test
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = Gunicorn(tmp_path, _web_command(port), env)
    polls = None
    try:
        server.wait_ready(base)
        _, ping_key = api_key_create(
            organization=organization_create(name="Quiet Stays", owner_email="b@quiet.test")[0],
            scope="read",
        )
        agents = []
        for n in range(ORGS):
            org, _, _ = organization_create(name=f"Noisy {n}", owner_email=f"a{n}@noisy.test")
            agents += [_enroll(base, org) for _ in range(AGENTS_PER_ORG)]
        first_token, first_id = agents[0]
        res = httpx2.post(
            f"{base}/agent/v1/locks",
            json={"locks": [{"address": "AA:BB:CC:00:00:01", "paired": True}]},
            headers={"Authorization": f"Bearer {first_token}"},
            timeout=30,
        )
        assert res.status_code == 200, res.text

        with httpx2.Client(base_url=base, timeout=60) as client:
            client.headers["Authorization"] = f"Bearer {ping_key}"
            for _ in range(6):  # warm both workers
                assert client.get("/api/v1/ping/").status_code == 200
            threads_before = _worker_threads(server.proc.pid)
            polls = Polls(base, [token for token, _ in agents])
            time.sleep(3)  # every poll is in and waiting
            assert polls.done == {}, polls.done
            threads_waiting = _worker_threads(server.proc.pid)
            print(f"\n{mode}: worker threads {threads_before} idle, {threads_waiting} with polls")
            # Each worker may start asgiref's one shared thread for the polls' short steps
            # (2 workers); a thread per poll would be 50 more.
            assert threads_waiting - threads_before <= 2, (threads_before, threads_waiting)
            took = []
            for _ in range(PINGS):
                started = time.monotonic()
                assert client.get("/api/v1/ping/").status_code == 200
                took.append(time.monotonic() - started)
        p99 = _p99(took)
        p50 = sorted(took)[len(took) // 2]
        print(
            f"\n{mode}: ping p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, {len(agents)} polls"
        )
        assert polls.done == {}, "a poll ended early"
        assert p99 < 0.1, f"ping p99 {p99 * 1000:.0f} ms with {len(agents)} polls waiting"

        lock = Lock.objects.get(agent_id=first_id)
        created = time.monotonic()
        job = AgentJob.objects.create(
            organization_id=lock.organization_id,
            agent_id=first_id,
            lock=lock,
            kind="lock_state",
            params={},
        )
        while 0 not in polls.done and time.monotonic() - created < 10:
            time.sleep(0.02)
        assert 0 in polls.done, "the job did not wake its agent's poll"
        finished, answer = polls.done[0]
        woke = finished - created
        print(f"{mode}: the job reached its agent's poll in {woke * 1000:.0f} ms")
        assert answer.status_code == 200 and [j["id"] for j in answer.json()["jobs"]] == [job.pk]
        assert woke < (1.0 if redis else 2.0)
        assert set(polls.done) == {0}, "other agents' polls (other tenants) were answered too"
        job.refresh_from_db()
        assert job.status == AgentJob.Status.SENT
    finally:
        if polls is not None:
            polls.stop()
        server.stop()
