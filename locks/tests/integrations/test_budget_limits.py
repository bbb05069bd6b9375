"""Rate limits end to end, against the Nuki Web stand-in and the bridge simulator over loopback
(real HTTP servers, each with a request limit that answers 429 and Retry-After): a command
refused by the cloud or the bridge, or by our own budget for it, waits until the limit allows
and then succeeds, with its attempt handed back, the lock still online and no alert; and the
429 holds the account's (bridge's) bucket for every worker."""

from __future__ import annotations

import datetime as dt
import secrets
import time

import pytest
from django.utils import timezone

from locks import budgets
from locks.models import (
    AccessCode,
    Bridge,
    CommandKind,
    CommandStatus,
    Lock,
    LockCommand,
    NukiWebConnection,
)
from locks.simulators.bridge import BridgeSimulator
from locks.simulators.nukiweb import NukiWebSimulator
from locks.sync.desired import access_put
from locks.sync.runner import command_run
from portal.models import Alert

TOKEN = "budget-test-token"


@pytest.fixture(autouse=True)
def _full_buckets():
    budgets.forget_all()
    yield
    budgets.forget_all()


def cloud(**options) -> NukiWebSimulator:
    return NukiWebSimulator(port=0, api_tokens=[TOKEN], apply_delay=0.05, **options).start()


def nuki_web_lock(org, sim: NukiWebSimulator) -> Lock:
    NukiWebConnection.objects.create(
        organization=org,
        kind="api_token",
        api_url=sim.url,
        access_token=TOKEN,
        expires_at=timezone.now() + dt.timedelta(days=3650),
        webhook_key=secrets.token_urlsafe(24),
    )
    return Lock.objects.create(
        organization=org, name="Cloud door", driver="nuki_web", nuki_id=sim.smartlock_ids[0]
    )


def reconcile(lock: Lock) -> LockCommand:
    return LockCommand.objects.create(
        organization_id=lock.organization_id, lock=lock, kind=CommandKind.RECONCILE
    )


def run_when_due(command: LockCommand) -> str:
    """Run the command once its next attempt is due (as its delayed message would)."""
    command.refresh_from_db()
    time.sleep(max(0.0, (command.next_attempt_at - timezone.now()).total_seconds()) + 0.05)
    return command_run(command_id=command.pk)


def assert_waiting_not_failed(
    command: LockCommand, lock: Lock, *, ran_at: dt.datetime, at_least: float
) -> None:
    """Postponed by at least `at_least` seconds from when it ran (`ran_at`)."""
    command.refresh_from_db()
    lock.refresh_from_db()
    assert command.status == CommandStatus.PENDING
    assert command.attempts == 0  # handed back: a rate limit is not the lock's failure
    assert (command.next_attempt_at - ran_at).total_seconds() >= at_least
    assert "limit" in command.reason
    assert lock.online  # never called unreachable
    assert not Alert.objects.filter(organization_id=lock.organization_id).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("http_date", [False, True], ids=["seconds", "http-date"])
def test_nuki_web_429_postpones_the_command_and_holds_the_account(world, settings, http_date):
    settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = 6000  # our budget out of the way: the cloud
    settings.LATCHKEY_NUKI_WEB_BURST = 100  # says no first
    sim = cloud(rate_limit=1, rate_window=2.0, retry_after_date=http_date)
    try:
        lock = nuki_web_lock(world.org, sim)
        assert command_run(command_id=reconcile(lock).pk) == "succeeded"
        second = reconcile(lock)
        ran_at = timezone.now()
        assert command_run(command_id=second.pk) == "postponed"
        assert sim.counters["rate_limited"] == 1
        assert_waiting_not_failed(second, lock, ran_at=ran_at, at_least=1.0)  # Retry-After >= 1
        # The 429 holds the account's bucket for every worker: nothing more is sent until then.
        sent = sim.counters["requests"]
        third = reconcile(lock)
        assert command_run(command_id=third.pk) == "postponed"
        assert sim.counters["requests"] == sent
        assert run_when_due(second) == "succeeded"
        second.refresh_from_db()
        assert second.status == CommandStatus.SUCCEEDED and second.attempts == 1
        assert sim.counters["rate_limited"] == 1
    finally:
        sim.stop()


