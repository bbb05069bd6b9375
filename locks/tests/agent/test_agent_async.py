"""The agent path is asynchronous: a command for a BLE lock hands a job to the on-site agent and
returns at once; the agent's posted result resumes it (replaying answered steps from the job
journal); the sweep retries a command whose agent stayed silent past the deadline, then fails
it in plain words. Service level, with the real agent HTTP endpoints (APIClient)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
import time_machine
from django.utils import timezone

from locks.models import AccessCode, AgentJob, CodeState, CommandStatus, Lock, LockCommand
from locks.sync import outbox
from locks.tests.agent.test_agent_portal import enroll
from portal.times import local_stamp


@pytest.fixture
def morning():
    """06:00 UTC today, the clock running: the stay below checks in this afternoon (local
    time), so its code is due and check-in has not passed. Without this the tests depended on
    the hour: after check-in a failed code is covered by the door-unreachable alert
    (bookings.backup), and `code_failed` is not raised."""
    today = dt.datetime.now(dt.UTC).date()
    with time_machine.travel(dt.datetime.combine(today, dt.time(6), tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def ble(morning, world, prop, commit, settings):
    """An enrolled agent, its BLE lock at the property, and a stay whose code is due now."""
    from bookings.services import BookingData, booking_upsert
    from portal.testing import days_from_now

    settings.LATCHKEY_RETRY_BASE_SECONDS = 0.0  # a retry is due at once (sweep below)
    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 2
    agent, client, _, _ = enroll(world)
    lock = Lock.objects.create(
        organization=world.org,
        property=prop,
        name="Hall door",
        driver="ble_agent",
        agent=agent,
        ble_address="54:D2:72:AA:BB:01",
    )
    started = time.monotonic()
    with commit():  # the command runs at commit, in this thread (eager Celery)
        booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id="ASYNC-1",
                property=prop,
                status="confirmed",
                check_in=days_from_now(0),
                check_out=days_from_now(2),
                guest_name="Ada Async",
                guest_email="ada@example.com",
            ),
        )
    elapsed = time.monotonic() - started
    return agent, client, lock, elapsed


def jobs(client) -> list[dict]:
    return client.get("/agent/v1/jobs", {"wait": 0}).json()["jobs"]


def answer(client, commit, job_id: int, **body):
    with commit():
        return client.post(f"/agent/v1/jobs/{job_id}/result", body, format="json")


def the_command(lock) -> LockCommand:
    return LockCommand.objects.get(lock=lock, kind="sync_code")


@pytest.mark.django_db
def test_the_runner_hands_the_job_over_and_returns_at_once(ble):
    _, client, lock, elapsed = ble
    # Before: the runner waited for the agent (45 s per job, polling the database).
    assert elapsed < 2.0
    command = the_command(lock)
    assert command.status == CommandStatus.WAITING
    assert command.lease_until > timezone.now() + dt.timedelta(seconds=30)  # the job's deadline
    (job,) = AgentJob.objects.filter(command=command)
    assert (job.kind, job.status, job.attempt, job.step) == ("list_codes", "pending", 1, 1)
    assert AccessCode.objects.get(lock=lock).state == CodeState.SETTING
    assert [j["kind"] for j in jobs(client)] == ["list_codes"]


@pytest.mark.django_db
def test_posted_results_complete_the_command_once(ble, commit, mailoutbox):
    _, client, lock, _ = ble
    (listing,) = jobs(client)
    assert answer(client, commit, listing["id"], ok=True, result={"codes": []}).status_code == 200
    # Resumed: the listing is replayed from the journal, the next step handed over.
    command = the_command(lock)
    assert command.status == CommandStatus.WAITING and command.attempts == 1
    (adding,) = jobs(client)
    assert adding["kind"] == "add_code" and adding["params"]["name"]
    ac = AccessCode.objects.get(lock=lock)
    assert adding["params"]["code"] == ac.code
    assert answer(client, commit, adding["id"], ok=True, result={"code_id": 12}).status_code == 200

    command.refresh_from_db()
    ac.refresh_from_db()
    assert command.status == CommandStatus.SUCCEEDED and command.attempts == 1
    assert (ac.state, ac.remote_id) == (CodeState.SET, "12")
    assert any(ac.code in m.body for m in mailoutbox)  # code set → the guest's email
    sent = len(mailoutbox)

    # The agent posts the same answer again (its acknowledgement was lost): nothing changes.
    again = answer(client, commit, adding["id"], ok=True, result={"code_id": 99})
    assert again.status_code == 404
    ac.refresh_from_db()
    assert (ac.state, ac.remote_id) == (CodeState.SET, "12")
    assert AgentJob.objects.count() == 2 and len(mailoutbox) == sent
    assert jobs(client) == []


@pytest.mark.django_db
def test_a_taken_code_makes_the_stay_draw_another(ble, commit):
    from bookings.models import AccessGrant

    _, client, lock, _ = ble
    taken = AccessGrant.objects.get().code
    (listing,) = jobs(client)
    answer(client, commit, listing["id"], ok=True, result={"codes": []})
    (adding,) = jobs(client)
    error = {"code": "K_ERROR_CODE_ALREADY_EXISTS", "message": "taken", "permanent": True}
    answer(client, commit, adding["id"], ok=False, error=error)
    assert LockCommand.objects.filter(lock=lock, status=CommandStatus.FAILED).count() == 1
    assert AccessGrant.objects.get().code != taken  # CodeConflict: a new code, a new command
    assert AccessCode.objects.get(lock=lock).code != taken


@pytest.mark.django_db
def test_a_silent_agent_is_retried_then_failed_in_plain_words(ble, commit):
    from portal.models import Alert

    agent, client, lock, _ = ble
    (first,) = jobs(client)  # fetched, never answered
    agent.refresh_from_db()
    heard = local_stamp(agent.last_seen_at, lock.property.timezone)
    later = timezone.now() + dt.timedelta(minutes=2)

    assert outbox.sweep(now=timezone.now())["expired"] == 0  # the deadline has not passed
    with commit():
        assert outbox.sweep(now=later)["expired"] == 1
    command = the_command(lock)
    # Retried at once (backoff 0 here): attempt 2 hands a fresh job to the agent.
    assert command.status == CommandStatus.WAITING and command.attempts == 2
    assert f"has not been heard from since {heard}" in command.reason
    assert AccessCode.objects.get(lock=lock).last_error == command.reason

    # The first attempt's answer arrives late: kept in the journal, resumes nothing.
    assert answer(client, commit, first["id"], ok=True, result={"codes": []}).status_code == 200
    command.refresh_from_db()
    assert command.status == CommandStatus.WAITING and command.attempts == 2
    assert AgentJob.objects.get(pk=first["id"]).status == "done"
    assert AgentJob.objects.filter(command=command, attempt=2).count() == 1
    agent.refresh_from_db()  # the late post is the last time the agent was heard from
    heard = local_stamp(agent.last_seen_at, lock.property.timezone)

    with commit():
        assert outbox.sweep(now=later + dt.timedelta(minutes=2))["expired"] == 1
    command.refresh_from_db()
    ac = AccessCode.objects.get(lock=lock)
    assert command.status == CommandStatus.FAILED
    said = f"The on-site agent “{agent.name}” has not been heard from since {heard}."
    assert command.reason == said
    assert ac.state == CodeState.FAILED
    alert = Alert.objects.get(kind="code_failed")
    assert heard in alert.message and alert.organization_id == lock.organization_id
    # The job nobody fetched is withdrawn: it can never run late.
    assert AgentJob.objects.filter(command=command, attempt=2).get().status == "cancelled"
    assert jobs(client) == []


@pytest.mark.django_db
def test_a_worker_lost_mid_command_leaves_no_stale_job_to_run_late(ble, commit):
    """The worker died after handing out a job (the command's lease ran out while `running`):
    the sweep starts it over as a fresh attempt, whose first step withdraws the earlier
    attempt's job the agent has not fetched, so the lock never gets both."""
    _, client, lock, _ = ble
    command = the_command(lock)
    LockCommand.objects.filter(pk=command.pk).update(
        status=CommandStatus.RUNNING, lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    with commit():
        assert outbox.sweep()["revived"] == 1
    command.refresh_from_db()
    assert command.status == CommandStatus.WAITING and command.attempts == 2
    statuses = dict(AgentJob.objects.filter(command=command).values_list("attempt", "status"))
    assert statuses == {1: "cancelled", 2: "pending"}
    assert [j["kind"] for j in jobs(client)] == ["list_codes"]
