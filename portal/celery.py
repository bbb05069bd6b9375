"""The Celery application. Tasks stay thin: load by id, call a service."""

import gc
import os

from celery import Celery
from celery.signals import task_prerun, worker_init, worker_process_init

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


def worker_nice() -> int:
    """LATCHKEY_WORKER_NICE: how much lower this worker's CPU priority is than the web's and
    the code workers' (0..19; from the environment, read before Django's settings exist)."""
    try:
        return max(0, min(19, int(os.environ.get("LATCHKEY_WORKER_NICE", "0") or 0)))
    except ValueError:
        return 0


AUTOGROUP = "/proc/self/autogroup"


@worker_init.connect
def lower_priority(**kwargs) -> None:
    """Bulk channels (calendar and PMS ingestion, on-site agents, bridges, mail, beat's
    sweeps) run niced in docker-compose.yml, so on a shared machine a tenant's flood of them
    yields the CPU to guests' requests and to code pushes (bench/noisy_neighbour.py). Set in
    the worker's main process before its pool starts: every pool process inherits it."""
    step = worker_nice()
    if step:
        os.nice(step)
        lower_session_priority(step)


def lower_session_priority(step: int, *, autogroup: str = AUTOGROUP) -> bool:
    """Lower this process's session's CPU share too, when the process leads a session of its
    own (a supervisor or the benchmark started it with setsid). Returns whether it did.

    Why: with Linux's autogroup scheduling (sched_autogroup_enabled, the default on most
    distributions), each session is one scheduling group and the CPU is shared fairly among
    groups: a plain nice only orders the threads inside the worker's own group, so a niced
    worker in its own session still took as much CPU as the web's whole group (/proc in
    bench/noisy_neighbour.py: the niced iCal parse and agent commands took most of a core
    while another tenant's requests waited). The group's own nice is what weighs against the
    others. A worker sharing its session (`make run`: one session for
    the web and every worker) is left alone: that would lower the web too. In containers the
    cgroup's weight does this instead (docker-compose.yml `cpu_shares`)."""
    if os.getsid(0) != os.getpid():
        return False
    try:
        with open(autogroup, "w") as group:
            group.write(str(step))
    except OSError:  # no autogroup in this kernel, or not allowed: the plain nice stands
        return False
    return True
