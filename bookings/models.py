"""Bookings, the access each stay grants, and the emails sent to guests."""

from __future__ import annotations

import builtins

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.models import Organization
from properties.models import Property


class BookingStatus(models.TextChoices):
    TENTATIVE = "tentative", _("Tentative")
    CONFIRMED = "confirmed", _("Confirmed")
    CANCELLED = "cancelled", _("Cancelled")


class Language(models.TextChoices):
    EN = "en", "English"
    DE = "de", "Deutsch"


class Booking(models.Model):
    """A stay, upserted by (source, external_id) within an organization."""

    # No index of their own on these two keys: the upsert key and the Meta indexes below begin
    # with them, and every index costs each booking insert (bench/ingest.py).
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="bookings", db_index=False
    )
    property = models.ForeignKey(
        Property, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
    source = models.CharField(max_length=32, default="api")
    external_id = models.CharField(max_length=120)
    status = models.CharField(max_length=10, choices=BookingStatus.choices)
    guest_name = models.CharField(max_length=120, blank=True, default="")
    guest_email = models.EmailField(blank=True, default="")
    # The guest's Nuki account, for app access where the property offers it (else guest_email).
    guest_nuki_email = models.EmailField(blank=True, default="")
    guest_phone = models.CharField(max_length=40, blank=True, default="")
    guest_language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    # What some channels give instead of a phone number (Airbnb's iCal: the last 4 digits), and
    # the reservation's page at the channel, for the manager.
    guest_phone_last4 = models.CharField(max_length=4, blank=True, default="")
    reservation_url = models.URLField(max_length=500, blank=True, default="")
    check_in = models.DateField()
    check_out = models.DateField()
    check_in_time = models.TimeField(null=True, blank=True)
    check_out_time = models.TimeField(null=True, blank=True)
    # Exact moments, when the source sent datetimes with an offset rather than dates.
    check_in_at = models.DateTimeField(null=True, blank=True)
    check_out_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # Set when the guest's name, email and phone were removed (the organization's retention):
    # the stay, its dates and its code history stay, without the person.
    anonymised_at = models.DateTimeField(null=True, blank=True)

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
            # For bookings.retention: stays not anonymised yet, by check-out (those anonymised
            # drop out, so a run reads what is due, not the organization's past).
            models.Index(
                fields=["organization", "check_out"],
                condition=models.Q(anonymised_at__isnull=True),
                name="booking_to_anonymise",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.guest_name or self.external_id} {self.check_in}→{self.check_out}"


class AccessGrant(models.Model):
    """Who may open which doors when: one code per stay, the same on every lock of the stay."""

    # Indexed through (organization, valid_from) below.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
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
        ACCESS = "access", _("Your door code")
        UPDATED = "updated", _("Your stay was changed")

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
    # The code and property the email announced: a new code (a redraw, a backup code) or a
    # move to another property needs a new email even when the times stay the same.
    code = models.CharField(max_length=6, blank=True, default="")
    property = models.ForeignKey(
        Property, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "-created_at"])]


class StayLink(models.Model):
    """The private link to a guest's stay page: one per grant, stable across re-sent emails.

    Only the nonce the token is derived from (with the installation's key) and a SHA-256 of the
    token are stored: a database dump alone opens no stay page. Rotating the nonce (the grant
    was cancelled) kills every copy of the link.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    grant = models.OneToOneField(AccessGrant, on_delete=models.CASCADE, related_name="stay_link")
    nonce = models.CharField(max_length=32)
    token_hash = models.CharField(max_length=64, unique=True)
    # The id of the ring key the token was derived with (portal.crypto): the link keeps that
    # key while it is listed, so rotating LATCHKEY_ENCRYPTION_KEY never breaks a link a guest
    # already has. Empty: made before key ids (its key is found by trying each).
    key_id = models.CharField(max_length=8, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)


class StepUpChallenge(models.Model):
    """One step-up verification of a stay's guest (e.g. an emailed one-time code), good for
    one opening. The verifier keeps only a keyed hash of any secret it sent."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the answer")
        PASSED = "passed", _("Passed (used for one opening)")
        FAILED = "failed", _("Too many wrong answers")
        SUPERSEDED = "superseded", _("Replaced by a newer challenge")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    grant = models.ForeignKey(AccessGrant, on_delete=models.CASCADE, related_name="challenges")
    verifier = models.CharField(max_length=32)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # `<key id>:<hex HMAC>` (portal.crypto.stamped_digest); bare hex from before key ids.
    secret_hash = models.CharField(max_length=80, blank=True, default="")
    data = models.JSONField(default=dict, blank=True, help_text="The verifier's own state.")
    attempts = models.PositiveSmallIntegerField(default=0)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    passed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["grant", "status", "-created_at"])]


# The iCal feed models live in their package; imported here so Django registers them.
from bookings.ical.models import FetchStatus, IcalFeed, IcalStay  # noqa: E402, F401


class StandingAccess(models.Model):
    """Recurring access for people who are not guests (cleaning staff, owners): the same code
    on some or all doors of a property, on chosen weekdays between two local times.

    On locks that store weekday and time limits the code goes on once with those limits; on
    others it holds one day's window at a time, moved on to the next day as each one ends
    (the lock never holds more access than the current or next window).
    """

    class Role(models.TextChoices):
        CLEANING = "cleaning", _("Cleaning staff")
        OWNER = "owner", _("Owner")
        STAFF = "staff", _("Other staff")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    property = models.ForeignKey(Property, on_delete=models.PROTECT, related_name="standing_access")
    locks = models.ManyToManyField(
        "locks.Lock", blank=True, help_text="Empty: every door of the property."
    )
    name = models.CharField(max_length=80)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.CLEANING)
    # Nuki's bitmask: Monday = 64, Tuesday = 32, ... Sunday = 1.
    weekdays = models.PositiveSmallIntegerField(default=127)
    from_time = models.TimeField()
    until_time = models.TimeField(help_text="Earlier than from_time: the window ends next day.")
    starts_on = models.DateField(null=True, blank=True)
    ends_on = models.DateField(null=True, blank=True)
    code = models.CharField(max_length=6)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "standing access"
        indexes = [models.Index(fields=["organization", "property"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_role_display()})"

    @builtins.property  # the field named `property` shadows the builtin in this class body
    def holder(self) -> str:
        return f"standing:{self.pk}"

    @staticmethod
    def id_from_holder(holder: str) -> int | None:
        kind, _, pk = holder.partition(":")
        return int(pk) if kind == "standing" and pk.isdigit() else None


# PMS connections live in their own package; importing them here registers them with the app.
from bookings.pms.models import (  # noqa: E402, F401
    PmsConnection,
    PmsEvent,
    PmsListingMapping,
    PmsReservation,
)


class AccessCodeHistory(models.Model):
    """What an ended keypad code or app access was, kept after its AccessCode row is folded
    away (bookings.code_history): the holder ("grant:42"), the lock, the window, when it was
    set and removed and how it ended. Never the digits, never an app account's email: a past
    stay's page and the audit need the when and where, not the secret."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    lock = models.ForeignKey("locks.Lock", on_delete=models.CASCADE, related_name="+")
    holder = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=8, default="keypad")
    name = models.CharField(max_length=20, blank=True, default="")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    set_at = models.DateTimeField(null=True, blank=True, help_text="When the lock confirmed it.")
    ended_at = models.DateTimeField(help_text="When it left the lock (its last change).")
    # "removed" (it was on the lock and left it) or "never_set" (it ended before it was set).
    outcome = models.CharField(max_length=10)
    folded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "valid_until"])]