@pytest.mark.django_db
def test_a_code_waits_for_our_budget_without_any_429(world, settings):
    """Our own budget refuses first: the cloud never sees a request over its limit, the code
    stays `setting` (no failure, no alert) and is written once the budget allows."""
    settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = 30  # one every 2 s
    settings.LATCHKEY_NUKI_WEB_BURST = 1
    settings.LATCHKEY_BUDGET_MAX_WAIT_SECONDS = 0  # refuse rather than sleep in place
    sim = cloud(rate_limit=1, rate_window=1.0)
    try:
        lock = nuki_web_lock(world.org, sim)
        assert command_run(command_id=reconcile(lock).pk) == "succeeded"  # spends the token
        now = timezone.now()
        (ac,) = access_put(
            organization=world.org,
            holder="test:budget",
            locks=[lock],
            code="456789",
            name="Budget guest",
            valid_from=now + dt.timedelta(hours=1),
            valid_until=now + dt.timedelta(days=2),
        )
        command = LockCommand.objects.get(access_code=ac)
        ran_at = timezone.now()
        assert command_run(command_id=command.pk) == "postponed"
        assert_waiting_not_failed(command, lock, ran_at=ran_at, at_least=0.0)
        ac.refresh_from_db()
        assert ac.state == "setting"
        assert run_when_due(command) == "succeeded"
        ac.refresh_from_db()
        assert ac.state in ("setting", "set")  # written; the cloud confirms it in its time

        def keypad() -> list[str]:
            return [a["name"] for a in sim.auths(lock.nuki_id) if a.get("type") == 13]

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not keypad():
            time.sleep(0.05)
        assert keypad() == ["Budget guest"]
        assert sim.endpoint_calls("PUT", "/smartlock/{smartlockId}/auth") == 1
        assert sim.counters["rate_limited"] == 0
    finally:
        sim.stop()


@pytest.mark.django_db
def test_a_short_wait_for_the_budget_is_slept_in_place(world, settings):
    settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = 120  # a token every 0.5 s
    settings.LATCHKEY_NUKI_WEB_BURST = 1
    settings.LATCHKEY_BUDGET_MAX_WAIT_SECONDS = 2.0
    sim = cloud(rate_limit=1, rate_window=0.4)  # looser than the budget: transit varies
    try:
        lock = nuki_web_lock(world.org, sim)
        started = time.monotonic()
        assert [command_run(command_id=reconcile(lock).pk) for _ in range(3)] == ["succeeded"] * 3
        assert time.monotonic() - started >= 0.9  # two waits of 0.5 s, slept, not refused
        assert sim.counters["rate_limited"] == 0
    finally:
        sim.stop()


@pytest.fixture
def bridge_sim(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the simulator is on loopback
    settings.CELERY_BROKER_URL = "filesystem://"  # not a server on loopback the guard refuses
    settings.LATCHKEY_BRIDGE_RATE_PER_MINUTE = 6000  # our budget out of the way: the bridge
    settings.LATCHKEY_BRIDGE_BURST = 100  # says no first
    simulator = BridgeSimulator(
        locks=1, action_seconds=0.01, token="sim-token-1", rate_limit=1, rate_window=2.0
    ).start()
    yield simulator
    simulator.stop()


@pytest.mark.django_db
def test_bridge_429_postpones_the_action_and_then_it_runs(world, bridge_sim):
    bridge = Bridge.objects.create(
        organization=world.org,
        name="Hall",
        host="127.0.0.1",
        port=bridge_sim.port,
        token=bridge_sim.token,
        token_mode="plain",
        status=Bridge.Status.OK,
    )
    lock = Lock.objects.create(
        organization=world.org,
        name="Hall door",
        driver="bridge_http",
        bridge=bridge,
        nuki_id=next(iter(bridge_sim.locks)),
    )

    def action() -> LockCommand:
        return LockCommand.objects.create(
            organization=world.org,
            lock=lock,
            kind=CommandKind.LOCK_ACTION,
            payload={"action": "unlock"},
            expires_at=timezone.now() + dt.timedelta(minutes=2),
        )

    first = action()
    assert command_run(command_id=first.pk) == "succeeded", LockCommand.objects.get(
        pk=first.pk
    ).error
    second = action()
    ran_at = timezone.now()
    assert command_run(command_id=second.pk) == "postponed"
    assert bridge_sim.counters["rate_limited"] == 1
    assert_waiting_not_failed(second, lock, ran_at=ran_at, at_least=1.0)
    key = f"bridge:127.0.0.1:{bridge_sim.port}"
    assert budgets.take(key=key, rate_per_minute=6000, burst=100) > 0  # held for every worker
    assert run_when_due(second) == "succeeded"
    second.refresh_from_db()
    assert second.attempts == 1
    assert bridge_sim.counters["actions"] == 2
    assert bridge_sim.counters["rate_limited"] == 1
    assert not AccessCode.objects.exists()
