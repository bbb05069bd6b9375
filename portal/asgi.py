"""ASGI entry point: `gunicorn portal.asgi -k portal.asgi_worker.UvicornWorker` (Procfile,
docker-compose). Agent long-polls (locks.agent_api) are async views that wait without a thread;
every other view is sync and Django runs it in a thread of its own per request.

Database connections are not kept between requests here (DATABASE_CONN_MAX_AGE defaults to 0):
under ASGI each sync request runs in a fresh thread, and a connection kept for 60 s by a thread
that is gone is a connection PostgreSQL counts until then. Set DATABASE_CONN_MAX_AGE to override.
"""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")

from django.core.asgi import get_asgi_application

from portal.startup import settle

application = get_asgi_application()
settle()
