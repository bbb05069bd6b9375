"""In the demo, "Reconnect Nuki Web" signs in at the Nuki Web stand-in (instead of a bare 400
"not set up" page): demo/run_env.py points the portal's OAuth client at the stand-in that the
Procfile starts with the same client secret."""

from __future__ import annotations

import io
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import httpx2
import pytest
from django.core.management import call_command

from demo import credentials
from demo.run_env import NUKIWEB_CLIENT_ID, run_env
from demo.tests.test_run_ports import web_port_with_free_neighbour
from locks.models import NukiWebConnection
from locks.simulators.nukiweb import NukiWebSimulator

ROOT = Path(__file__).resolve().parents[2]


def procfile_stand_in_args() -> list[str]:
    line = next(
        line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("nukiweb:")
    )
    return shlex.split(line.split(":", 1)[1])


def test_the_procfile_gives_the_stand_in_the_demo_port_and_secret() -> None:
    args = procfile_stand_in_args()
    assert args[args.index("--port") + 1].startswith("${LATCHKEY_DEMO_NUKIWEB_PORT")
    assert args[args.index("--client-secret") + 1].startswith(
        "${LATCHKEY_DEMO_NUKIWEB_CLIENT_SECRET"
    )
    assert "--client-id" not in args  # the stand-in's default, NUKIWEB_CLIENT_ID


@pytest.mark.django_db
def test_reconnect_nuki_web_in_the_demo_signs_in_at_the_stand_in(settings, tmp_path, client):
    settings.VAR_DIR = tmp_path / "var"
    env = run_env(web_port_with_free_neighbour(), {}, settings.VAR_DIR)
    with NukiWebSimulator(
        port=int(env["LATCHKEY_DEMO_NUKIWEB_PORT"]),
        client_id=NUKIWEB_CLIENT_ID,
        client_secret=env["LATCHKEY_DEMO_NUKIWEB_CLIENT_SECRET"],
        api_tokens=["latchkey-demo-nukiweb-token"],
        smartlocks=2,
    ) as stand_in:
        # What the web process reads from the run's environment.
        settings.LATCHKEY_DEMO_NUKIWEB_PORT = stand_in.port
        settings.NUKI_WEB_CLIENT_ID = env["NUKI_WEB_CLIENT_ID"]
        settings.NUKI_WEB_CLIENT_SECRET = env["NUKI_WEB_CLIENT_SECRET"]
        settings.NUKI_WEB_OAUTH_URL = env["NUKI_WEB_OAUTH_URL"]
        settings.NUKI_WEB_API_URL = env["NUKI_WEB_API_URL"]
        call_command("seed_demo", stdout=io.StringIO())
        password = credentials.load(credentials.credentials_path(settings.VAR_DIR))[
            "manager_password"
        ]
        assert client.login(username="manager@demo.latchkey.local", password=password)

        start = client.post("/o/demo-rentals/integrations/nuki-web/connect/")
        assert start.status_code == 302, start.content
        assert start["Location"].startswith(stand_in.url + "/oauth/authorize")
        with httpx2.Client(follow_redirects=False, trust_env=False) as browser:
            page = browser.get(start["Location"])
            assert page.status_code == 200 and "Allow" in page.text
            challenge = page.text.split("name='consent_challenge' value='")[1].split("'")[0]
            back = browser.post(
                stand_in.url + "/oauth/authorize",
                data={"consent_challenge": challenge, "decision": "allow"},
            )
        assert back.status_code in (302, 303)
        parts = urlsplit(back.headers["location"])
        done = client.get(parts.path + "?" + parts.query)
        assert done.status_code == 302, done.content
    conn = NukiWebConnection.objects.get(organization__slug="demo-rentals")
    assert conn.kind == "oauth" and conn.status == "ok"
