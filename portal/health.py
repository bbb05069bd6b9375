"""GET /healthz: the state of the database, the broker, and whether a worker answered."""

from __future__ import annotations

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def _broker_and_worker() -> tuple[str, str]:
    from portal.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}", "unknown"
    try:
        replies = app.control.ping(timeout=1.0)
    except Exception as exc:
        return "ok", f"error: {exc.__class__.__name__}"
    return "ok", ("ok" if replies else "no worker answered")


@require_GET
def healthz(request):
    database = _database()
    broker, worker = _broker_and_worker()
    return JsonResponse({"database": database, "broker": broker, "worker": worker}, status=200)
