"""GET /healthz: the state of the database, the broker, and whether every queue has a worker."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from portal.celery import app


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def _broker_and_worker() -> tuple[str, str]:
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"error: {exc.__class__.__name__}", "unknown"
    try:
        replies = app.control.inspect(timeout=1.0).active_queues() or {}
    except Exception as exc:
        return "ok", f"error: {exc.__class__.__name__}"
    return "ok", _queues_served(replies)


def _queues_served(replies: dict[str, list[dict]]) -> str:
    """ "ok" when every queue has a worker consuming it. Workers run per queue in production
    (docker-compose.yml), so one that answers says nothing about the others: a queue nobody
    consumes (its worker service stopped) is named, since its work waits forever."""
    if not replies:
        return "no worker answered"
    served = {queue.get("name") for queues in replies.values() for queue in queues or []}
    missing = [name for name in settings.LATCHKEY_QUEUES.values() if name not in served]
    return f"no worker for queue: {', '.join(missing)}" if missing else "ok"


@require_GET
def healthz(request):
    """Anyone may call this, so the broker round trip is cached for a few seconds: a stranger
    polling it cannot turn it into load on the broker and workers."""
    database = _database()
    cached = cache.get("healthz:broker")
    if cached is None:
        cached = _broker_and_worker()
        cache.set("healthz:broker", cached, 5)
    broker, worker = cached
    return JsonResponse({"database": database, "broker": broker, "worker": worker}, status=200)
