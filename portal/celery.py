"""The Celery application. Tasks stay thin: load by id, call a service."""

import gc
import os

from celery import Celery
from celery.signals import task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("latchkey")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _connections_fresh_enough(sender=None, **kwargs) -> None:
    """Before each task, close database connections that are past CONN_MAX_AGE or broken
    (what Django does at the start of every web request); the others are reused. Not for a
    task run eagerly: it runs inside its caller's transaction."""
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def _freeze_loaded_objects(**kwargs) -> None:
    """Keep what the worker loaded at start out of full garbage collections (see
    portal/wsgi.py: one pass over Django's import-time objects took ~90 ms)."""
    gc.freeze()
