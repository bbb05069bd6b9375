"""Bridge hosts typed by a tenant (issue 12, item 5): loopback, link-local (cloud metadata),
unspecified, multicast and the portal's own database, broker and cache hosts are refused, at
save time (API and form: 400 naming the field) and again when the worker connects (DNS can
change); LAN addresses stay allowed. Every failed connection reads the same sentence, so the
worker is no port scanner."""

from __future__ import annotations

import socket

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from locks.integrations.bridge.services import bridge_connect
from locks.models import Bridge
from locks.nuki.bridge import BridgeClient, BridgeError, RetryPolicy
from locks.nuki.bridge.failures import UNREACHABLE
from locks.simulators.bridge import BridgeSimulator
from portal import netguard
from portal.netguard import ServiceEndpoint, UnsafeURL, check_lan_host, own_services


def resolver(table: dict[str, list[str]]):
    def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(f"unknown host {host}")
        return table[host]

    return resolve


NAMES = resolver(
    {
        "bridge.lan": ["192.168.1.5"],
        "sneaky.example": ["192.168.1.5", "127.0.0.1"],  # one bad address is enough
        "metadata.example": ["169.254.169.254"],
        "db.internal": ["172.18.0.2"],
        "redis.internal": ["172.18.0.3"],
    }
)
NO_SERVICES: list[ServiceEndpoint] = []


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.1",
        "2130706433",
        "0x7f000001",
        "::1",
        "[::1]",
        "::ffff:127.0.0.1",
        "169.254.169.254",
        "fe80::1",
        "0.0.0.0",
        "0.1.2.3",
        "::",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "sneaky.example",
        "metadata.example",
    ],
)
def test_refused_hosts(host):
    with pytest.raises(UnsafeURL):
        check_lan_host(host, 8080, resolver=NAMES, allow_loopback=False, services=NO_SERVICES)


@pytest.mark.parametrize(
    "host", ["192.168.1.20", "10.0.0.9", "172.16.0.5", "fd00::5", "bridge.lan", "100.64.0.7"]
)
def test_lan_hosts_stay_allowed(host):
    assert check_lan_host(host, 8080, resolver=NAMES, allow_loopback=False, services=NO_SERVICES)


def test_the_portals_own_services_are_refused_on_every_port():
    services = [
        ServiceEndpoint("database", "db.internal", 5432),
        ServiceEndpoint("broker", "redis.internal", 6379),
    ]
    for host in ("172.18.0.2", "db.internal", "172.18.0.3", "::ffff:172.18.0.3"):
        for port in (5432, 6379, 8080):
            with pytest.raises(UnsafeURL, match="portal's own"):
                check_lan_host(host, port, resolver=NAMES, allow_loopback=False, services=services)
    assert check_lan_host(
        "172.18.0.9", 8080, resolver=NAMES, allow_loopback=False, services=services
    )


def test_loopback_only_when_tests_opt_in_and_never_the_services_ports():
    services = [ServiceEndpoint("cache", "127.0.0.1", 6379)]
    with pytest.raises(UnsafeURL, match="loopback"):
        check_lan_host("127.0.0.1", 8080, resolver=NAMES, allow_loopback=False, services=services)
    assert check_lan_host("127.0.0.1", 8080, resolver=NAMES, allow_loopback=True, services=services)
    with pytest.raises(UnsafeURL, match="own cache"):
        check_lan_host("127.0.0.1", 6379, resolver=NAMES, allow_loopback=True, services=services)
    # Link-local stays refused even then.
    with pytest.raises(UnsafeURL):
        check_lan_host("169.254.169.254", 80, resolver=NAMES, allow_loopback=True, services=[])


def test_own_services_come_from_the_settings(settings):
    settings.CELERY_BROKER_URL = "redis://broker.internal:6390/0"
    settings.LATCHKEY_LOCK_REDIS_URL = "redis://locks.internal/2"
    found = {(s.what, s.host, s.port) for s in own_services()}
    assert ("broker", "broker.internal", 6390) in found
    assert ("cache", "locks.internal", 6379) in found
    db = django_settings.DATABASES["default"]
    if db.get("HOST"):
        assert ("database", db["HOST"], int(db.get("PORT") or 5432)) in found


def test_refused_by_default_in_the_settings(settings):
    """Production default: LATCHKEY_ALLOW_PRIVATE_URLS is off, so loopback is refused."""
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    with pytest.raises(UnsafeURL):
        check_lan_host("127.0.0.1", 8080)


