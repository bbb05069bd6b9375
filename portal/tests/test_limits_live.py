"""Limits that hold across real gunicorn workers, and an access log without tokens: gunicorn runs
as a subprocess on the test database (the Procfile's own command line for the log)."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
import yaml

from portal.testing import ROOT, database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

TOKEN = "Zk3vQ9xWc1LrT8bN2mY5pA7sD4fG6hJ0kL_qE-uI9oP"
LOGGER_CLASS = "portal.access_log.MaskingGunicornLogger"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(self, tmp: Path, args: list[str], env: dict[str, str]):
        self.out, self.err = tmp / "gunicorn.out", tmp / "gunicorn.err"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *args],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": database_url(),
                "LATCHKEY_ENV_FILE": "/nonexistent",
                **env,
            },
            stdout=self.out.open("w"),
            stderr=self.err.open("w"),
            start_new_session=True,
        )

    def wait_ready(self, base: str) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.err.read_text()
            try:
                httpx2.get(f"{base}/healthz", timeout=2)
                return
            except httpx2.TransportError:
                time.sleep(0.3)
        raise AssertionError("gunicorn did not start: " + self.err.read_text())

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.out.read_text(), self.err.read_text()


def _failed_login(base: str, username: str) -> int:
    with httpx2.Client(base_url=base, timeout=60) as client:  # a new connection: any worker
        form = client.get("/accounts/login/").text
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form).group(1)
        return client.post(
            "/accounts/login/",
            data={"csrfmiddlewaretoken": csrf, "username": username, "password": "wrong"},
        ).status_code


@pytest.mark.parametrize("store", ["make-run file cache", "redis"])
def test_the_login_limit_holds_across_two_gunicorn_workers(tmp_path, store):
    """Each worker counting alone let the sign-in allow workers x its limit."""
    cache_url = f"filecache://{tmp_path / 'cache'}" if store != "redis" else os.environ["CACHE_URL"]
    if store == "redis":
        from django.core.cache import cache

        cache.clear()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = Gunicorn(
        tmp_path,
        [
            "portal.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--access-logfile",
            "-",
            "--access-logformat",
            "%(p)s %(m)s %(U)s %(s)s",
        ],
        {"CACHE_URL": cache_url, "LATCHKEY_LOGIN_FAILURES_ALLOWED": "4"},
    )
    try:
        server.wait_ready(base)
        with ThreadPoolExecutor(4) as pool:  # 4 at once on 2 sync workers: both serve
            codes = list(pool.map(lambda i: _failed_login(base, f"u{i}@x.test"), range(10)))
    finally:
        log, errors = server.stop()
    posts = [line.split() for line in log.splitlines() if " POST /accounts/login/ " in line]
    assert len({fields[0] for fields in posts}) == 2, log  # both workers answered sign-ins
    assert sorted(codes) == [200] * 4 + [429] * 6, (codes, errors[-2000:])


def _procfile_web(port: int) -> list[str]:
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:")
    )
    args = shlex.split(line.removeprefix("web:").replace("$PORT", str(port)))
    assert args[0] == "gunicorn"
    return args[1:]


def test_the_compose_web_command_masks_the_access_log_too():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["web"]["command"]
    assert command[command.index("--logger-class") + 1] == LOGGER_CLASS
    assert f"--logger-class {LOGGER_CLASS}" in (ROOT / "Procfile").read_text()


def test_the_access_log_and_django_log_carry_no_tokens(tmp_path):
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = Gunicorn(tmp_path, _procfile_web(port), {})
    spoofed = {"X-Forwarded-For": "203.0.113.66"}  # no trusted proxy: must not be logged
    try:
        server.wait_ready(base)
        with httpx2.Client(base_url=base, timeout=30, headers=spoofed) as client:
            client.get(f"/stay/{TOKEN}/")
            client.get(
                f"/stay/{TOKEN}x/opening/ab/?lang=de", headers={"Referer": f"{base}/stay/{TOKEN}/"}
            )
            client.get(f"/invitations/{TOKEN}/")
            client.post(f"/hooks/pms/{TOKEN}/", json={})
            client.get("/integrations/nuki-web/callback/?code=OAUTHCODE123&state=STATE456")
            client.get("/api/v1/properties/?token=QUERYTOKEN789&limit=5")
    finally:
        log, errors = server.stop()
    everything = log + errors
    for secret in (TOKEN, "OAUTHCODE123", "STATE456", "QUERYTOKEN789"):
        assert secret not in everything, secret
    assert '"GET /stay/***/ HTTP/1.1" 404' in log
    assert re.search(
        rf'"GET /stay/\*\*\*/opening/ab/\?lang=de HTTP/1.1" 404 \d+ "{base}/stay/\*\*\*/"', log
    ), log
    assert '"GET /invitations/***/ HTTP/1.1"' in log
    assert '"POST /hooks/pms/***/ HTTP/1.1"' in log
    assert "/api/v1/properties/?token=***&limit=5" in log
    assert "Not Found: /stay/***/" in errors  # django.request's warning, masked as well
    assert "203.0.113.66" not in log and log.startswith("127.0.0.1 ")
