"""Latchkey portal: settings, tenancy, API keys and the shell shared by every app."""

from .celery import app as celery_app

__all__ = ["celery_app"]
