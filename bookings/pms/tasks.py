"""Celery tasks for PMS events: thin, load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from bookings.pms import services


@shared_task(acks_late=True, ignore_result=True)
def process_pms_event(event_id: int) -> str:
    return services.event_process(event_id=event_id)


@shared_task(ignore_result=True)
def sweep_pms_events() -> int:
    return services.events_sweep()
