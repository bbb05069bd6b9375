"""seed_demo prints the same logins and API key on every run (kept in var/, mode 0600), the
owner's login too, and what it prints works."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from portal.models import ApiKey


@pytest.fixture
def var(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def seed() -> dict[str, str]:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    logins = re.findall(r"^email: (\S+)\npassword: (\S+)$", text, re.MULTILINE)
    (api_key,) = re.findall(r"^API key \(write\): (\S+)$", text, re.MULTILINE)
    return {"logins": dict(logins), "api_key": api_key}


def test_credentials_stay_the_same_and_work(db, var, client) -> None:
    first = seed()
    assert set(first["logins"]) == {"manager@demo.latchkey.local", "owner@demo.latchkey.local"}
    second = seed()
    assert second == first
    for email, password in second["logins"].items():
        assert authenticate(username=email, password=password) is not None, email
    answer = client.get("/api/v1/ping/", HTTP_AUTHORIZATION=f"Bearer {second['api_key']}")
    assert answer.status_code == 200
    assert ApiKey.objects.filter(name="demo").count() == 1  # no pile of live keys either

    stored = var / "demo-credentials.json"
    assert stored.stat().st_mode & 0o777 == 0o600
    assert json.loads(stored.read_text())["api_key"] == first["api_key"]


def test_a_revoked_demo_key_is_replaced(db, var, client) -> None:
    first = seed()
    ApiKey.objects.filter(name="demo").update(revoked_at="2026-01-01T00:00Z")
    second = seed()
    assert second["api_key"] != first["api_key"]
    answer = client.get("/api/v1/ping/", HTTP_AUTHORIZATION=f"Bearer {second['api_key']}")
    assert answer.status_code == 200
    assert second["logins"] == first["logins"]


def test_a_password_changed_in_the_app_is_put_back(db, var) -> None:
    first = seed()
    manager = get_user_model().objects.get(username="manager@demo.latchkey.local")
    manager.set_password("something else entirely")
    manager.save()
    assert seed() == first
    password = first["logins"]["manager@demo.latchkey.local"]
    assert authenticate(username="manager@demo.latchkey.local", password=password)
