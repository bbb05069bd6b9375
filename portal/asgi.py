"""ASGI entry point: `gunicorn portal.asgi -k portal.asgi_worker.UvicornWorker` (Procfile,
docker-compose). Agent long-polls (locks.integrations.ble_agent.api) are async views that
wait without a thread; every other view is sync and Django runs it in a thread of its own per
request.

Database connections come from a pool per process here (LATCHKEY_DB_POOL, on PostgreSQL; at
most LATCHKEY_DB_POOL_MAX, 20): under ASGI each sync request runs in a fresh thread, so a
connection kept per thread (CONN_MAX_AGE) would be one left behind by every request.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("LATCHKEY_DB_POOL", "true")

from django.core.asgi import get_asgi_application

from portal.startup import settle

application = get_asgi_application()
settle()
