"""Retention: what is deleted or anonymised when, per organization (its `retention_*` days).

- Raw deliveries (PMS events, Nuki Web webhook receipts, finished agent jobs): deleted after
  `retention_raw_days`.
- The locks' activity log and finished commands: deleted after `retention_lock_event_days`;
  routine commands (reconcile rounds, code syncs) a newer one replaced already after
  LATCHKEY_COMMAND_RETENTION_DAYS (locks.retention.RoutineCommandPrune).
- Ended codes: LATCHKEY_CODE_HISTORY_DAYS after their window (and a week past the guest
  retention at the earliest) folded into AccessCodeHistory rows, without digits
  (bookings.code_history).
- Guests: `retention_guest_days` after check-out the name, email and phone go; the stay, its
  dates, its counts and its code history (AccessCode rows: digits, windows, states) stay,
  without the person. The emails kept for the stay lose address and body, the stay link and
  step-up challenges go, log entries and alerts that named the guest are rewritten.

Run by `bookings.tasks.apply_retention` (beat, hourly): batches of `batch_size` rows, each in
its own short transaction, until every kind is done or the time budget is spent; the next run
goes on where this one stopped. Running it twice changes nothing the second time. One query
first says which organizations have anything of which kind due (`_due_kinds`), so the hourly
run costs what is due, not the number of organizations; each kind's selection reads an index
of what is due, never an organization's whole history (issue 16).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from bookings import code_history
from bookings.models import (
    AccessCodeHistory,
    AccessGrant,
    Booking,
    GuestEmail,
    StayLink,
    StepUpChallenge,
)
from bookings.pms.models import PmsEvent, PmsEventOutcome
from locks import retention as lock_retention
from portal.models import Alert, Organization

log = logging.getLogger(__name__)

BATCH_SIZE = 500
BUDGET_SECONDS = 120.0
ANONYMISED_NAME = "Guest (anonymised)"


def _code_name(grant: AccessGrant) -> str:
    """The name an anonymised stay's codes keep: our tag alone (bookings.services.code_name
    without the guest)."""
    return f"LK{grant.pk}"


def pms_events_due(*, organization: Organization | OuterRef, before: dt.datetime):
    return PmsEvent.objects.filter(
        connection__organization=organization, received_at__lt=before
    ).exclude(outcome=PmsEventOutcome.PENDING)


def pms_events_prune(*, organization: Organization, before: dt.datetime, limit: int) -> int:
    """Raw PMS deliveries received before `before`, except those still waiting to be
    processed (the sweep marks those failed soon enough; then they go too)."""
    ids = list(
        pms_events_due(organization=organization, before=before)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        PmsEvent.objects.filter(pk__in=ids).delete()
    return len(ids)


def stays_ended(*, organization: Organization | OuterRef, cutoff: dt.datetime):
    """Stays that ended before `cutoff` (now - the guest retention), not anonymised yet, by
    the stay's own dates: the check-out date (local: at most a day off UTC, hence the day's
    margin) and the exact check-out. On the booking_to_anonymise partial index alone (what
    `_due_kinds` asks: with the grant joined, PostgreSQL's estimate of old stays not
    anonymised, made from the two columns apart, led it to walk every stay by id)."""
    cutoff_date = (cutoff - dt.timedelta(days=1)).date()
    return Booking.objects.filter(
        organization=organization, anonymised_at__isnull=True, check_out__lt=cutoff_date
    ).filter(Q(check_out_at__isnull=True) | Q(check_out_at__lt=cutoff))


def stays_due(*, organization: Organization | OuterRef, cutoff: dt.datetime):
    """The ended stays whose access window is over too: never an upcoming or current stay."""
    return stays_ended(organization=organization, cutoff=cutoff).filter(
        Q(grant__isnull=True) | Q(grant__valid_until__lt=cutoff)
    )


@transaction.atomic
def guests_anonymise(*, organization: Organization, now: dt.datetime, limit: int) -> int:
    """Anonymise up to `limit` stays that are due; returns how many."""
    cutoff = now - dt.timedelta(days=organization.retention_guest_days)
    bookings = list(
        stays_due(organization=organization, cutoff=cutoff)
        .select_related("grant")
        .select_for_update(of=("self",), skip_locked=True)
        # The index's order: by the primary key, PostgreSQL would walk every stay of every
        # organization in id order, expecting the batch's LIMIT to come soon (issue 16).
        .order_by("check_out", "pk")[:limit]
    )
    if not bookings:
        return 0
    ids = [b.pk for b in bookings]
    people = []
    for booking in bookings:
        grant = booking.grant if _has_grant(booking) else None
        if grant is not None:
            names = tuple(n for n in (booking.guest_name,) if n)
            people.append(
                lock_retention.Person(holder=grant.holder, code_name=_code_name(grant), names=names)
            )
    lock_retention.holders_anonymise(
        organization_id=organization.pk, people=people, replacement="the guest"
    )
    # Codes already folded into history (only if the anonymisation ran late) are renamed too.
    folded = set(
        AccessCodeHistory.objects.filter(
            organization=organization, holder__in=[p.holder for p in people]
        ).values_list("holder", flat=True)
    )
    for person in people:
        if person.holder in folded:
            AccessCodeHistory.objects.filter(
                organization=organization, holder=person.holder
            ).update(name=person.code_name)
    GuestEmail.objects.filter(booking_id__in=ids).update(to="", body_text="", body_html="")
    StayLink.objects.filter(grant__booking_id__in=ids).delete()
    StepUpChallenge.objects.filter(grant__booking_id__in=ids).delete()
    PmsEvent.objects.filter(booking_id__in=ids).update(body="", headers={})
    names = {f"booking:{b.pk}": b.guest_name for b in bookings if b.guest_name}
    alerts = list(Alert.objects.filter(organization=organization, subject__in=list(names)))
    for alert in alerts:
        alert.message = alert.message.replace(names[alert.subject], "the guest")
    Alert.objects.bulk_update(alerts, ["message"])
    Booking.objects.filter(pk__in=ids).update(
        guest_name=ANONYMISED_NAME,
        guest_email="",
        guest_nuki_email="",
        guest_phone="",
        guest_phone_last4="",
        anonymised_at=now,
    )
    return len(ids)


def _has_grant(booking: Booking) -> bool:
    try:
        booking.grant  # noqa: B018 (loaded by select_related)
    except AccessGrant.DoesNotExist:
        return False
    return True


def _default_days(field: str) -> int:
    return Organization._meta.get_field(field).default


def retention_apply(
    *,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
    budget_seconds: float = BUDGET_SECONDS,
) -> dict[str, int]:
    """Apply every organization's retention; returns how many rows of each kind were deleted
    or anonymised. Stops when the time budget is spent (the next run goes on)."""
    now = now or timezone.now()
    deadline = time.monotonic() + budget_seconds
    done: Counter[str] = Counter()

    def drain(kind: str, step: Callable[[], int]) -> bool:
        """Run `step` (one batch, own transaction) until a short batch; False: out of time."""
        while True:
            if time.monotonic() > deadline:
                return False
            with transaction.atomic():
                n = step()
            done[kind] += n
            if n < batch_size:
                return True

    # Receipts stored before they named their organization follow the default.
    legacy = now - dt.timedelta(days=_default_days("retention_raw_days"))
    if not drain(
        "webhook_deliveries",
        lambda: lock_retention.webhook_deliveries_prune(
            organization_id=None, before=legacy, limit=batch_size
        ),
    ):
        return dict(done)
    orgs = list(Organization.objects.order_by("pk"))
    due = _due_kinds(orgs, now=now)
    for org in orgs:
        cut = Cutoffs.of(org, now=now)
        by_id = {"organization_id": org.pk, "limit": batch_size}
        routine = lock_retention.RoutineCommandPrune(before=cut.routine, **by_id)

        def routine_step(routine=routine) -> int:
            deleted = routine.deleted
            checked = routine()
            done["routine_commands"] += routine.deleted - deleted
            return checked

        steps = [
            ("guests", partial(guests_anonymise, organization=org, now=now, limit=batch_size)),
            (
                "codes_folded",
                partial(
                    code_history.access_codes_fold,
                    organization=org,
                    before=cut.codes,
                    limit=batch_size,
                ),
            ),
            (
                "pms_events",
                partial(pms_events_prune, organization=org, before=cut.raw, limit=batch_size),
            ),
            (
                "webhook_deliveries",
                partial(lock_retention.webhook_deliveries_prune, before=cut.raw, **by_id),
            ),
            ("agent_jobs", partial(lock_retention.agent_jobs_prune, before=cut.raw, **by_id)),
            (
                "lock_events",
                partial(lock_retention.lock_events_prune, before=cut.events, **by_id),
            ),
            ("routine_commands_checked", routine_step),
            (
                "lock_commands",
                partial(lock_retention.lock_commands_prune, before=cut.events, **by_id),
            ),
        ]
        for kind, step in steps:
            if kind not in due[org.pk]:  # nothing due: the result still names the kind
                done[kind] += 0
                if step is routine_step:
                    done["routine_commands"] += 0
                continue
            if not drain(kind, step):
                log.info("retention: out of time at organization %s (%s)", org.pk, kind)
                return dict(done)
    return dict(done)


@dataclass(frozen=True)
class Cutoffs:
    """An organization's retention at `now`: what is older than each is due."""

    guests: dt.datetime
    codes: dt.datetime
    raw: dt.datetime
    events: dt.datetime
    routine: dt.datetime

    @classmethod
    def of(cls, org: Organization, *, now: dt.datetime) -> Cutoffs:
        events = now - dt.timedelta(days=org.retention_lock_event_days)
        routine_days = dt.timedelta(days=settings.LATCHKEY_COMMAND_RETENTION_DAYS)
        code_days = dt.timedelta(days=settings.LATCHKEY_CODE_HISTORY_DAYS)
        # Codes are folded only after their guest's anonymisation had its turn (it renames
        # them and scrubs the log by their names): a week past the guest retention at the
        # earliest.
        guest_margin = dt.timedelta(days=7)
        return cls(
            guests=now - dt.timedelta(days=org.retention_guest_days),
            codes=now - max(code_days, guest_margin + dt.timedelta(days=org.retention_guest_days)),
            raw=now - dt.timedelta(days=org.retention_raw_days),
            events=events,
            routine=max(now - routine_days, events),
        )


