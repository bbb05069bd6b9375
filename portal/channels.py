"""The Celery queues, one per channel, and which task goes to which.

Queues per channel: work that waits on different things never waits behind the others. A
worker started without -Q (`make run`, the tests' worker) consumes every queue; docker-compose
runs one service per queue, each scaled on its own. Lock commands choose their queue when they
are sent, from their driver's `queue` (locks.integrations.registry.queue_for); the other
tasks by name here.
LATCHKEY_QUEUE, when set, prefixes every queue's name (the benchmarks' isolation).
"""

from __future__ import annotations

CHANNELS = (
    "codes",  # virtual and cloud (Nuki Web) codes, stay planning: quick, or a cloud's answer
    "bridge",  # Nuki bridges on the properties' LANs: a silent one holds a slot until timeout
    "agent",  # commands for locks behind an on-site BLE agent
    "mail",  # guests' emails
    "ingest",  # PMS deliveries and iCal feeds
    "periodic",  # beat's sweeps, planning, reconcile, alerts, retention
)

ROUTED = {
    "codes": [
        "locks.tasks.run_command",  # the default; sent to its lock's driver's queue
        "locks.tasks.run_commands",
        "locks.tasks.nuki_web_setup",
        "locks.tasks.sync_nuki_web_logs",  # one account's logs, within its request budget
        "bookings.tasks.replan_stay",
    ],
    "bridge": [
        "locks.tasks.bridge_connect",
        "locks.tasks.sync_bridge_logs",
        "locks.tasks.sync_bridge_log",
    ],
    "mail": ["bookings.tasks.send_access_email"],
    "ingest": ["bookings.pms.tasks.process_pms_event", "bookings.ical.tasks.fetch_feed"],
    "periodic": [
        "locks.tasks.sweep_commands",
        "locks.tasks.plan_due_codes",
        "locks.tasks.reconcile_all",
        "bookings.ical.tasks.poll_due_feeds",
        "bookings.pms.tasks.sweep_pms_events",
        "bookings.tasks.alert_unset_codes",
        "bookings.tasks.assign_backup_codes",
        "bookings.tasks.apply_retention",
    ],
}


def channel_queues(prefix: str) -> dict[str, str]:
    """Each channel's queue name, prefixed when `prefix` is set."""
    return {c: f"{prefix}-{c}" if prefix else c for c in CHANNELS}


def task_routes(queues: dict[str, str]) -> dict[str, dict[str, str]]:
    """Celery's task_routes for the tasks routed by name (lock commands choose at sending)."""
    return {task: {"queue": queues[channel]} for channel, tasks in ROUTED.items() for task in tasks}
