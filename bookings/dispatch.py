"""Queue bookings' Celery tasks by name, so services never import task modules.

Why: a task module imports the service it calls (tasks stay thin: load by id, call a service);
a service that imported its task back made the two a circle. Services queue work here by the
task's registered name instead. The names are the tasks' dotted paths, fixed by their modules
(`bookings.tasks`, `bookings.ical.tasks`, `bookings.pms.tasks`): queued messages, routes
(portal/settings.py CELERY_TASK_ROUTES) and beat rows use them, so they never change.

The task modules are registered when the app starts (BookingsConfig.ready imports
`bookings.tasks`, which imports the iCal and PMS ones), so a web process knows them too; the
registered task is called as before, so eager mode (tests) and the routes hold.
"""

from __future__ import annotations

from celery import current_app

from portal.aftercommit import after_commit

SEND_ACCESS_EMAIL = "bookings.tasks.send_access_email"
REPLAN_STAY = "bookings.tasks.replan_stay"
FETCH_FEED = "bookings.ical.tasks.fetch_feed"
PROCESS_PMS_EVENT = "bookings.pms.tasks.process_pms_event"


def send_now(name: str, *args: object) -> None:
    """Send the task's message at once (outside a transaction, e.g. a periodic sweep)."""
    current_app.tasks[name].delay(*args)


def send_on_commit(name: str, *args: object) -> None:
    """Send the task's message once the current transaction commits (at once outside one);
    a broker that cannot be reached is logged, never raised (portal/aftercommit.py). The log
    names the task and its ids only (every argument here is an id)."""
    what = f"{name.rpartition('.')[2]}({', '.join(str(a) for a in args)})"
    after_commit(lambda: send_now(name, *args), what=what)
