"""Retention for what the locks app keeps: webhook receipts, finished agent jobs and commands,
the activity log, and the names of a holder's codes once the person must be forgotten.

Routine commands (reconcile rounds and code syncs: about 96 a lock a day) go much sooner than
the rest (`RoutineCommandPrune`, after LATCHKEY_COMMAND_RETENTION_DAYS): a fleet's outbox
would otherwise grow by a million rows a day.

Each prune removes at most `limit` rows and returns how many it removed, so the caller
(bookings.retention, run by a beat task) loops in small transactions until a batch comes back
short or its time is up; running twice removes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery

from locks.models import (
    AccessCode,
    AgentJob,
    CommandKind,
    CommandStatus,
    LockCommand,
    LockEvent,
    ObservedCode,
    WebhookDelivery,
)


def _delete_batch(qs, *, limit: int) -> int:
    """Delete the first `limit` rows of `qs` by primary key (one short statement each time,
    never one huge DELETE holding locks on a busy table)."""
    ids = list(qs.order_by("pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    qs.model.objects.filter(pk__in=ids).delete()
    return len(ids)


# Each prune below has a `*_due` twin: the rows it would delete, by an organization's id or
# an OuterRef to one (bookings.retention asks all organizations at once whether any are due).
OrganizationRef = int | OuterRef | None


def webhook_deliveries_due(*, organization_id: OrganizationRef, before: dt.datetime):
    return WebhookDelivery.objects.filter(organization_id=organization_id, received_at__lt=before)


def webhook_deliveries_prune(
    *, organization_id: int | None, before: dt.datetime, limit: int
) -> int:
    """Webhook receipts older than `before`. None: receipts stored before they named their
    organization (those follow the default retention). A sender repeating a delivery older
    than the retention gets it applied again, which the webhooks tolerate (they re-read)."""
    return _delete_batch(
        webhook_deliveries_due(organization_id=organization_id, before=before), limit=limit
    )


def agent_jobs_due(*, organization_id: OrganizationRef, before: dt.datetime):
    return AgentJob.objects.filter(
        organization_id=organization_id,
        status__in=[AgentJob.Status.DONE, AgentJob.Status.FAILED, AgentJob.Status.CANCELLED],
        created_at__lt=before,
    )


def agent_jobs_prune(*, organization_id: int, before: dt.datetime, limit: int) -> int:
    """Finished agent jobs (their parameters carry code names and digits) older than
    `before`; a job still pending or with the agent is never touched."""
    return _delete_batch(
        agent_jobs_due(organization_id=organization_id, before=before), limit=limit
    )


def lock_events_due(*, organization_id: OrganizationRef, before: dt.datetime):
    return LockEvent.objects.filter(organization_id=organization_id, occurred_at__lt=before)


def lock_events_prune(*, organization_id: int, before: dt.datetime, limit: int) -> int:
    """The activity log older than `before`."""
    return _delete_batch(
        lock_events_due(organization_id=organization_id, before=before), limit=limit
    )


def lock_commands_due(*, organization_id: OrganizationRef, before: dt.datetime):
    return LockCommand.objects.filter(
        organization_id=organization_id,
        status__in=[CommandStatus.SUCCEEDED, CommandStatus.FAILED],
        created_at__lt=before,
    )


def lock_commands_prune(*, organization_id: int, before: dt.datetime, limit: int) -> int:
    """Finished commands (succeeded or failed) created before `before`: the outbox's history,
    kept as long as the activity log. Pending and running ones are never touched."""
    return _delete_batch(
        lock_commands_due(organization_id=organization_id, before=before), limit=limit
    )


FINISHED = (CommandStatus.SUCCEEDED, CommandStatus.FAILED)
ROUTINE = (CommandKind.RECONCILE, CommandKind.SYNC_CODE)


class RoutineCommandPrune:
    """One step of the retention loop per call: the next `limit` finished routine commands
    (reconcile, code sync) created before `before`, oldest first, and of those it deletes
    the ones a newer command of the same series has replaced. Returns how many it looked at
    (a short batch: done); `deleted` counts what went.

    Kept, whatever their age: the latest command of each series (a lock's last check, a
    code's last sync: the stay page shows it and the sync state), any command an unfinished
    agent job still belongs to, and every remote action and foreign-code removal (a person
    asked for those: they follow the activity log's retention, `lock_commands_prune`).

    What it keeps as the latest of its series it marks `prune_kept`, which takes it out of
    the partial index the walk reads (lockcommand_routine_to_prune): a run reads what crossed
    `before` since the last one, not every old code's last sync again (issue 16: that re-read
    grew with the fleet). A kept command is looked at again when a newer one of its series
    comes to the prune (then it has been replaced, and goes with it), or, a check, when its
    row is re-armed for a new round (the flag is cleared). One an open agent job holds is not
    marked: it is read again each run until the job ends. The walk goes by (created_at, pk)
    from where the last call stopped, so what a batch leaves is not read again by the next.
    """

    def __init__(self, *, organization_id: int, before: dt.datetime, limit: int) -> None:
        self.organization_id = organization_id
        self.before = before
        self.limit = limit
        self.after: tuple[dt.datetime, int] | None = None
        self.deleted = 0

    @staticmethod
    def due(*, organization_id: OrganizationRef, before: dt.datetime):
        """What the walk reads: finished routine commands before `before` not kept yet."""
        return LockCommand.objects.filter(
            organization_id=organization_id,
            status__in=FINISHED,
            created_at__lt=before,
            kind__in=ROUTINE,
            prune_kept=False,
        )

    def __call__(self) -> int:
        rows = self.due(organization_id=self.organization_id, before=self.before)
        if self.after is not None:
            at, pk = self.after
            # (created_at, pk) > (at, pk), written so the index seeks to `at` instead of
            # reading every row before it again (the dead ones of the batches before, too).
            rows = rows.filter(created_at__gte=at).exclude(created_at=at, pk__lte=pk)
        seen = list(
            rows.order_by("created_at", "pk").values_list(
                "created_at", "pk", "kind", "lock_id", "access_code_id"
            )[: self.limit]
        )
        if not seen:
            return 0
        self.after = seen[-1][:2]
        checks = {pk: lock for _, pk, kind, lock, _ in seen if kind == CommandKind.RECONCILE}
        syncs = {pk: code for _, pk, kind, _, code in seen if kind == CommandKind.SYNC_CODE}
        kept_before = LockCommand.objects.filter(prune_kept=True)
        ids = [
            *_replaced(LockCommand.objects.filter(pk__in=checks), kind=CommandKind.RECONCILE),
            *_replaced(LockCommand.objects.filter(pk__in=syncs), kind=CommandKind.SYNC_CODE),
            # What earlier runs kept in the series of this batch: replaced by now?
            *_replaced(
                kept_before.filter(lock_id__in=set(checks.values())), kind=CommandKind.RECONCILE
            ),
            *_replaced(
                kept_before.filter(access_code_id__in={c for c in syncs.values() if c}),
                kind=CommandKind.SYNC_CODE,
            ),
        ]
        if ids:
            LockCommand.objects.filter(pk__in=ids).delete()
        # The rest is the latest of its series (or a sync without a code: no series), unless
        # an agent job still holds it.
        LockCommand.objects.filter(pk__in=[*checks, *syncs]).exclude(pk__in=ids).exclude(
            Exists(_open_job())
        ).update(prune_kept=True)
        self.deleted += len(ids)
        return len(seen)


def _open_job():
    return AgentJob.objects.filter(
        command_id=OuterRef("pk"), status__in=[AgentJob.Status.PENDING, AgentJob.Status.SENT]
    )


def _replaced(rows, *, kind: str) -> list[int]:
    """The commands of `kind` among `rows` that a newer one of their series replaced and no
    open agent job holds. One query per series, each probing one small index per row: one OR
    of both costs the planner's estimate of both per row, which is enough to make PostgreSQL
    JIT-compile every batch (most of a batch's time on a big table)."""
    if kind == CommandKind.RECONCILE:
        newer = LockCommand.objects.filter(
            lock_id=OuterRef("lock_id"), kind=kind, pk__gt=OuterRef("pk")
        )
        rows = rows.filter(kind=kind)
    else:
        newer = LockCommand.objects.filter(
            access_code_id=OuterRef("access_code_id"), kind=kind, pk__gt=OuterRef("pk")
        )
        rows = rows.filter(kind=kind, access_code__isnull=False)
    return list(
        rows.filter(Exists(newer)).exclude(Exists(_open_job())).values_list("pk", flat=True)
    )


# Log entries that name a code lie within this of its window: pushed at most the preload
# horizon (30 days at most) before, removed soon after (an offline lock: when it is back).
LOG_MARGIN = dt.timedelta(days=31)
LOG_QUERY_CODES = 100


@dataclass(frozen=True)
class Person:
    """Someone whose access must be kept without them: the holder of their codes, the name
    those codes carry from now on, and the strings that named them (removed from the log)."""

    holder: str
    code_name: str
    names: tuple[str, ...] = ()


def _scrub(text: str, replacements: Sequence[tuple[str, str]]) -> str:
    for old, new in replacements:
        if old:
            text = text.replace(old, new)
    return text


@transaction.atomic
def holders_anonymise(*, organization_id: int, people: Sequence[Person], replacement: str) -> int:
    """Keep the code history (digits, windows, states, locks) of these holders without the
    person: their codes get `code_name` and lose any app account email; observed copies are
    renamed; log entries that name them (their code's old name, or their own name in an entry
    about the holder) are rewritten and lose the client address. Returns the codes changed.

    Only for access that is over: a code still on its lock would be renamed there too."""
    by_holder = {p.holder: p for p in people}
    if not by_holder:
        return 0
    codes = list(
        AccessCode.objects.filter(organization_id=organization_id, holder__in=by_holder).only(
            "pk",
            "lock_id",
            "holder",
            "name",
            "account_email",
            "applied",
            "valid_from",
            "valid_until",
        )
    )
    # (lock, old code name) -> new name: the lock logs name a code as the lock knows it; and
    # the time around its window in which entries can name it (pushed up to the preload
    # horizon before, removed after), so the log is read by (lock, occurred_at), not whole.
    renamed: dict[tuple[int, str], str] = {}
    windows: dict[tuple[int, str], tuple[dt.datetime, dt.datetime]] = {}
    for code in codes:
        person = by_holder[code.holder]
        if code.name and code.name != person.code_name:
            key = (code.lock_id, code.name)
            renamed[key] = person.code_name
            start, end = windows.get(key, (code.valid_from, code.valid_until))
            windows[key] = (min(start, code.valid_from), max(end, code.valid_until))
        if isinstance(code.applied, dict):  # rare: what a lock confirmed and still holds
            applied = {
                **code.applied,
                **({"name": person.code_name} if "name" in code.applied else {}),
                **({"account_email": ""} if "account_email" in code.applied else {}),
            }
            AccessCode.objects.filter(pk=code.pk).update(applied=applied)
    # Plain UPDATEs, one per person: bulk_update's CASE per row costs more in Python than the
    # database spends (measured with bench/retention.py).
    for person in by_holder.values():
        AccessCode.objects.filter(organization_id=organization_id, holder=person.holder).update(
            name=person.code_name, account_email=""
        )
    # What the locks reported holding takes the new names, in one statement.
    ObservedCode.objects.filter(access_code_id__in=[c.pk for c in codes]).update(
        name=Subquery(AccessCode.objects.filter(pk=OuterRef("access_code_id")).values("name")[:1])
    )

    events: dict[int, LockEvent] = {}
    for event in LockEvent.objects.filter(
        organization_id=organization_id, detail__holder__in=list(by_holder)
    ).only("pk", "lock_id", "message", "detail"):
        events[event.pk] = event
    # Entries naming the old codes: one query per LOG_QUERY_CODES codes, each term a range of
    # the (lock, occurred_at) index.
    terms = [
        Q(lock_id=lock_id, occurred_at__gte=start - LOG_MARGIN, occurred_at__lte=end + LOG_MARGIN)
        & (Q(message__contains=old) | Q(detail__name=old))
        for (lock_id, old), (start, end) in windows.items()
    ]
    for i in range(0, len(terms), LOG_QUERY_CODES):
        where = functools.reduce(operator.or_, terms[i : i + LOG_QUERY_CODES])
        for event in LockEvent.objects.filter(where).only("pk", "lock_id", "message", "detail"):
            events.setdefault(event.pk, event)
    by_lock: dict[int, list[tuple[str, str]]] = {}
    for (lock_id, old), new in renamed.items():
        by_lock.setdefault(lock_id, []).append((old, new))
    for event in events.values():
        before = event.detail if isinstance(event.detail, dict) else {}
        person = by_holder.get(before.get("holder"))
        pairs = list(by_lock.get(event.lock_id, ()))
        if person is not None:
            pairs += [(name, replacement) for name in person.names]
        message = _scrub(event.message, pairs)[:200]
        detail = {k: v for k, v in before.items() if k != "ip"}
        if isinstance(detail.get("name"), str):
            detail["name"] = _scrub(detail["name"], pairs)
        if (message, detail) != (event.message, before):
            LockEvent.objects.filter(pk=event.pk).update(message=message, detail=detail)
    return len(codes)
