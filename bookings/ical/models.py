"""An iCal feed of a property, and the stays it brought in."""

from __future__ import annotations

import builtins

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.crypto import EncryptedTextField
from portal.models import Organization
from properties.models import Property


class FetchStatus(models.TextChoices):
    NEVER = "never", _("Not fetched yet")
    OK = "ok", _("Fetched")
    CAPPED = "capped", _("Fetched, but over the cap: later stays not imported")
    NOT_MODIFIED = "not_modified", _("Unchanged since the last fetch")
    EMPTY = "empty", _("Suspiciously empty: nothing changed")
    FAILED = "failed", _("Failed")


class IcalFeed(models.Model):
    """A calendar URL to poll. The URL often carries the only credential (Airbnb's `?s=`,
    Booking.com's `?t=`, VRBO's path), so it is encrypted at rest and shown masked."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    property = models.ForeignKey(Property, on_delete=models.CASCADE, related_name="ical_feeds")
    name = models.CharField(max_length=80, blank=True, default="")
    url = EncryptedTextField()
    # sha256 of the URL: one feed per URL and property without decrypting every row.
    url_hash = models.CharField(max_length=64)
    url_masked = models.CharField(max_length=200)
    etag = models.CharField(max_length=250, blank=True, default="")
    last_modified = models.CharField(max_length=80, blank=True, default="")
    status = models.CharField(max_length=14, choices=FetchStatus.choices, default=FetchStatus.NEVER)
    last_error = models.TextField(blank=True, default="")
    failures = models.PositiveIntegerField(default=0, help_text="Failed fetches in a row.")
    event_count = models.PositiveIntegerField(default=0, help_text="Events in the last good fetch.")
    stay_count = models.PositiveIntegerField(default=0, help_text="Stays in the last good fetch.")
    last_fetch_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    next_fetch_at = models.DateTimeField(default=timezone.now)
    # Set while a worker fetches the feed: one fetch at a time, so that two quick fetches of
    # the same answer cannot count one missing stay twice.
    fetch_lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["property", "url_hash"], name="one_feed_per_url")
        ]
        indexes = [models.Index(fields=["next_fetch_at"])]

    def __str__(self) -> str:
        return self.name or self.url_masked

    @builtins.property  # `property` is the ForeignKey above
    def source(self) -> str:
        """The bookings source of this feed's stays."""
        return f"ical:{self.pk}"


class IcalStay(models.Model):
    """A stay seen in a feed: the event UID, its booking, and how many successful fetches in a
    row it has been missing from (cancelled at 2)."""

    feed = models.ForeignKey(IcalFeed, on_delete=models.CASCADE, related_name="stays")
    uid = models.CharField(max_length=120)
    booking = models.ForeignKey("bookings.Booking", on_delete=models.CASCADE, related_name="+")
    missing = models.PositiveSmallIntegerField(default=0)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["feed", "uid"], name="one_stay_per_uid")]
