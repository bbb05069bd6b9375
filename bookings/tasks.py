"""Celery tasks for bookings: thin, load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from bookings import alerts, emails, retention


@shared_task(acks_late=True, ignore_result=True)
def send_access_email(grant_id: int) -> bool:
    return emails.access_email_send(grant_id=grant_id) is not None


@shared_task(ignore_result=True)
def alert_unset_codes() -> int:
    return alerts.alert_unset_codes()


# The iCal feeds' tasks live in their package; imported here so the worker registers them.
from bookings.ical import tasks as ical_tasks  # noqa: E402, F401


@shared_task(ignore_result=True)
def assign_backup_codes() -> int:
    from bookings.backup import backup_codes_assign

    return backup_codes_assign()


@shared_task(acks_late=True, ignore_result=True)
def replan_stay(booking_id: int) -> None:
    from bookings.services import stay_replan

    stay_replan(booking_id=booking_id)


# Registered with the worker through this module (Celery autodiscovers `bookings.tasks`).
from bookings.pms.tasks import process_pms_event, sweep_pms_events  # noqa: E402, F401


@shared_task(ignore_result=True)
def apply_retention() -> dict[str, int]:
    """Hourly: every organization's retention, in batches within a time budget."""
    return retention.retention_apply()
