"""Test set-up shared by every app.

- On CI (LATCHKEY_REQUIRE_SERVICES=true) the run stops at once, failing, when PostgreSQL or
  Redis cannot be reached: nothing is silently skipped.
- Unit tests run Celery tasks eagerly, in-process, when the transaction commits; integration
  tests (marked `integration`) switch that off and use a real worker process.
"""

from __future__ import annotations

import logging
import os

import pytest

from portal import config

REQUIRE_SERVICES = config.get_bool("LATCHKEY_REQUIRE_SERVICES", False)


def _services_problems() -> list[str]:
    from django.conf import settings

    problems = []
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        problems.append(f"DATABASE_URL does not point at PostgreSQL (engine {engine}).")
    else:
        import psycopg

        db = settings.DATABASES["default"]
        try:
            psycopg.connect(
                host=db.get("HOST") or "127.0.0.1",
                port=db.get("PORT") or 5432,
                user=db.get("USER") or None,
                password=db.get("PASSWORD") or None,
                dbname=db.get("NAME"),
                connect_timeout=3,
            ).close()
        except Exception as exc:
            problems.append(f"PostgreSQL is unreachable: {exc}")
    broker = settings.CELERY_BROKER_URL
    if not broker.startswith("redis://"):
        problems.append(f"CELERY_BROKER_URL does not point at Redis ({broker}).")
    else:
        import redis

        try:
            redis.Redis.from_url(broker, socket_connect_timeout=3).ping()
        except Exception as exc:
            problems.append(f"Redis is unreachable: {exc}")
    return problems


def pytest_sessionstart(session):
    if REQUIRE_SERVICES:
        problems = _services_problems()
        if problems:
            pytest.exit("Required services missing:\n- " + "\n- ".join(problems), returncode=3)


def services_available() -> bool:
    return not _services_problems()


@pytest.fixture(autouse=True)
def _eager_celery(request):
    """Run tasks in-process at commit time, except in integration tests."""
    from portal.celery import app

    eager = "integration" not in request.keywords
    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager = eager
    app.conf.task_eager_propagates = eager
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


class _HookErrors(logging.Handler):
    """Collects Django's log lines for on_commit hooks that raised."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "in on_commit()" in record.getMessage():
            self.records.append(record)


@pytest.fixture(autouse=True)
def on_commit_errors():
    """Hooks are robust (portal/aftercommit.py): where a failing hook used to raise, Django now
    logs it and goes on. So that an eager task's error still fails its test, any such log line
    fails the test, unless the test takes this fixture and empties the list it returns."""
    handler = _HookErrors()
    logger = logging.getLogger("django.db.backends.base")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)
    if handler.records:
        first = handler.records[0]
        trace = logging.Formatter().formatException(first.exc_info) if first.exc_info else ""
        pytest.fail(
            "an on_commit hook raised: "
            + "; ".join(r.getMessage() for r in handler.records)
            + f"\n{trace}"
        )


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """`with commit(): ...` runs what would run after the transaction commits (tasks, signals)."""

    def _commit():
        return django_capture_on_commit_callbacks(execute=True)

    return _commit


def pytest_collection_modifyitems(config, items):
    if REQUIRE_SERVICES or os.environ.get("LATCHKEY_SKIP_INTEGRATION") != "1":
        return
    skip = pytest.mark.skip(reason="LATCHKEY_SKIP_INTEGRATION=1")
    for item in items:
        if "integration" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def throttle_window():
    """For a test that fills a rate limit and expects the next request refused: run it from one
    second into a fresh fixed window (an hour, so every per-minute window starts there too),
    not across a window's edge wherever real time happens to be (see portal.testing). List it
    first, so that sign-ins and the like happen after the jump."""
    from portal.testing import window_start

    with window_start(3600):
        yield


@pytest.fixture
def world(db):
    from portal.testing import make_world

    return make_world()


@pytest.fixture
def prop(world):
    from properties.services import property_create

    return property_create(
        organization=world.org,
        name="Alpine Loft",
        timezone="Europe/Vienna",
        external_ref="loft-1",
        address="Main Street 1",
        house_instructions="Second floor.",
    )


@pytest.fixture
def locks(world, prop):
    from locks.services import lock_create

    return [
        lock_create(organization=world.org, property=prop, name="Building door", driver="virtual"),
        lock_create(organization=world.org, property=prop, name="Flat door", driver="virtual"),
    ]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def concurrent_db():
    """For tests where the live server and the test thread use the database at the same time:
    Django shares one in-memory SQLite connection between them, so these need PostgreSQL."""
    from django.conf import settings

    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        if REQUIRE_SERVICES:
            pytest.fail("these tests need PostgreSQL (DATABASE_URL)")
        pytest.skip("needs PostgreSQL: the live server shares SQLite's in-memory connection")
