"""bookings.dispatch queues tasks by name: every name it knows is a registered task, in this
(web-like) process too, and keeps its dotted path (routes, beat rows and queued messages use it)."""

from celery import current_app

from bookings import dispatch
from bookings.ical.tasks import fetch_feed
from bookings.pms.tasks import process_pms_event
from bookings.tasks import replan_stay, send_access_email


def test_every_dispatched_name_is_a_registered_task_with_a_stable_name():
    names = {
        dispatch.SEND_ACCESS_EMAIL: send_access_email,
        dispatch.REPLAN_STAY: replan_stay,
        dispatch.FETCH_FEED: fetch_feed,
        dispatch.PROCESS_PMS_EVENT: process_pms_event,
    }
    for name, task in names.items():
        assert task.name == name
        assert current_app.tasks[name].name == name
