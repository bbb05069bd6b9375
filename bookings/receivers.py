"""Bookings' receivers: the locks app's signals (every code of a stay set: queue the guest's
email; a conflict, an unreachable lock, a lock moved, a recurring window ended), the
property's times, and a grant cancelled (its stay link rotates). Connected by importing this
module in BookingsConfig.ready."""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from bookings import dispatch
from bookings.alerts import code_not_set_settled
from bookings.backup import backup_codes_assign, backup_settled
from bookings.models import AccessGrant, Booking, StandingAccess
from bookings.services import grant_redraw, grant_sync
from bookings.standing.services import standing_access_renew, standing_access_sync
from bookings.stay.links import stay_link_rotate
from locks.models import CodeState
from locks.signals import (
    access_code_conflict,
    access_code_ended,
    access_code_state_changed,
    lock_property_changed,
    lock_unreachable,
)
from properties.signals import property_times_changed


@receiver(access_code_state_changed)
def on_access_code_state_changed(sender, access_code, **kwargs) -> None:
    grant_id = AccessGrant.id_from_holder(access_code.holder)
    if grant_id is None or access_code.state != CodeState.SET:
        return
    backup_settled(access_code=access_code)
    code_not_set_settled(access_code=access_code)

    dispatch.send_on_commit(dispatch.SEND_ACCESS_EMAIL, grant_id)


def _replan_property(property_id: int | None) -> None:
    """Re-plan every stay and standing access of a property (its locks or times changed)."""
    if property_id is None:
        return
    today = timezone.now().date()
    stays = Booking.objects.filter(property_id=property_id, check_out__gte=today).select_related(
        "property", "organization"
    )
    for booking in stays:
        grant_sync(booking=booking)
    standing = StandingAccess.objects.filter(property_id=property_id, active=True).select_related(
        "property", "organization"
    )
    for access in standing:  # a door added or removed, or the timezone changed
        standing_access_sync(access=access)


@receiver(lock_property_changed)
def on_lock_property_changed(sender, lock, old_property_id, **kwargs) -> None:
    _replan_property(old_property_id)
    _replan_property(lock.property_id)


@receiver(property_times_changed)
def on_property_times_changed(sender, property, **kwargs) -> None:
    _replan_property(property.pk)


@receiver(access_code_conflict)
def on_access_code_conflict(sender, access_code, code, **kwargs) -> None:
    """A lock already holds our digits for someone else: draw a new code for the stay."""
    grant_id = AccessGrant.id_from_holder(access_code.holder)
    if grant_id is not None:
        grant_redraw(grant_id=grant_id, taken=code)


@receiver(lock_unreachable)
def on_lock_unreachable(sender, lock, access_codes=None, **kwargs) -> None:
    """A stay about to begin whose code cannot reach this lock gets a backup code now."""
    backup_codes_assign(lock_ids=[lock.pk], access_code_ids=access_codes)


@receiver(access_code_ended)
def on_access_code_ended(sender, access_code, **kwargs) -> None:
    """A standing (recurring) code's window ended: move it on to the next occurrence."""
    if StandingAccess.id_from_holder(access_code.holder) is not None:
        standing_access_renew(access_code=access_code)


@receiver(post_save, sender=AccessGrant, dispatch_uid="stay-link-rotate-on-cancel")
def on_grant_saved(sender, instance: AccessGrant, update_fields=None, **kwargs) -> None:
    """A stay's grant was deactivated (cancelled): its private link stops working."""
    if instance.active or (update_fields is not None and "active" not in update_fields):
        return
    stay_link_rotate(grant_id=instance.pk)
