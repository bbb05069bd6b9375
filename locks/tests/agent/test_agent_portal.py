"""The portal's side of the on-site agent protocol: enrollment, reported locks, long-poll jobs,
results, tokens stored as hashes, isolation between agents."""

import threading

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from locks.integrations.base import DriverError
from locks.integrations.ble_agent.enrollment import agent_create
from locks.integrations.ble_agent.jobs import job_run
from locks.models import Agent, AgentJob, Lock


def enroll(world, name="Door agent"):
    _, token = agent_create(organization=world.org, name=name)
    res = APIClient().post(
        "/agent/v1/enroll", {"token": token, "name": "Pi at door"}, format="json"
    )
    assert res.status_code == 201, res.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {res.json()['agent_token']}")
    return Agent.objects.get(pk=res.json()["agent_id"]), client, token, res.json()["agent_token"]


@pytest.mark.django_db
def test_enrollment_works_once_and_tokens_are_hashed(world):
    agent, client, enrollment, raw = enroll(world)
    assert agent.name == "Pi at door" and agent.enrolled_at
    assert raw not in agent.token_hash and enrollment not in agent.enrollment_hash
    again = APIClient().post("/agent/v1/enroll", {"token": enrollment}, format="json")
    assert again.status_code == 403
    assert (
        APIClient().post("/agent/v1/enroll", {"token": "lke_nope"}, format="json").status_code
        == 403
    )
    assert client.get("/agent/v1/jobs").status_code == 200
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Bearer lka_wrong")
    assert bad.get("/agent/v1/jobs").status_code == 401
    assert APIClient().get("/agent/v1/jobs").status_code == 401
    # An organization API key is not an agent token.
    assert world.api(world.write_key).get("/agent/v1/jobs").status_code == 401


@pytest.mark.django_db
def test_create_agent_command_prints_a_working_token(world, capsys):
    call_command("create_agent", "--organization", world.org.slug, "Hall agent")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    res = APIClient().post("/agent/v1/enroll", {"token": token}, format="json")
    assert res.status_code == 201


@pytest.mark.django_db
def test_reported_locks_appear_as_ble_agent_locks(world):
    _agent, client, _, _ = enroll(world)
    body = {
        "locks": [
            {
                "address": "AA:BB:CC:00:11:22",
                "nuki_id": 123,
                "name": "Front",
                "paired": True,
                "state": "locked",
                "battery_percent": 80,
            },
            {"address": "AA:BB:CC:00:11:33", "paired": False},
        ]
    }
    assert client.post("/agent/v1/locks", body, format="json").status_code == 200
    assert client.post("/agent/v1/locks", body, format="json").status_code == 200  # idempotent
    locks = world.api(world.read_key).get("/api/v1/locks/").json()["results"]
    assert sorted(lock["name"] for lock in locks) == ["AA:BB:CC:00:11:33", "Front"]
    front = next(lock for lock in locks if lock["name"] == "Front")
    assert front["driver"] == "ble_agent" and front["property"] is None
    assert "offline" in front["capabilities"] and "codes" in front["capabilities"]
    assert front["state"] == "locked" and front["battery_percent"] == 80
    # Other organizations see nothing of it.
    assert world.api(world.outsider_key).get("/api/v1/locks/").json()["results"] == []
    bad = client.post("/agent/v1/locks", {"locks": [{"paired": True}]}, format="json")
    assert bad.status_code == 400 and Lock.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_driver_job_round_trip_through_the_long_poll(world, live_server, concurrent_db):
    import httpx2

    agent, _, _, raw = enroll(world)
    lock = Lock.objects.create(
        organization=world.org, name="L", driver="ble_agent", agent=agent, ble_address="AA"
    )
    seen = {}

    def fake_agent():
        with httpx2.Client(
            base_url=live_server.url, headers={"Authorization": f"Bearer {raw}"}
        ) as c:
            jobs = c.get("/agent/v1/jobs", params={"wait": 10}, timeout=20).json()["jobs"]
            seen["jobs"] = jobs
            for job in jobs:
                c.post(
                    f"/agent/v1/jobs/{job['id']}/result",
                    json={"ok": True, "result": {"code_id": 7}},
                )

    thread = threading.Thread(target=fake_agent)
    thread.start()
    result = job_run(lock=lock, kind="add_code", params={"code": "345678", "name": "x"}, timeout=15)
    thread.join(timeout=20)
    assert result == {"code_id": 7}
    assert seen["jobs"][0]["kind"] == "add_code" and seen["jobs"][0]["address"] == "AA"
    assert AgentJob.objects.get().status == "done"


