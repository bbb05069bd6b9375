"""Per-tenant caps on agents, locks per agent, concurrent long-polls per agent and bridges:
under the cap it works, over it a plain error (or, for reported locks, an alert), and other
organizations are not affected."""

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from locks.integrations.ble_agent.enrollment import agent_create
from locks.integrations.ble_agent.jobs import poll_slot
from locks.models import Agent, Bridge, Lock
from portal.models import Alert
from portal.services import ServiceError


def enroll(organization, name="Door agent"):
    _, token = agent_create(organization=organization, name=name)
    res = APIClient().post("/agent/v1/enroll", {"token": token}, format="json")
    assert res.status_code == 201, res.content
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {res.json()['agent_token']}")
    return Agent.objects.get(pk=res.json()["agent_id"]), client


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()  # poll slots live in the shared cache
    yield
    cache.clear()


@pytest.mark.django_db
def test_agents_per_organization_are_capped(world, settings):
    settings.LATCHKEY_ORG_MAX_AGENTS = 2
    agent_create(organization=world.org, name="One")
    agent_create(organization=world.org, name="Two")
    with pytest.raises(ServiceError, match=r"already has 2 on-site agents.*MAX_AGENTS = 2"):
        agent_create(organization=world.org, name="Three")
    with pytest.raises(CommandError, match="the most allowed"):
        call_command("create_agent", "--organization", world.org.slug, "Three")
    assert Agent.objects.filter(organization=world.org).count() == 2
    agent_create(organization=world.other_org, name="Theirs")  # others are not affected


@pytest.mark.django_db
def test_enrolling_over_the_cap_answers_400_in_plain_words(world, settings):
    settings.LATCHKEY_ORG_MAX_AGENTS = 2
    enroll(world.org, "First")
    _, token = agent_create(organization=world.org, name="Second")
    settings.LATCHKEY_ORG_MAX_AGENTS = 1  # lowered since: the second may not enroll now
    res = APIClient().post("/agent/v1/enroll", {"token": token}, format="json")
    assert res.status_code == 400
    assert "already has 1 on-site agents, the most allowed" in res.json()["detail"]
    assert Agent.objects.filter(organization=world.org, enrolled_at__isnull=False).count() == 1
    enroll(world.other_org)


@pytest.mark.django_db
def test_locks_over_the_cap_per_agent_are_not_adopted_and_the_manager_is_told(world, settings):
    settings.LATCHKEY_AGENT_MAX_LOCKS = 2
    agent, client = enroll(world.org)
    reported = [{"address": f"AA:BB:CC:00:11:{i:02d}", "name": f"Door {i}"} for i in range(3)]
    res = client.post("/agent/v1/locks", {"locks": reported}, format="json")
    assert res.status_code == 200
    assert [lock["address"] for lock in res.json()["locks"]] == [
        "AA:BB:CC:00:11:00",
        "AA:BB:CC:00:11:01",
    ]
    assert Lock.objects.filter(agent=agent).count() == 2
    alert = Alert.objects.get(organization=world.org, kind="agent_locks_capped", resolved_at=None)
    assert "reported 1 more locks than the 2 one agent may serve" in alert.message
    assert "AA:BB:CC:00:11:02" in alert.message
    # Reporting the same two again is fine: the alert is resolved.
    client.post("/agent/v1/locks", {"locks": reported[:2]}, format="json")
    assert not Alert.objects.filter(kind="agent_locks_capped", resolved_at=None).exists()
    # Another organization's agent has its own cap.
    theirs, their_client = enroll(world.other_org)
    res = their_client.post("/agent/v1/locks", {"locks": reported[:2]}, format="json")
    assert len(res.json()["locks"]) == 2
    assert Lock.objects.filter(agent=theirs).count() == 2


@pytest.mark.django_db
def test_concurrent_long_polls_per_agent_are_capped(world, settings):
    settings.LATCHKEY_AGENT_MAX_POLLS = 2
    agent, client = enroll(world.org)
    _other, other_client = enroll(world.other_org)
    # Two polls of this agent are waiting (in other web processes).
    with poll_slot(agent=agent, wait=30), poll_slot(agent=agent, wait=30):
        res = client.get("/agent/v1/jobs?wait=1")
        assert res.status_code == 429
        assert "already has 2 job polls open" in res.json()["detail"]
        assert res["Retry-After"]
        assert other_client.get("/agent/v1/jobs?wait=0").status_code == 200  # other agents poll
        # A crashed poll cannot hold its slot for ever: it expires.
        key = cache.make_and_validate_key(f"latchkey:agent-poll:{agent.pk}:0")
        assert 0 < cache._cache.get_client(key).ttl(key) <= 45  # Redis's own expiry
    assert client.get("/agent/v1/jobs?wait=0").status_code == 200  # slots free again
    assert not [k for k in range(2) if cache.get(f"latchkey:agent-poll:{agent.pk}:{k}")]


@pytest.mark.django_db
def test_bridges_per_organization_are_capped(world, settings):
    settings.LATCHKEY_ORG_MAX_BRIDGES = 2
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True

    def add(key, name):
        body = {"name": name, "host": "127.0.0.1", "port": 8080, "token": "t" * 20}
        return world.api(key).post("/api/v1/bridges/", body, format="json")

    assert add(world.write_key, "One").status_code == 201
    assert add(world.write_key, "Two").status_code == 201
    res = add(world.write_key, "Three")
    assert res.status_code == 400
    assert "already has 2 bridges" in res.json()["non_field_errors"][0]
    assert "LATCHKEY_ORG_MAX_BRIDGES = 2" in res.json()["non_field_errors"][0]
    assert Bridge.objects.filter(organization=world.org).count() == 2
    assert add(world.outsider_key, "Theirs").status_code == 201


@pytest.mark.django_db
def test_the_pages_say_so_when_agents_or_bridges_are_at_their_cap(client, world, settings):
    from django.urls import reverse

    from portal.sudo import SUDO_KEY

    settings.LATCHKEY_ORG_MAX_AGENTS = 1
    settings.LATCHKEY_ORG_MAX_BRIDGES = 1
    agent_create(organization=world.org, name="One")
    Bridge.objects.create(organization=world.org, name="One", host="192.168.1.20")
    client.force_login(world.member)
    session = client.session
    session[SUDO_KEY] = 4e9  # inside the re-authentication window
    session.save()
    slug = {"slug": world.org.slug}
    res = client.post(reverse("agent-new", kwargs=slug), {"agent-name": "Two"})
    assert res.status_code == 400 and "the most allowed" in res.content.decode()
    body = {"bridge-name": "Two", "bridge-host": "192.168.1.21", "bridge-port": 8080}
    res = client.post(
        reverse("bridge-new", kwargs=slug), {**body, "bridge-token_mode": "encrypted"}
    )
    assert res.status_code == 400 and "already has 1 bridges" in res.content.decode()
    assert Agent.objects.count() == 1 and Bridge.objects.count() == 1
