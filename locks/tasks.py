"""Celery tasks: thin wrappers that load by id and call a service."""

from __future__ import annotations

from celery import shared_task

from locks.sync import desired, outbox, reconcile, runner


@shared_task(acks_late=True, ignore_result=True)
def run_command(command_id: int) -> str:
    return runner.command_run(command_id=command_id)


@shared_task(ignore_result=True)
def sweep_commands() -> dict:
    return outbox.sweep()


@shared_task(ignore_result=True)
def plan_due_codes() -> dict:
    return desired.plan_due()


@shared_task(ignore_result=True)
def reconcile_all() -> int:
    return reconcile.reconcile_enqueue_all()
