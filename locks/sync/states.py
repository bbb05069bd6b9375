"""A code's state as the lock confirms it, and the signal others hear it by: the one place
that marks a code `set` from an observation (a read-back, a webhook) and announces state
changes (`access_code_state_changed`, sent after commit)."""

from __future__ import annotations

import datetime as dt

from locks.models import AccessCode, CodeState, ObservedCode
from locks.signals import access_code_state_changed
from portal.aftercommit import after_commit


def state_signal(ac: AccessCode) -> None:
    """Tell receivers (bookings: the guest email) that `ac` changed state, once committed."""
    after_commit(
        lambda: access_code_state_changed.send(sender=AccessCode, access_code=ac),
        what=f"access_code_state_changed({ac.pk})",
    )


def code_confirm(ac: AccessCode, remote_id: str, snapshot: dict, now: dt.datetime) -> None:
    """The lock (or cloud) reports `ac` exactly as sent (`snapshot`): it is `set`."""
    ac.remote_id, ac.applied, ac.state, ac.set_at, ac.last_error = (
        remote_id, snapshot, CodeState.SET, now, ""
    )  # fmt: skip
    ac.save(update_fields=["remote_id", "applied", "state", "set_at", "last_error"])
    # Recognised by name and digits in this pass: its observation is ours, not a foreign code.
    ObservedCode.objects.filter(lock_id=ac.lock_id, remote_id=remote_id).update(access_code=ac)
    state_signal(ac)
