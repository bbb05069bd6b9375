"""The API against its own OpenAPI schema (issue 12, item 7).

- `manage.py spectacular --validate --fail-on-warn`: the schema is complete and valid (every
  view documents its input and output, no name collisions, the auth schemes are described).
- A bounded schemathesis run: the CLI fuzzes every operation of /api/schema/ on pytest-django's
  live server (PostgreSQL) with the organization's write key, a fixed number of examples per
  operation and deterministic generation (the same requests every run), and no request may
  answer 5xx. Server errors are also caught where they happen: Django's
  `got_request_exception` signal fires in this process (the live server is a thread of it), so
  a failure shows the server's own traceback, not only schemathesis's reproduction.

Outside loopback: nothing. The only operation that could reach the internet is connecting
Nuki Web (`POST /api/v1/nuki-web/`); it only stores the token and queues the set-up task (no
worker runs here), and NUKI_WEB_API_URL points at a closed loopback port all the same.

Tuning (defaults are the `make test` budget, about a minute on an idle 2-core machine):
LATCHKEY_FUZZ_EXAMPLES (examples per operation, default 8) and LATCHKEY_FUZZ_PHASES (default
examples,fuzzing,stateful; add `coverage` for the boundary-value phase, several minutes).
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.core.signals import got_request_exception

from portal.testing import days_from_now

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("LATCHKEY_FUZZ_EXAMPLES", "8"))
PHASES = os.environ.get("LATCHKEY_FUZZ_PHASES", "examples,fuzzing,stateful")


def test_spectacular_validates_without_warnings(tmp_path):
    out = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn",
         "--file", str(tmp_path / "schema.yml")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    problems = [line for line in out.stderr.splitlines() if "Warning" in line or "Error" in line]
    assert out.returncode == 0, "\n".join(problems) or out.stderr[-3000:]
    assert (tmp_path / "schema.yml").stat().st_size > 10_000


@pytest.fixture
def fuzz_world(world, prop, locks):
    """The world (write key, read key, another organization) and something to read: a
    property with two virtual locks, a stay with its codes, a PMS connection, an enrolled
    agent (its token for the agent protocol's operations)."""
    from bookings.pms.services import connection_create
    from locks.integrations.ble_agent.enrollment import agent_create, agent_enroll

    api = world.api(world.write_key)
    stay = api.post(
        "/api/v1/bookings/",
        {
            "external_id": "FUZZ-1",
            "property": prop.pk,
            "status": "confirmed",
            "check_in": str(days_from_now(2)),
            "check_out": str(days_from_now(4)),
            "guest": {"name": "Fay Fuzz", "email": "fay@example.com"},
        },
        format="json",
    )
    assert stay.status_code == 201, stay.content
    connection_create(organization=world.org, kind="generic", name="PMS", secret=None)
    _agent, enrollment = agent_create(organization=world.org, name="Front desk PC")
    _, agent_token = agent_enroll(token=enrollment)
    return world, agent_token


def _config(path: Path, *, api_key: str, agent_token: str) -> Path:
    """Headers per operation: the write key for the API, the agent's token for /agent/v1/
    (enroll needs none and ignores it); the agent's long poll is asked not to wait. Each
    operation matches one [[operations]] entry and no header is set at the top level: with a
    top-level header, an operation's own header stayed on the later requests (schemathesis
    4.32), and every API call after the agent's ran with the agent's token."""
    path.write_text(
        f"""[[operations]]
include-path-regex = "^/api/"
headers = {{ Authorization = "Bearer {api_key}" }}

[[operations]]
include-path-regex = "^/agent/v1/(locks|events|jobs/)"
headers = {{ Authorization = "Bearer {agent_token}" }}

[[operations]]
include-path = "/agent/v1/jobs"
include-method = "GET"
headers = {{ Authorization = "Bearer {agent_token}" }}
parameters = {{ "query.wait" = 0 }}
"""
    )
    return path


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(900)
def test_schemathesis_finds_no_server_error(
    concurrent_db, live_server, fuzz_world, settings, tmp_path
):
    settings.NUKI_WEB_API_URL = "http://127.0.0.1:9"  # discard port: nothing listens
    world, agent_token = fuzz_world
    config = _config(tmp_path / "fuzz.toml", api_key=world.write_key, agent_token=agent_token)
    crashes: list[str] = []

    def on_exception(sender, request=None, **kwargs):
        path = getattr(request, "path", "?")
        crashes.append(f"{getattr(request, 'method', '?')} {path}\n{traceback.format_exc()}")

    got_request_exception.connect(on_exception)
    try:
        out = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "--config-file", str(config),
                "run", f"{live_server.url}/api/schema/",
                "--checks", "not_a_server_error",
                "--phases", PHASES,
                "--max-examples", str(EXAMPLES),
                "--generation-deterministic",
                # Our keys, never generated ones: random Bearer values would be counted as
                # failed authentications and lock this address out (429) for the rest.
                "--generation-with-security-parameters", "false",
                "--suppress-health-check", "all",
                "--request-timeout", "30",
                "--workers", "1",
                "--no-color",
                "--report", "junit,har",
                "--report-dir", str(tmp_path),
            ],
            cwd=tmp_path, capture_output=True, text=True, timeout=840,
        )  # fmt: skip
    finally:
        got_request_exception.disconnect(on_exception)

    figures = _figures(tmp_path, out.stdout)
    print(json.dumps(figures, indent=1))
    print(out.stdout[-6000:])
    assert not crashes, "server errors:\n\n" + "\n\n".join(crashes[:5])
    assert figures["server_errors"] == 0, out.stdout[-6000:]
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-3000:]
    # Every operation of the schema was exercised with valid credentials (a schema that lost
    # its views, or a config whose headers stopped applying, fails here).
    assert "Authentication failed" not in out.stdout, out.stdout[-6000:]
    assert figures["operations"] == figures["operations_in_schema"] >= 40, figures
    assert figures["requests"] >= figures["operations"] * 2, figures


def _figures(report_dir: Path, stdout: str) -> dict:
    """Operations in the schema and tested (schemathesis's summary), test cases (JUnit),
    requests sent and their status codes (HAR)."""
    selected = re.search(r"Selected:\s+(\d+)/(\d+)", stdout)
    tested = re.search(r"Tested:\s+(\d+)", stdout)
    cases = 0
    for junit in report_dir.glob("junit*.xml"):
        cases += len(ET.parse(junit).getroot().findall(".//testcase"))
    statuses: collections.Counter[int] = collections.Counter()
    for har in report_dir.glob("har*.json"):
        for entry in json.loads(har.read_text())["log"]["entries"]:
            statuses[entry["response"]["status"]] += 1
    return {
        "operations_in_schema": int(selected.group(2)) if selected else 0,
        "operations": int(tested.group(1)) if tested else 0,
        "junit_cases": cases,
        "requests": sum(statuses.values()),
        "server_errors": sum(n for code, n in statuses.items() if code >= 500),
        "statuses": dict(sorted(statuses.items())),
    }
