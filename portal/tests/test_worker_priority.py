"""Bulk workers yield the CPU for real: a plain nice only orders threads inside the worker's own
scheduling group (Linux autogroup: one group per session; Docker: one cgroup per container), so
the worker also lowers its session's group (portal.celery.lower_session_priority) and the
compose file lowers the bulk containers' CPU weight."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from portal.celery import lower_session_priority

ROOT = Path(settings.BASE_DIR)
SCRIPT = """
import os, sys
from portal.celery import lower_priority
lower_priority()
print(os.nice(0), open("/proc/self/autogroup").read().strip())
"""


def _autogroup_kernel() -> None:
    if not Path("/proc/self/autogroup").exists():
        pytest.skip("this kernel has no autogroup scheduling (/proc/self/autogroup)")


def _run(*, own_session: bool, nice: str) -> tuple[int, str]:
    env = {**os.environ, "LATCHKEY_WORKER_NICE": nice}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=own_session,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    niceness, group = done.stdout.split(" ", 1)
    return int(niceness), group.strip()


def test_a_worker_leading_its_own_session_lowers_its_group():
    _autogroup_kernel()
    niceness, group = _run(own_session=True, nice="7")
    assert niceness >= 7
    assert group.endswith("nice 7"), group  # the group weighs less against the web's


def test_a_worker_sharing_its_session_leaves_the_group_alone():
    """`make run`: the web and the workers in one session; lowering the group would lower
    the web too."""
    _autogroup_kernel()
    before = Path("/proc/self/autogroup").read_text().strip()
    niceness, group = _run(own_session=False, nice="7")
    assert niceness >= 7  # the plain nice still applies inside the group
    assert group == before


def test_no_nice_asked_changes_nothing():
    _autogroup_kernel()
    niceness, group = _run(own_session=True, nice="0")
    assert group.endswith("nice 0"), group
    assert niceness == os.nice(0)


def test_no_autogroup_file_is_not_an_error(tmp_path):
    """A kernel without autogroup (or a refused write): the plain nice stands, no crash."""
    missing = tmp_path / "none" / "autogroup"
    assert lower_session_priority(3, autogroup=str(missing)) is False


def test_compose_weighs_the_web_and_code_pushes_above_the_default_and_bulk_work_below():
    """In containers the cgroup's CPU weight is what counts between services."""
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    bulk = {
        name
        for name, service in services.items()
        if "LATCHKEY_WORKER_NICE" in (service.get("environment") or {})
    }
    assert bulk == {f"worker-{q}" for q in ("bridge", "agent", "mail", "ingest", "periodic")}
    for name in bulk:
        assert services[name]["cpu_shares"] < 1024, name  # Docker's default weight is 1024
    weights = {name: service.get("cpu_shares", 1024) for name, service in services.items()}
    # Under contention what people and PMSes wait on goes first: the web and the code pushes
    # weigh more than the default (PostgreSQL, beat), and no worker more than the web.
    for name in ("web", "worker-codes"):
        assert weights[name] > 1024, name
    assert all(weights["web"] >= weights[name] for name in services if name.startswith("worker"))
