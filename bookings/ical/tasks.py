"""Celery tasks for iCal feeds: thin, load by id, call a service."""

from __future__ import annotations

from celery import shared_task

from bookings.ical import services


@shared_task(acks_late=True, ignore_result=True)
def fetch_feed(feed_id: int) -> str | None:
    report = services.feed_fetch(feed_id=feed_id)
    return report.status if report else None


@shared_task(ignore_result=True)
def poll_due_feeds() -> int:
    """Run every minute by beat: queue the feeds whose next fetch is due."""
    return len(services.feeds_poll_due())
