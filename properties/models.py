"""Property: a rental unit with its timezone, default times and lead/lag around a stay."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as djtz
from django.utils.translation import gettext_lazy as _

from portal import verifiers
from portal.models import Organization
from portal.validators import refuse_control_characters


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            _("%(value)r is not an IANA time zone such as Europe/Vienna."),
            params={"value": value},
        ) from None


def validate_verifier(value: str) -> None:
    if value and value not in verifiers.names():
        raise ValidationError(
            _("Unknown verifier %(value)r; use one of: %(names)s."),
            params={"value": value, "names": ", ".join(verifiers.names())},
        )


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
        default=0, help_text=_("The code starts working this many minutes before check-in.")
    )
    lag_minutes = models.PositiveIntegerField(
        default=0, help_text=_("The code keeps working this many minutes after check-out.")
    )
    cleaning_minutes = models.PositiveIntegerField(
        default=0,
        help_text=_(
            "On a same-day turnover, at least this many minutes between the leaving guest's "
            "code and the arriving guest's (the cleaning window); lag and lead are trimmed to "
            "keep it, never the guests' own check-out and check-in times."
        ),
    )
    external_ref = models.CharField(max_length=120, blank=True, default="")
    # Step-up before a guest opens the door from the stay page: which verifier (blank: none),
    # and when, in local time. No times: always; from > until wraps midnight (22:00-06:00).
    step_up_verifier = models.CharField(
        max_length=32,
        blank=True,
        default="",
        validators=[validate_verifier],
        help_text=_(
            "Confirm before a guest opens the door from the stay page: blank for never, "
            "or a verifier such as email_code (a one-time code sent by email)."
        ),
    )
    step_up_from = models.TimeField(
        null=True, blank=True, help_text=_("Local time the step-up starts (e.g. 22:00).")
    )
    step_up_until = models.TimeField(
        null=True, blank=True, help_text=_("Local time the step-up ends (e.g. 06:00).")
    )
    app_access = models.BooleanField(
        default=False,
        help_text=_(
            "Also give guests time-limited access in their own Nuki app (locks "
            "connected through Nuki Web), invited by their Nuki account email."
        ),
    )
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

    def clean(self) -> None:
        # The name is every guest email's subject: a line break there fails them all.
        try:
            refuse_control_characters(self.name)
        except ValidationError as exc:
            raise ValidationError({"name": exc.messages}) from None
        if (self.step_up_from is None) != (self.step_up_until is None):
            missing = "step_up_until" if self.step_up_until is None else "step_up_from"
            raise ValidationError({missing: _("Give both step-up times, or neither (always).")})

    def step_up_required(self, at: dt.datetime) -> bool:
        """Whether opening the door at `at` needs the step-up verifier, judged by the local
        wall clock (so "after 22:00" means 22:00 at the property, on DST days too)."""
        if not self.step_up_verifier:
            return False
        start, end = self.step_up_from, self.step_up_until
        if start is None or end is None or start == end:
            return True
        local = at.astimezone(self.tz).time()
        if start < end:
            return start <= local < end
        return local >= start or local < end
