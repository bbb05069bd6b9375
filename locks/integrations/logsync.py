"""Reading the locks' activity logs from bridges and from Nuki Web, in small tasks within each
account's and bridge's request budget (locks/budgets.py).

Why not one task: one serial HTTP call per lock in one beat task took 1,000 s for 10,000 Nuki
Web locks against a 300 s period, and ignored every rate limit. Now the beat task only queues:
one task per bridge (a bridge's /log covers all its locks: one call) and one per Nuki Web
account whose logs need polling. An account's task reads its locks in order; when the account's
budget is spent it stops and queues its own continuation for when the budget allows.

Webhooks replace polling where Nuki Web offers them: an account whose signed webhook delivered
within LATCHKEY_NUKI_WEB_LOG_FALLBACK_SECONDS gets its log entries by DEVICE_LOGS and is not
polled; an account with a registered but silent webhook is polled at most once per that
period (the fallback); an account without a webhook registration is polled every round.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from locks.dispatch import task_send, task_send_on_commit
from locks.integrations.nuki_web.connection import nuki_web_log_sync
from locks.models import Bridge, Lock, NukiWebConnection
from locks.nuki.web import NukiWebError

# Sent by name (locks/dispatch.py); routed by name in settings (bridge and codes queues).
SYNC_BRIDGE_LOG = "locks.tasks.sync_bridge_log"
SYNC_NUKI_WEB_LOGS = "locks.tasks.sync_nuki_web_logs"


def nuki_web_logs_due(*, connection: NukiWebConnection, now: dt.datetime) -> bool:
    """Whether this account's logs must be polled this round (see the module's docstring)."""
    if not connection.webhook_id:
        return True  # no webhook: polling is all there is
    fallback = dt.timedelta(seconds=settings.LATCHKEY_NUKI_WEB_LOG_FALLBACK_SECONDS)
    if connection.webhook_seen_at is not None and now - connection.webhook_seen_at < fallback:
        return False  # the webhook delivers: DEVICE_LOGS brings the entries
    return connection.logs_polled_at is None or now - connection.logs_polled_at >= fallback


def log_syncs_queue(*, now: dt.datetime | None = None) -> dict[str, int]:
    """The beat's round: one task per connected bridge, one per Nuki Web account due."""
    now = now or timezone.now()
    bridge_ids = list(Bridge.objects.filter(status=Bridge.Status.OK).values_list("pk", flat=True))
    for bridge_id in bridge_ids:
        task_send_on_commit(SYNC_BRIDGE_LOG, bridge_id)
    connections = NukiWebConnection.objects.filter(status=NukiWebConnection.Status.OK).only(
        "pk", "webhook_id", "webhook_seen_at", "logs_polled_at"
    )
    accounts = [c.pk for c in connections if nuki_web_logs_due(connection=c, now=now)]
    for connection_id in accounts:
        task_send_on_commit(SYNC_NUKI_WEB_LOGS, connection_id, 0)
    return {"bridges": len(bridge_ids), "nuki_web_accounts": len(accounts)}


@dataclass(frozen=True)
class LogSyncRun:
    """What one run of an account's log sync did: entries added, locks read, and, when the
    account's budget stopped it, the last lock read and the seconds until it may go on."""

    added: int
    read: int
    resume_after: int | None = None
    wait: float | None = None


def nuki_web_logs_sync(*, connection: NukiWebConnection, after_lock_id: int = 0) -> LogSyncRun:
    """Read the logs of the account's locks with an id above `after_lock_id`, in id order.

    Stopped by the account's request budget (or a 429), it queues its continuation for when the
    budget allows, from the lock it stopped at. A run that could read nothing queues none (the
    next beat round starts again), so an eager run in tests cannot loop. A failing lock is
    skipped; a refused connection (reconnect needed) stops the run, its alert says why."""
    locks = Lock.objects.filter(
        organization_id=connection.organization_id, driver="nuki_web", pk__gt=after_lock_id
    ).order_by("pk")
    added = read = 0
    last = after_lock_id
    for lock in locks.iterator(chunk_size=200):
        try:
            added += nuki_web_log_sync(lock=lock)
        except NukiWebError as exc:
            if exc.retry_after is not None and not exc.permanent:
                if read:
                    task_send(SYNC_NUKI_WEB_LOGS, connection.pk, last, countdown=exc.retry_after)
                return LogSyncRun(added=added, read=read, resume_after=last, wait=exc.retry_after)
            if exc.permanent and exc.status in (None, 401):
                return LogSyncRun(added=added, read=read)  # the connection itself is refused
        read += 1
        last = lock.pk
    NukiWebConnection.objects.filter(pk=connection.pk).update(logs_polled_at=timezone.now())
    return LogSyncRun(added=added, read=read)
