"""Bookings, the access each stay grants, and the emails sent to guests."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from portal.models import Organization
from properties.models import Property


class BookingStatus(models.TextChoices):
    TENTATIVE = "tentative", "Tentative"
    CONFIRMED = "confirmed", "Confirmed"
    CANCELLED = "cancelled", "Cancelled"


class Language(models.TextChoices):
    EN = "en", "English"
    DE = "de", "Deutsch"


class Booking(models.Model):
    """A stay, upserted by (source, external_id) within an organization."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="bookings"
    )
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="bookings")
    source = models.CharField(max_length=32, default="api")
    external_id = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=BookingStatus.choices)
    guest_name = models.CharField(max_length=120, blank=True, default="")
    guest_email = models.EmailField(blank=True, default="")
    guest_phone = models.CharField(max_length=40, blank=True, default="")
    guest_language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    check_in = models.DateField()
    check_out = models.DateField()
    check_in_time = models.TimeField(null=True, blank=True)
    check_out_time = models.TimeField(null=True, blank=True)
    # Exact moments, when the source sent datetimes with an offset rather than dates.
    check_in_at = models.DateTimeField(null=True, blank=True)
    check_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "source", "external_id"], name="booking_upsert_key"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "check_in"]),
            models.Index(fields=["organization", "status", "check_in"]),
            models.Index(fields=["property", "check_in"]),
        ]

    def __str__(self) -> str:
        return f"{self.guest_name or self.external_id} {self.check_in}→{self.check_out}"


class AccessGrant(models.Model):
    """Who may open which doors when: one code per stay, the same on every lock of the stay."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    booking = models.OneToOneField(Booking, on_delete=models.CASCADE, related_name="grant")
    code = models.CharField(max_length=6)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "valid_from"])]

    @property
    def holder(self) -> str:
        return f"grant:{self.pk}"

    @staticmethod
    def id_from_holder(holder: str) -> int | None:
        kind, _, pk = holder.partition(":")
        return int(pk) if kind == "grant" and pk.isdigit() else None


class GuestEmail(models.Model):
    """Every email sent to a guest, kept for the manager to read and resend."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Your door code"
        UPDATED = "updated", "Your stay was changed"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    to = models.EmailField()
    language = models.CharField(max_length=5)
    subject = models.CharField(max_length=200)
    body_text = models.TextField()
    body_html = models.TextField()
    # The window the email announced, to notice when a later change needs a new email.
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"])]


# PMS connections live in their own package; importing them here registers them with the app.
from bookings.pms.models import (  # noqa: E402, F401
    PmsConnection,
    PmsEvent,
    PmsListingMapping,
    PmsReservation,
)
