"""Reads for locks: the codes on a lock (ours with their state, and foreign ones)."""

from __future__ import annotations

from locks.models import AccessCode, CodeState, Lock, ObservedCode


def lock_codes(*, lock: Lock) -> list[dict]:
    ours = (
        AccessCode.objects.filter(lock=lock)
        .exclude(state=CodeState.REMOVED)
        .order_by("valid_from", "pk")
    )
    rows = [
        {
            "name": ac.name,
            "code": ac.code,
            "valid_from": ac.valid_from,
            "valid_until": ac.valid_until,
            "state": ac.state,
            "managed": True,
            "holder": ac.holder,
            "last_error": ac.last_error,
        }
        for ac in ours
    ]
    foreign = ObservedCode.objects.filter(lock=lock, access_code__isnull=True).order_by("name")
    rows += [
        {
            "name": oc.name,
            "code": oc.code,
            "valid_from": oc.valid_from,
            "valid_until": oc.valid_until,
            "state": "foreign",
            "managed": False,
            "holder": "",
            "last_error": "",
        }
        for oc in foreign
    ]
    return rows