# --- save time: the API and the form -----------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1"])
def test_api_refuses_the_host_with_400_naming_it(world, host, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    body = {"name": "B", "host": host, "port": 8080, "token": "t" * 12}
    answer = world.api(world.write_key).post("/api/v1/bridges/", body, format="json")
    assert answer.status_code == 400 and list(answer.json()) == ["host"], answer.content
    assert not Bridge.objects.exists()


@pytest.mark.django_db
def test_api_refuses_the_portals_own_database_even_with_loopback_allowed(world, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    db = django_settings.DATABASES["default"]
    if not db.get("HOST"):
        pytest.skip("the database is not reached over TCP here")
    body = {"name": "B", "host": db["HOST"], "port": int(db.get("PORT") or 5432)}
    answer = world.api(world.write_key).post("/api/v1/bridges/", body, format="json")
    assert answer.status_code == 400 and "own database" in answer.json()["host"][0]
    assert not Bridge.objects.exists()


@pytest.mark.django_db
def test_api_accepts_a_lan_address(world, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    body = {"name": "B", "host": "192.168.1.20", "port": 8080}
    answer = world.api(world.write_key).post("/api/v1/bridges/", body, format="json")
    assert answer.status_code == 201, answer.content


@pytest.mark.django_db
def test_the_form_refuses_the_host_with_400(world, client, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    client.force_login(world.member)
    session = client.session
    session["sudo_until"] = 4e9  # inside the re-authentication window
    session.save()
    answer = client.post(
        reverse("bridge-new", kwargs={"slug": world.org.slug}),
        {
            "bridge-name": "B",
            "bridge-host": "169.254.169.254",
            "bridge-port": 80,
            "bridge-token_mode": "plain",
        },
    )
    assert answer.status_code == 400 and "link-local" in answer.content.decode()
    assert not Bridge.objects.exists()


# --- connect time: checked again, and pinned to the checked address ----------------------------


@pytest.fixture
def sim(settings):
    settings.LATCHKEY_LOCK_REDIS_URL = ""
    settings.CELERY_BROKER_URL = "filesystem://"  # file locks
    from locks.integrations.bridge.driver import bridge_lock_factory

    bridge_lock_factory.cache_clear()
    simulator = BridgeSimulator(locks=1, action_seconds=0.01, token="sim-token-123").start()
    yield simulator
    simulator.stop()
    bridge_lock_factory.cache_clear()


@pytest.mark.django_db
def test_dns_that_changed_after_saving_is_caught_when_the_worker_connects(
    world, sim, settings, monkeypatch
):
    table = {"bridge.lan": ["192.168.1.5"]}
    monkeypatch.setattr(netguard, "_system_resolver", resolver(table))
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    bridge = Bridge.objects.create(
        organization=world.org, name="B", host="bridge.lan", port=sim.port, token=sim.token
    )
    table["bridge.lan"] = ["127.0.0.1"]  # rebinding, after the save-time check
    bridge_connect(bridge=bridge)
    bridge.refresh_from_db()
    assert bridge.status == Bridge.Status.ERROR and "loopback" in bridge.last_error
    assert sum(sim.counters.values()) == 0  # nothing reached the address
    # With loopback allowed (tests), the worker connects to the checked address itself: the
    # name is unknown to the system's resolver, so only the pinned address can work.
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    bridge_connect(bridge=bridge)
    bridge.refresh_from_db()
    assert bridge.status == Bridge.Status.OK, bridge.last_error


# --- one sentence for every failed connection --------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _failure(host: str, port: int) -> BridgeError:
    client = BridgeClient(host, "token-123", port=port, timeout=0.5, retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(BridgeError) as caught:
            client.list_devices()
    finally:
        client.close()
    return caught.value


def test_every_failed_connection_reads_the_same(settings):
    """Redis at :6379, PostgreSQL at :5432, a closed port and an unroutable address told apart
    before (refused / not JSON / timed out after N seconds); now byte-identical."""
    from urllib.parse import urlsplit

    redis_url = urlsplit(settings.CELERY_BROKER_URL)
    db = django_settings.DATABASES["default"]
    silent = socket.socket()  # accepts the connection (the kernel does) and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    targets = [
        ("127.0.0.1", _closed_port()),
        ("192.0.2.1", 8080),  # TEST-NET-1, unroutable: times out or is unreachable at once
        ("127.0.0.1", silent.getsockname()[1]),  # a timeout
    ]
    if redis_url.scheme == "redis":
        targets.append((redis_url.hostname, redis_url.port or 6379))
    if db.get("HOST"):
        targets.append((db["HOST"], int(db.get("PORT") or 5432)))
    try:
        failures = [_failure(host, port) for host, port in targets]
    finally:
        silent.close()
    shown = {(str(f), f.message, f.fix, f.status, f.permanent) for f in failures}
    assert len(shown) == 1, shown
    assert failures[0].message == UNREACHABLE
    assert all(str(port) not in str(f) for (_, port), f in zip(targets, failures, strict=True))
