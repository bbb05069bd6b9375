"""Sending locks' Celery tasks by name, so that services never import the task modules (the
tasks import the services; the other way round would close an import circle).

A task is looked up in the Celery app's registry by its name (`locks.tasks.run_command`, ...),
the module that defines it loaded on first use, and sent with `apply_async`: eager settings
(tests, CELERY_TASK_ALWAYS_EAGER) and the task routes in portal/settings.py apply as they did
to a task called through its function."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from celery import current_app

from portal.aftercommit import after_commit


def task_named(name: str):
    """The registered task called `name`, importing its module ("a.b.tasks" for
    "a.b.tasks.f") when no process loaded it yet."""
    tasks = current_app.tasks
    if name not in tasks:
        import_module(name.rpartition(".")[0])
    return tasks[name]


def task_send(
    name: str, *args: Any, queue: str | None = None, countdown: float | None = None
) -> None:
    """Send the task called `name` with `args` now (the caller is already after commit)."""
    options: dict[str, Any] = {}
    if queue is not None:
        options["queue"] = queue
    if countdown is not None:
        options["countdown"] = countdown
    task_named(name).apply_async(args, **options)


def task_send_on_commit(name: str, *args: Any) -> None:
    """Send the task called `name` once the current transaction commits (robustly: see
    portal/aftercommit.py); the log line names the task and its ids only."""
    short = name.rpartition(".")[2]
    after_commit(lambda: task_send(name, *args), what=f"{short}({', '.join(str(a) for a in args)})")
