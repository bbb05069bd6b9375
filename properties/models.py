"""Property: a rental unit with its timezone, default times and lead/lag around a stay."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as djtz

from portal.models import Organization


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"{value!r} is not an IANA time zone such as Europe/Vienna."
        ) from None


class Property(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="properties"
    )
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=64, validators=[validate_timezone])
    address = models.TextField(blank=True)
    house_instructions = models.TextField(blank=True)
    check_in_time = models.TimeField(default=dt.time(15, 0))
    check_out_time = models.TimeField(default=dt.time(11, 0))
    lead_minutes = models.PositiveIntegerField(
        default=0, help_text="The code starts working this many minutes before check-in."
    )
    lag_minutes = models.PositiveIntegerField(
        default=0, help_text="The code keeps working this many minutes after check-out."
    )
    cleaning_minutes = models.PositiveIntegerField(
        default=0,
        help_text=(
            "On a same-day turnover, at least this many minutes between the leaving guest's "
            "code and the arriving guest's (the cleaning window); lag and lead are trimmed to "
            "keep it, never the guests' own check-out and check-in times."
        ),
    )
    external_ref = models.CharField(max_length=120, blank=True, default="")
    created_at = models.DateTimeField(default=djtz.now)

    class Meta:
        verbose_name_plural = "properties"
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "external_ref"],
                condition=~models.Q(external_ref=""),
                name="unique_property_external_ref",
            )
        ]
        indexes = [models.Index(fields=["organization", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
