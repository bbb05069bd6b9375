"""The Celery worker keeps its database connection between tasks (a new PostgreSQL backend per
task cost more CPU than the tasks: bench/latency.py), yet still drops one that is too old."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import connection

from portal.celery import _connections_fresh_enough, app

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="SQLite's in-memory test database is never closed, so there is nothing to see",
    ),
]


def _task(*, eager: bool = False):
    return SimpleNamespace(request=SimpleNamespace(is_eager=eager))


def _open() -> object:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return connection.connection


def test_celerys_fixup_leaves_the_connection_open_between_tasks():
    fixup = DjangoWorkerFixup(app)  # what `celery worker` installs
    raw = _open()
    for _ in range(5):
        fixup.on_task_prerun(sender=_task())
        fixup.on_task_postrun(sender=_task())
    assert connection.connection is raw  # the same backend served every task


def test_a_connection_past_its_age_is_closed_before_the_next_task():
    _open()
    connection.close_at = time.monotonic() - 1  # CONN_MAX_AGE ran out
    _connections_fresh_enough(sender=_task())
    assert connection.connection is None
    raw = _open()
    _connections_fresh_enough(sender=_task())  # a young one is kept
    assert connection.connection is raw


def test_an_eager_task_leaves_its_callers_connection_alone():
    _open()
    connection.close_at = time.monotonic() - 1
    _connections_fresh_enough(sender=_task(eager=True))
    assert connection.connection is not None
