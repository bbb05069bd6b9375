"""Celery tasks for bookings: thin, load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from bookings import alerts, emails, retention
from bookings.backup import backup_codes_assign

# The iCal feeds' and PMS events' tasks live in their packages; imported here so that whoever
# registers `bookings.tasks` (the worker's autodiscovery, BookingsConfig.ready) registers them.
from bookings.ical import tasks as ical_tasks  # noqa: F401
from bookings.pms import tasks as pms_tasks  # noqa: F401
from bookings.services import stay_replan


@shared_task(acks_late=True, ignore_result=True)
def send_access_email(grant_id: int) -> bool:
    return emails.access_email_send(grant_id=grant_id) is not None


@shared_task(ignore_result=True)
def alert_unset_codes() -> int:
    return alerts.alert_unset_codes()


@shared_task(ignore_result=True)
def assign_backup_codes() -> int:
    return backup_codes_assign()


@shared_task(acks_late=True, ignore_result=True)
def replan_stay(booking_id: int) -> None:
    stay_replan(booking_id=booking_id)


@shared_task(ignore_result=True)
def apply_retention() -> dict[str, int]:
    """Hourly: every organization's retention, in batches within a time budget."""
    return retention.retention_apply()
