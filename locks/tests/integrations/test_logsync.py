"""Log sync fanned out (locks/integrations/logsync.py), against the bridge simulator and the
Nuki Web stand-in over loopback: the beat task queues one task per bridge and per Nuki Web
account that needs polling; an account whose webhook delivers is not polled; an account's
sync stops at its budget and goes on from where it stopped."""

from __future__ import annotations

import datetime as dt
import secrets
import time

import pytest
import time_machine
from django.utils import timezone

from locks import budgets
from locks.integrations import logsync
from locks.models import Bridge, Lock, LockEvent, NukiWebConnection
from locks.simulators.bridge import DOOR_OPENED, BridgeSimulator
from locks.simulators.nukiweb import ACTION_UNLOCK, NukiWebSimulator
from locks.tasks import sync_bridge_logs

TOKEN = "logsync-token"
LOG_GET = ("GET", "/smartlock/{smartlockId}/log")


@pytest.fixture(autouse=True)
def _full_buckets(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the simulators are on loopback
    settings.CELERY_BROKER_URL = "filesystem://"  # not a server on loopback the guard refuses
    budgets.forget_all()
    yield
    budgets.forget_all()


def account(org, sim: NukiWebSimulator, **fields) -> NukiWebConnection:
    conn = NukiWebConnection.objects.create(
        organization=org,
        kind="api_token",
        api_url=sim.url,
        access_token=TOKEN,
        expires_at=timezone.now() + dt.timedelta(days=3650),
        webhook_key=secrets.token_urlsafe(24),
        **fields,
    )
    for n, smartlock_id in enumerate(sim.smartlock_ids):
        Lock.objects.create(
            organization=org, name=f"Cloud {n}", driver="nuki_web", nuki_id=smartlock_id
        )
        sim.physical_action(smartlock_id, ACTION_UNLOCK)  # a log entry to read
    return conn


def bridge_of(org, sim: BridgeSimulator) -> Bridge:
    bridge = Bridge.objects.create(
        organization=org,
        name=f"Bridge {sim.port}",
        host="127.0.0.1",
        port=sim.port,
        token=sim.token,
        token_mode="plain",
        status=Bridge.Status.OK,
    )
    for nuki_id, simulated in sim.locks.items():
        Lock.objects.create(
            organization=org, name="Door", driver="bridge_http", bridge=bridge, nuki_id=nuki_id
        )
        sim.set_door(simulated.nuki_id, DOOR_OPENED)  # a log entry to read
    return bridge


@pytest.mark.django_db
def test_beat_fans_out_per_bridge_and_per_account_and_webhooks_replace_polling(
    world, django_capture_on_commit_callbacks
):
    other = world.other_org
    bridges = [BridgeSimulator(locks=1, token=f"t{n}", action_seconds=0.01) for n in range(2)]
    silent = NukiWebSimulator(port=0, api_tokens=[TOKEN], smartlocks=2)
    hooked = NukiWebSimulator(port=0, api_tokens=[TOKEN], smartlocks=2)
    for sim in (*bridges, silent, hooked):
        sim.start()
    try:
        first, second = (bridge_of(world.org, sim) for sim in bridges)
        account(world.org, silent)  # no webhook registered: polled
        account(  # its webhook delivered a minute ago: not polled
            other,
            hooked,
            webhook_id="w1",
            webhook_seen_at=timezone.now() - dt.timedelta(minutes=1),
        )
        time.sleep(0.3)  # the simulators write their logs in the background
        with django_capture_on_commit_callbacks(execute=True):
            queued = sync_bridge_logs()
        assert queued == {"bridges": 2, "nuki_web_accounts": 1}
        for bridge in (first, second):
            assert LockEvent.objects.filter(lock__bridge=bridge, source="bridge log").exists()
        for sim in bridges:
            assert sim.counters["endpoint:/log"] == 1  # one call per bridge, not per lock
        assert silent.endpoint_calls(*LOG_GET) == 2  # one per lock of the polled account
        assert hooked.endpoint_calls(*LOG_GET) == 0
        assert LockEvent.objects.filter(organization=world.org, source="nuki web log").count() == 2
        silent_conn = NukiWebConnection.objects.get(organization=world.org)
        assert silent_conn.logs_polled_at is not None
    finally:
        for sim in (*bridges, silent, hooked):
            sim.stop()


@pytest.mark.django_db
def test_polling_rules_for_accounts_with_and_without_a_webhook(settings):
    settings.LATCHKEY_NUKI_WEB_LOG_FALLBACK_SECONDS = 3600
    now = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
    hour = dt.timedelta(hours=1)

    def due(**fields) -> bool:
        return logsync.nuki_web_logs_due(connection=NukiWebConnection(**fields), now=now)

    assert due(webhook_id="")  # no webhook: every round
    assert due(webhook_id="", webhook_seen_at=now, logs_polled_at=now)
    assert not due(webhook_id="w", webhook_seen_at=now - hour / 2)  # it delivers
    assert due(webhook_id="w", webhook_seen_at=None, logs_polled_at=None)  # never heard: poll
    assert not due(webhook_id="w", webhook_seen_at=now - 2 * hour, logs_polled_at=now - hour / 2)
    assert due(webhook_id="w", webhook_seen_at=now - 2 * hour, logs_polled_at=now - hour)


@pytest.mark.django_db
def test_an_accounts_sync_stops_at_its_budget_and_resumes_where_it_stopped(
    world, settings, django_capture_on_commit_callbacks
):
    settings.LATCHKEY_NUKI_WEB_RATE_PER_MINUTE = 20  # a token every 3 s
    settings.LATCHKEY_NUKI_WEB_BURST = 1
    settings.LATCHKEY_BUDGET_MAX_WAIT_SECONDS = 0
    sim = NukiWebSimulator(port=0, api_tokens=[TOKEN], smartlocks=3, rate_limit=2, rate_window=3)
    sim.start()
    try:
        conn = account(world.org, sim)
        locks = list(Lock.objects.filter(organization=world.org).order_by("pk"))
        time.sleep(0.2)
        # Eager tasks: the continuation runs at once, finds the budget still spent and stops
        # (a run that read nothing queues nothing), as the delayed one would not.
        run = logsync.nuki_web_logs_sync(connection=conn)
        assert (run.read, run.resume_after) == (1, locks[0].pk) and 0 < run.wait <= 3
        conn.refresh_from_db()
        assert conn.logs_polled_at is None  # not done yet
        time.sleep(run.wait + 0.05)
        run = logsync.nuki_web_logs_sync(connection=conn, after_lock_id=run.resume_after)
        assert (run.read, run.resume_after) == (1, locks[1].pk)
        time.sleep(run.wait + 0.05)
        run = logsync.nuki_web_logs_sync(connection=conn, after_lock_id=run.resume_after)
        assert (run.read, run.wait) == (1, None)
        conn.refresh_from_db()
        assert conn.logs_polled_at is not None
        assert sim.endpoint_calls(*LOG_GET) == 3  # each lock once, none twice
        assert sim.counters["rate_limited"] == 0
        assert set(LockEvent.objects.values_list("lock_id", flat=True)) == {x.pk for x in locks}
    finally:
        sim.stop()


@pytest.mark.django_db
def test_a_webhook_delivery_marks_the_account_as_delivering(world, client):
    import hashlib
    import hmac
    import json

    conn = NukiWebConnection.objects.create(
        organization=world.org,
        kind="api_token",
        access_token=TOKEN,
        webhook_key="hook-key-1",
        webhook_id="w1",
        webhook_secret="s3cret",
    )
    body = json.dumps({"feature": "DEVICE_STATUS", "smartlockId": 123, "state": {}}).encode()
    signature = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    moment = dt.datetime(2026, 5, 4, 12, 0, tzinfo=dt.UTC)
    with time_machine.travel(moment, tick=False):
        from locks.integrations.nuki_web.webhooks import webhook_receive

        webhook_receive(key="hook-key-1", body=body, signature=signature)
    conn.refresh_from_db()
    assert conn.webhook_seen_at == moment
    assert not logsync.nuki_web_logs_due(connection=conn, now=moment + dt.timedelta(minutes=30))
