"""The Bluetooth part of `seed_demo`: idempotent, and the enrollment token it leaves for the
agent works against the real enrollment service exactly once."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from locks.agent.state import AgentConfig, StateStore
from locks.integrations.ble_agent.enrollment import agent_enroll
from locks.models import Agent, Lock


@pytest.fixture
def var(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def _ble_locks():
    return list(Lock.objects.filter(driver="ble_agent").order_by("name"))


def test_seed_demo_prepares_the_agent_and_stays_idempotent(db, var) -> None:
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    token_file = var / "agent" / "enrollment-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    locks = _ble_locks()
    assert len(locks) == 2 and all(lock.property.external_ref == "lakeside-cabin" for lock in locks)
    agent = Agent.objects.get()
    assert {lock.agent_id for lock in locks} == {agent.pk}
    codes = {ac.lock_id for lock in locks for ac in lock.access_codes.all()}
    assert codes == {lock.pk for lock in locks}  # the stays have codes on the BLE locks

    # The agent enrolls with the token (as `run --token-file` does) and stores its config.
    enrolled, raw = agent_enroll(token=token)
    assert enrolled.pk == agent.pk
    store = StateStore(var / "agent")
    store.save_agent(AgentConfig("http://127.0.0.1:8000", agent.pk, raw))
    token_file.unlink()

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert not token_file.exists()  # enrolled here: nothing to redo
    assert store.load_agent().agent_token == raw
    assert [lock.pk for lock in _ble_locks()] == [lock.pk for lock in locks]
    assert Agent.objects.count() == 1

    # The database was reset behind the agent's back: a fresh token, the stale config gone.
    Agent.objects.update(token_hash="")
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert token_file.exists() and not store.agent_path.exists()
    assert token_file.read_text().strip() != token
    assert agent_enroll(token=token) is None  # the used token stays dead
    assert agent_enroll(token=token_file.read_text().strip()) is not None