def _due_kinds(orgs: list[Organization], *, now: dt.datetime) -> dict[int, set[str]]:
    """Which kinds have anything due, per organization: one query for all organizations that
    share their retention settings (usually all), an EXISTS per kind, each an index probe
    per organization. So an organization with nothing due costs a few index probes, not a
    dozen statements of its own (issue 16: the task must cost what is due, not the fleet)."""
    groups: dict[Cutoffs, list[int]] = {}
    for org in orgs:
        groups.setdefault(Cutoffs.of(org, now=now), []).append(org.pk)
    ref = OuterRef("pk")
    due: dict[int, set[str]] = {org.pk: set() for org in orgs}
    for cut, ids in groups.items():
        probes = {
            # A stay whose access runs on past its check-out counts here; the step skips it.
            "guests": stays_ended(organization=ref, cutoff=cut.guests),
            "codes_folded": code_history.ended_codes(organization=ref, before=cut.codes),
            "pms_events": pms_events_due(organization=ref, before=cut.raw),
            "webhook_deliveries": lock_retention.webhook_deliveries_due(
                organization_id=ref, before=cut.raw
            ),
            "agent_jobs": lock_retention.agent_jobs_due(organization_id=ref, before=cut.raw),
            "lock_events": lock_retention.lock_events_due(organization_id=ref, before=cut.events),
            "routine_commands_checked": lock_retention.RoutineCommandPrune.due(
                organization_id=ref, before=cut.routine
            ),
            "lock_commands": lock_retention.lock_commands_due(
                organization_id=ref, before=cut.events
            ),
        }
        rows = (
            Organization.objects.filter(pk__in=ids)
            .annotate(**{f"due_{kind}": Exists(qs) for kind, qs in probes.items()})
            .values_list("pk", *(f"due_{kind}" for kind in probes))
        )
        for pk, *flags in rows:
            due[pk] = {kind for kind, flag in zip(probes, flags, strict=True) if flag}
    return due
