"""`make run` starts without warnings of our making: kombu's "No hostname was supplied" came
from the default filesystem broker URL having no host, once per connection."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CONNECT = """
import logging
logging.basicConfig(level=logging.WARNING)
import django
django.setup()
from django.conf import settings
from portal.celery import app
print(settings.CELERY_BROKER_URL)
with app.connection_for_write() as connection:
    connection.ensure_connection(max_retries=1)
    connection.info()
"""


def test_the_default_broker_connects_without_a_warning(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL",)}
    result = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", CONNECT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("filesystem://")
    assert "No hostname" not in result.stderr and "WARNING" not in result.stderr
