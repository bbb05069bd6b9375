"""Ended codes folded into a compact history: the AccessCode rows of access that is over go,
an AccessCodeHistory row each stays (holder, lock, window, set, removed, outcome; no digits).

An AccessCode row is ended when it is no longer wanted and on no lock (removed, or never
set: no remote id, nothing the lock reported holding, no backup code still given to it). It is
folded once its window ended `before` (bookings.retention: LATCHKEY_CODE_HISTORY_DAYS, and
never before the guest's anonymisation, which renames codes and scrubs the log by their
names, had its turn). Its commands go with it (the outbox's history of a code long over).
Each call folds at most `limit` codes in one short transaction, so the retention loop runs it
until a batch comes back short.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, Max, OuterRef

from bookings.models import AccessCodeHistory
from locks.models import AccessCode, BackupCode, CodeState, LockCommand, ObservedCode
from portal.models import Organization

NEVER_SET = "never_set"
REMOVED = "removed"


def ended_codes(*, organization: Organization, before: dt.datetime):
    """The organization's codes whose access is over and that no lock holds, ended before
    `before` (by the (wanted, valid_until) index)."""
    return (
        AccessCode.objects.filter(
            organization=organization,
            wanted=False,
            valid_until__lt=before,
            state__in=[CodeState.REMOVED, CodeState.PLANNED],
            remote_id="",
        )
        .exclude(Exists(ObservedCode.objects.filter(access_code_id=OuterRef("pk"))))
        .exclude(
            Exists(
                BackupCode.objects.filter(
                    access_code_id=OuterRef("pk"), status=BackupCode.Status.TAKEN
                )
            )
        )
    )


@transaction.atomic
def access_codes_fold(*, organization: Organization, before: dt.datetime, limit: int) -> int:
    """Fold up to `limit` ended codes into history rows; returns how many."""
    codes = list(
        ended_codes(organization=organization, before=before)
        .select_for_update(skip_locked=True)
        .order_by("pk")
        .only(
            "pk",
            "lock_id",
            "holder",
            "kind",
            "name",
            "valid_from",
            "valid_until",
            "set_at",
            "updated_at",
            "state",
        )[:limit]
    )
    if not codes:
        return 0
    ids = [code.pk for code in codes]
    # When it left the lock: its last command's end (the runner does not touch updated_at).
    last_done = dict(
        LockCommand.objects.filter(access_code_id__in=ids, finished_at__isnull=False)
        .values("access_code_id")
        .annotate(at=Max("finished_at"))
        .values_list("access_code_id", "at")
    )
    AccessCodeHistory.objects.bulk_create(
        AccessCodeHistory(
            organization=organization,
            lock_id=code.lock_id,
            holder=code.holder,
            kind=code.kind,
            name=code.name,
            valid_from=code.valid_from,
            valid_until=code.valid_until,
            set_at=code.set_at,
            ended_at=max(code.updated_at, last_done.get(code.pk) or code.updated_at),
            outcome=REMOVED if code.set_at else NEVER_SET,
        )
        for code in codes
    )
    AccessCode.objects.filter(pk__in=ids).delete()
    return len(codes)
