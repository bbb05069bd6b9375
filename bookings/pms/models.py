"""PMS connections, listing mappings, the raw events they deliver, and per-reservation
ordering state. Imported by bookings/models.py so that they belong to the bookings app."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.crypto import EncryptedTextField
from portal.models import Organization
from properties.models import Property


class PmsKind(models.TextChoices):
    HOSTAWAY = "hostaway", "Hostaway"
    GUESTY = "guesty", "Guesty"
    SMOOBU = "smoobu", "Smoobu"
    LODGIFY = "lodgify", "Lodgify"
    HOSPITABLE = "hospitable", "Hospitable"
    GENERIC = "generic", _("Generic JSON")


def new_webhook_key() -> str:
    """256 random bits: for PMSes that neither sign nor authenticate, the URL is the
    credential."""
    return secrets.token_urlsafe(32)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class PmsConnection(models.Model):
    """One PMS account of an organization: its webhook URL and secret.

    `secret` is the basic-auth password (Hostaway, generic) or the HMAC key (generic; and for
    Lodgify, Hospitable and Guesty the signing secret that PMS issues, pasted in by the
    manager). It is encrypted at rest and revealed only to owners and managers.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="pms_connections"
    )
    kind = models.CharField(max_length=12, choices=PmsKind.choices)
    name = models.CharField(max_length=80)
    webhook_key = models.CharField(max_length=64, unique=True, default=new_webhook_key)
    secret = EncryptedTextField(default=new_secret)
    created_at = models.DateTimeField(default=timezone.now)
    last_event_at = models.DateTimeField(null=True, blank=True)
    rejected_count = models.PositiveIntegerField(
        default=0, help_text="Deliveries refused for a bad signature or password."
    )
    duplicate_count = models.PositiveIntegerField(default=0)
    throttled_count = models.PositiveIntegerField(
        default=0, help_text="Deliveries refused for going over LATCHKEY_PMS_HOOK_RATE."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind"], name="one_pms_per_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.name})"

    @property
    def source(self) -> str:
        """Booking.source of the stays this connection creates."""
        return self.kind


class PmsListingMapping(models.Model):
    """An explicit PMS listing -> property link; without one, the property whose external_ref
    equals the listing id is used."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    connection = models.ForeignKey(PmsConnection, on_delete=models.CASCADE, related_name="mappings")
    listing_id = models.CharField(max_length=120)
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "listing_id"], name="one_map_per_listing")
        ]


class PmsEventOutcome(models.TextChoices):
    PENDING = "pending", _("Waiting to be processed")
    APPLIED = "applied", _("Applied to the booking")
    UNCHANGED = "unchanged", _("Nothing to change")
    STALE = "stale", _("Older than what was already applied")
    UNMAPPED = "unmapped", _("Listing not mapped to a property yet")
    IGNORED = "ignored", _("Not about a reservation")
    INVALID = "invalid", _("Could not be read")
    FAILED = "failed", _("Failed")


class PmsEvent(models.Model):
    """One authenticated delivery, stored raw before anything is done with it."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    connection = models.ForeignKey(PmsConnection, on_delete=models.CASCADE, related_name="events")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the raw body: duplicates.")
    body = models.TextField()
    headers = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=PmsEventOutcome.choices, default=PmsEventOutcome.PENDING
    )
    error = models.TextField(blank=True, default="")
    external_id = models.CharField(max_length=120, blank=True, default="")
    listing_id = models.CharField(max_length=120, blank=True, default="")
    version = models.CharField(max_length=80, blank=True, default="")
    booking = models.ForeignKey(
        "bookings.Booking", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sweeps = models.PositiveSmallIntegerField(
        default=0, help_text="Times the sweep re-queued it while pending."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "digest"], name="pms_event_once")
        ]
        indexes = [
            models.Index(fields=["connection", "outcome", "listing_id"]),
            models.Index(fields=["connection", "-received_at"]),
        ]


class PmsReservation(models.Model):
    """The newest version of a PMS reservation applied so far: an older delivery that arrives
    later is recognised as stale and changes nothing."""

    connection = models.ForeignKey(
        PmsConnection, on_delete=models.CASCADE, related_name="reservations"
    )
    external_id = models.CharField(max_length=120)
    version = models.CharField(max_length=80, blank=True, default="")
    event_pk = models.BigIntegerField(default=0, help_text="Tie-break: receipt order.")
    booking = models.ForeignKey(
        "bookings.Booking", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "external_id"], name="one_pms_reservation"
            )
        ]
