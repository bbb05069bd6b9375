"""Writes for properties. A change of timezone, times or lead/lag re-plans future stays."""

from __future__ import annotations

from django.db import transaction

from portal.models import Organization
from properties.models import Property
from properties.signals import property_times_changed

PLANNING_FIELDS = (
    "timezone",
    "check_in_time",
    "check_out_time",
    "lead_minutes",
    "lag_minutes",
    "cleaning_minutes",
)


def external_ref_in_use(
    *, organization: Organization, value: str, exclude_pk: int | None = None
) -> bool:
    """Whether another property of the organization already has this external_ref.

    The API (`"property": "<ref>"`) and PMS listings find a property by it, so it must name one
    property per organization; empty names none. Checked before saving by the API and the
    property form, so the clash is a field error and nothing is written."""
    if not value:
        return False
    clash = Property.objects.filter(organization=organization, external_ref=value)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    return clash.exists()


def property_create(*, organization: Organization, **fields) -> Property:
    prop = Property(organization=organization, **fields)
    prop.full_clean()
    prop.save()
    return prop


@transaction.atomic
def property_update(*, property: Property, **fields) -> Property:
    before = {name: getattr(property, name) for name in PLANNING_FIELDS}
    for name, value in fields.items():
        setattr(property, name, value)
    property.full_clean()
    property.save()
    if any(before[name] != getattr(property, name) for name in PLANNING_FIELDS):
        # Sent inside the transaction: listeners write their outbox rows with this change.
        property_times_changed.send(sender=Property, property=property)
    return property


class PropertyInUse(ValueError):
    """A property with stays keeps its history; it cannot be deleted."""


@transaction.atomic
def property_delete(*, property: Property) -> None:
    """Delete a property without stays; its locks stay in the organization, unassigned."""
    if property.bookings.exists():
        raise PropertyInUse("This property has stays; cancel or keep them, it cannot be deleted.")
    property.delete()