@pytest.mark.django_db
def test_unanswered_job_is_withdrawn_and_failures_are_plain(world):
    agent, client, _, _ = enroll(world)
    lock = Lock.objects.create(
        organization=world.org, name="L", driver="ble_agent", agent=agent, ble_address="AA"
    )
    with pytest.raises(DriverError, match="did not answer"):
        job_run(lock=lock, kind="list_codes", params={}, timeout=0.3)
    assert AgentJob.objects.get().status == "cancelled"
    assert client.get("/agent/v1/jobs", {"wait": 0}).json()["jobs"] == []  # never runs late


@pytest.mark.django_db
def test_an_agent_cannot_answer_another_agents_job(world):
    agent_a, client_a, _, _ = enroll(world, "A")
    _agent_b, client_b, _, _ = enroll(world, "B")
    lock = Lock.objects.create(
        organization=world.org, name="L", driver="ble_agent", agent=agent_a, ble_address="AA"
    )
    job = AgentJob.objects.create(organization=world.org, agent=agent_a, lock=lock, kind="x")
    assert client_b.get("/agent/v1/jobs", {"wait": 0}).json()["jobs"] == []
    assert client_a.get("/agent/v1/jobs", {"wait": 0}).json()["jobs"][0]["id"] == job.pk
    res = client_b.post(f"/agent/v1/jobs/{job.pk}/result", {"ok": True}, format="json")
    assert res.status_code == 404
    job.refresh_from_db()
    assert job.status == "sent"


@pytest.mark.django_db
def test_a_job_whose_poll_answer_was_lost_is_offered_again_while_awaited(world):
    """The long-poll answer never reached the agent (connection cut mid-response): after
    JOB_RESEND_SECONDS without a result the job is handed out again, but only while the
    driver still waits for it, only to its own agent, and never once answered."""
    import datetime as dt

    from django.utils import timezone

    from locks.integrations.ble_agent.jobs import JOB_RESEND_SECONDS, JOB_TIMEOUT_SECONDS

    agent, client, _, _ = enroll(world, "A")
    _other, client_b, _, _ = enroll(world, "B")
    lock = Lock.objects.create(
        organization=world.org, name="L", driver="ble_agent", agent=agent, ble_address="AA"
    )
    job = AgentJob.objects.create(organization=world.org, agent=agent, lock=lock, kind="x")

    def offered(c=client):
        return [j["id"] for j in c.get("/agent/v1/jobs", {"wait": 0}).json()["jobs"]]

    assert offered() == [job.pk]
    assert offered() == []  # just handed out: not again yet
    lost = timezone.now() - dt.timedelta(seconds=JOB_RESEND_SECONDS + 1)
    AgentJob.objects.filter(pk=job.pk).update(sent_at=lost)
    assert offered(client_b) == []
    assert offered() == [job.pk]
    AgentJob.objects.filter(pk=job.pk).update(sent_at=lost)
    res = client.post(f"/agent/v1/jobs/{job.pk}/result", {"ok": True}, format="json")
    assert res.status_code == 200
    assert offered() == []  # answered: done
    stale = AgentJob.objects.create(organization=world.org, agent=agent, lock=lock, kind="x")
    AgentJob.objects.filter(pk=stale.pk).update(
        status="sent",
        sent_at=lost,
        created_at=timezone.now() - dt.timedelta(seconds=JOB_TIMEOUT_SECONDS + 1),
    )
    assert offered() == []  # nobody waits for it any more
