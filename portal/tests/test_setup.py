"""Configuration, operator commands, health and the minimal pages."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def start_django(**env):
    full = {**os.environ, **env, "LATCHKEY_ENV_FILE": "/nonexistent"}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "not a url"),
        ("DEBUG", "maybe"),
        ("LATCHKEY_SWEEP_SECONDS", "soon"),
        ("LATCHKEY_COMMAND_MAX_ATTEMPTS", "-3"),
        ("CELERY_BROKER_URL", "redis"),
        ("LATCHKEY_STAY_OPEN_RATE", "ten per hour"),
        ("LATCHKEY_STAY_IP_RATE", "10/fortnight"),
    ],
)
def test_bad_configuration_stops_start_up_naming_the_variable(name, value):
    result = start_django(**{name: value})
    assert result.returncode != 0
    assert name in result.stderr.splitlines()[-1]


def test_good_configuration_starts():
    assert start_django(DEBUG="false", LATCHKEY_SWEEP_SECONDS="5").returncode == 0


def test_env_example_documents_every_variable():
    documented = {
        line.split("=", 1)[0].lstrip("# ").strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if "=" in line
    }
    source = (ROOT / "portal" / "settings.py").read_text()
    import re

    used = set(re.findall(r'config\.get_\w+\(\s*"([A-Z_]+)"', source))
    assert used and used <= documented, used - documented


@pytest.mark.django_db
def test_create_organization_and_api_key_commands(capsys, client):
    call_command("create_organization", "Sunny Flats Wien", "--owner-email", "Boss@Example.com")
    out = capsys.readouterr().out.splitlines()
    email = next(line for line in out if line.startswith("email: "))
    password = next(line for line in out if line.startswith("password: "))
    assert email == "email: boss@example.com"
    from portal.models import Membership, Organization

    org = Organization.objects.get(slug="sunny-flats-wien")
    assert Membership.objects.get(organization=org).role == "owner"
    assert client.login(username="boss@example.com", password=password.split(": ", 1)[1])

    call_command("create_api_key", "--organization", "sunny-flats-wien", "--scope", "write")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/ping/").json() == {"organization": "sunny-flats-wien"}
    # Stored as a hash, shown once: the raw key is nowhere in the database.
    from portal.models import ApiKey

    stored = ApiKey.objects.get(organization=org)
    assert key not in (stored.key_hash, stored.prefix) and key.startswith(f"lk_{stored.prefix}_")


@pytest.mark.django_db
def test_create_organization_with_an_api_key_in_one_step(capsys):
    """What scripted set-ups (and .ci/prod-smoke) use: the key is the last line, shown once."""
    call_command(
        "create_organization", "Key Flats", "--owner-email", "k@flats.test", "--api-key", "write"
    )
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == "organization: key-flats"
    from rest_framework.test import APIClient

    from portal.models import ApiKey

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {out[-1]}")
    assert api.get("/api/v1/ping/").json() == {"organization": "key-flats"}
    assert ApiKey.objects.get(organization__slug="key-flats").scope == "write"


@pytest.mark.django_db
def test_commands_refuse_bad_input():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("create_organization", "X", "--owner-email", "not-an-email")
    with pytest.raises(CommandError):
        call_command("create_api_key", "--organization", "nope", "--scope", "read")
    call_command("create_organization", "Twin", "--owner-email", "a@b.test")
    with pytest.raises(CommandError, match="exists"):
        call_command("create_organization", "Twin", "--owner-email", "c@d.test")


@pytest.mark.django_db
def test_healthz_names_database_broker_and_worker(client):
    res = client.get("/healthz")
    assert res.status_code == 200
    data = res.json()
    assert data["database"] == "ok"
    assert set(data) == {"database", "broker", "worker"}


@pytest.mark.django_db
def test_login_and_dashboard(client, world, prop, locks, commit):
    from bookings.services import BookingData, booking_upsert
    from portal.testing import days_from_now

    with commit():
        booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id="1",
                property=prop,
                status="confirmed",
                check_in=days_from_now(1),
                check_out=days_from_now(2),
                guest_name="Greta Guest",
                guest_email="g@example.com",
            ),
        )
    res = client.post(
        "/accounts/login/", {"username": "member@acme.test", "password": "pw-member-1"}
    )
    assert res.status_code == 302
    home = client.get("/", follow=True)
    page = home.content.decode()
    assert "Greta Guest" in page and "Building door" in page and "Alpine Loft" in page
    assert "state-set" in page
    emails = client.get(f"/o/{world.org.slug}/emails/").content.decode()
    assert "g@example.com" in emails and "Your door code" in emails


@pytest.mark.django_db
def test_failed_command_is_shown_in_plain_words(client, world, prop, locks, commit, settings):
    from bookings.services import BookingData, booking_upsert
    from portal.testing import days_from_now

    settings.LATCHKEY_COMMAND_MAX_ATTEMPTS = 1
    locks[0].config = {"offline": True}
    locks[0].save()
    with commit():
        booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id="1",
                property=prop,
                status="confirmed",
                check_in=days_from_now(1),
                check_out=days_from_now(2),
            ),
        )
    client.force_login(world.viewer)
    page = client.get(f"/o/{world.org.slug}/").content.decode()
    assert "The lock is offline." in page and "Check the lock" in page


@pytest.mark.django_db
def test_login_is_throttled(throttle_window, client, world, settings):
    settings.LATCHKEY_LOGIN_FAILURES_ALLOWED = 3
    codes = [
        client.post(
            "/accounts/login/", {"username": "member@acme.test", "password": "wrong"}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    # Even the right password waits out the window.
    res = client.post(
        "/accounts/login/", {"username": "member@acme.test", "password": "pw-member-1"}
    )
    assert res.status_code == 429


def _dashboard_queries(client, world, n, tag):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bookings.models import AccessGrant, Booking
    from locks.models import AccessCode, Lock
    from portal.testing import days_from_now
    from properties.models import Property

    props = Property.objects.bulk_create(
        [
            Property(organization=world.org, name=f"{tag}{i}", timezone="Europe/Vienna")
            for i in range(n)
        ]
    )
    locks = Lock.objects.bulk_create(
        [
            Lock(organization=world.org, property=p, name=f"L{p.name}", driver="virtual")
            for p in props
        ]
    )
    bookings = Booking.objects.bulk_create(
        [
            Booking(
                organization=world.org,
                property=p,
                external_id=f"{p.name}-{j}",
                status="confirmed",
                check_in=days_from_now(j),
                check_out=days_from_now(j + 1),
            )
            for p in props
            for j in range(2)
        ]
    )
    grants = AccessGrant.objects.bulk_create(
        [
            AccessGrant(
                organization=world.org,
                booking=b,
                code="345678",
                valid_from=b.created_at,
                valid_until=b.created_at,
            )
            for b in bookings
        ]
    )
    lock_by_prop = {lock.property_id: lock for lock in locks}
    AccessCode.objects.bulk_create(
        [
            AccessCode(
                organization=world.org,
                lock=lock_by_prop[g.booking.property_id],
                holder=g.holder,
                name="x",
                code="345678",
                valid_from=g.valid_from,
                valid_until=g.valid_until,
                push_after=g.valid_from,
            )
            for g in grants
        ]
    )
    client.force_login(world.owner)
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/o/{world.org.slug}/").status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.django_db
def test_dashboard_query_count_does_not_grow_with_data(client, world):
    small = _dashboard_queries(client, world, 2, "a")
    large = _dashboard_queries(client, world, 40, "b")  # adds to the same organization
    assert small == large
    assert large <= 15


@pytest.mark.parametrize(
    "env",
    [
        {"CELERY_BROKER_URL": "redis://127.0.0.1:1/0"},  # nothing listens on port 1
        {"DATABASE_URL": "sqlite:///:memory:"},  # not PostgreSQL
    ],
)
def test_ci_run_fails_instead_of_skipping_without_services(env):
    full = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/test",
        "LATCHKEY_REQUIRE_SERVICES": "true",
        "LATCHKEY_ENV_FILE": "/nonexistent",
        **env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--co", "portal/tests/test_setup.py"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3, result.stdout[-2000:]
    assert "Required services missing" in result.stdout + result.stderr


def test_every_beat_entry_names_a_registered_task():
    """A beat entry whose task name is wrong fails only in the worker's log, every few
    minutes (seen once with the PMS sweep): catch it here."""
    from django.conf import settings

    from portal.celery import app

    app.loader.import_default_modules()
    registered = set(app.tasks)
    missing = {
        name: entry["task"]
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
        if entry["task"] not in registered
    }
    assert missing == {}


def test_the_wsgi_app_loads_its_urls_and_freezes_them_out_of_the_gc():
    """A full GC pass over Django's import-time objects paused a web worker ~90 ms; the WSGI
    module loads the URLconf at import and freezes it all (portal/wsgi.py)."""
    import gc
    import importlib

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    import portal.wsgi

    importlib.reload(portal.wsgi)
    assert gc.get_freeze_count() > 10_000
    gc.unfreeze()
