"""Celery tasks: thin wrappers that load by id and call a service. Services never import this
module: they send these tasks by name (locks/dispatch.py), so the names below are stable."""

from __future__ import annotations

from celery import shared_task

from locks.integrations import logsync
from locks.integrations.bridge import services as bridges
from locks.integrations.nuki_web import connection as nukiweb
from locks.models import Bridge, NukiWebConnection
from locks.nuki.bridge import BridgeError
from locks.nuki.web import NukiWebError
from locks.sync import desired, outbox, runner, schedule


@shared_task(acks_late=True, ignore_result=True)
def run_command(command_id: int) -> str:
    return runner.command_run(command_id=command_id)


@shared_task(acks_late=True, ignore_result=True)
def run_commands(command_ids: list[int]) -> list[str]:
    """Several commands sent as one message (one per transaction), run one after the other.
    Each is claimed on its own, so a lock that is busy simply leaves its command to the next
    dispatch or the sweep."""
    return [runner.command_run(command_id=command_id) for command_id in command_ids]


@shared_task(ignore_result=True)
def sweep_commands() -> dict:
    return outbox.sweep()


@shared_task(ignore_result=True)
def plan_due_codes() -> dict:
    return desired.plan_due()


@shared_task(ignore_result=True)
def reconcile_all() -> dict:
    """One tick of the spread reconcile (the name stays: beat and queued messages use it)."""
    return schedule.reconcile_tick()


@shared_task(ignore_result=True)
def bridge_connect(bridge_id: int) -> None:
    bridge = Bridge.objects.filter(pk=bridge_id).select_related("organization").first()
    if bridge is not None:
        bridges.bridge_connect(bridge=bridge)


@shared_task(ignore_result=True)
def sync_bridge_logs() -> dict:
    """Beat: queue one log sync per bridge and per Nuki Web account due (logsync)."""
    return logsync.log_syncs_queue()


@shared_task(ignore_result=True)
def sync_bridge_log(bridge_id: int) -> int:
    bridge = Bridge.objects.filter(pk=bridge_id, status=Bridge.Status.OK).first()
    if bridge is None:
        return 0
    try:
        return bridges.bridge_log_sync(bridge=bridge)
    except BridgeError:
        return 0  # unreachable: reported by its next action or import; rate-limited: next round


@shared_task(ignore_result=True)
def sync_nuki_web_logs(connection_id: int, after_lock_id: int = 0) -> int:
    conn = NukiWebConnection.objects.filter(
        pk=connection_id, status=NukiWebConnection.Status.OK
    ).first()
    if conn is None:
        return 0
    return logsync.nuki_web_logs_sync(connection=conn, after_lock_id=after_lock_id).added


@shared_task(bind=True, ignore_result=True, max_retries=12)
def nuki_web_setup(self, connection_id: int) -> None:
    """Register the webhook and import the locks; retried while Nuki Web cannot be reached
    (a cloud hiccup, or the demo's stand-in still starting)."""
    conn = NukiWebConnection.objects.filter(pk=connection_id).select_related("organization").first()
    if conn is None:
        return
    try:
        nukiweb.nuki_web_setup(connection=conn)
    except NukiWebError as exc:
        NukiWebConnection.objects.filter(pk=conn.pk).update(last_error=exc.message)
        if not exc.permanent and not self.request.is_eager:
            countdown = exc.retry_after or min(60, 2 * 2**self.request.retries)
            raise self.retry(countdown=countdown) from None
    else:
        NukiWebConnection.objects.filter(pk=conn.pk).exclude(last_error="").update(last_error="")
