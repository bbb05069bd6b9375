"""Tenancy: organizations, memberships with roles, organization API keys and alerts."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone as djtz  # `timezone` is also a field below
from django.utils.translation import gettext_lazy as _

from portal.alertkinds import alert_text, alert_title_for
from portal.times import DEFAULT_ZONE, zone


def validate_zone(value: str) -> None:
    try:
        zone(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class Organization(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    timezone = models.CharField(
        max_length=64,
        default=DEFAULT_ZONE,
        validators=[validate_zone],
        help_text="IANA time zone in which the pages show times that belong to no property "
        "(bridges, API keys, invitations) and the Today page's day.",
    )
    preload_hours = models.PositiveIntegerField(
        default=72, help_text="Codes are pushed to locks this many hours before check-in."
    )
    remove_foreign_codes = models.BooleanField(
        default=False,
        help_text="Remove keypad codes found on our locks that Latchkey did not create. Off: "
        "they are shown (and their digits avoided), never deleted.",
    )
    backup_lead_minutes = models.PositiveIntegerField(
        default=120,
        help_text="A stay whose code is still not on an unreachable lock this many minutes "
        "before check-in gets one of the lock's backup codes instead.",
    )
    codes_before_payment = models.BooleanField(
        default=False,
        help_text="Give a code to a confirmed stay that its PMS reports as not yet paid.",
    )
    # Retention (applied daily by bookings.tasks.apply_retention): nothing about a guest or a
    # door is kept longer than it is useful. Each at least a day, at most RETENTION_MAX_DAYS.
    retention_raw_days = models.PositiveIntegerField(
        default=30,
        help_text="Raw PMS deliveries, webhook receipts and finished agent jobs are deleted "
        "after this many days.",
    )
    retention_lock_event_days = models.PositiveIntegerField(
        default=396,
        help_text="The locks' activity log (and finished commands) is deleted after this many "
        "days (396: about 13 months).",
    )
    retention_guest_days = models.PositiveIntegerField(
        default=90,
        help_text="A guest's name, email and phone are removed this many days after "
        "check-out; dates, counts and the code history stay, without the person.",
    )
    created_at = models.DateTimeField(default=djtz.now)

    RETENTION_FIELDS = ("retention_raw_days", "retention_lock_event_days", "retention_guest_days")
    RETENTION_MAX_DAYS = 3650

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    MANAGER = "manager", _("Manager")
    VIEWER = "viewer", _("Viewer")


WRITE_ROLES = frozenset({Role.OWNER, Role.MANAGER})


class Membership(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MANAGER)
    created_at = models.DateTimeField(default=djtz.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="one_membership_per_org")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in WRITE_ROLES


class ApiKeyScope(models.TextChoices):
    READ = "read", _("Read")
    WRITE = "write", _("Read and write")


def hash_secret(raw: str) -> str:
    """SHA-256 of a high-entropy secret: enough for random keys, fast on every request."""
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKey(models.Model):
    """An organization API key, stored as a hash; only its prefix is visible after creation."""

    PREFIX_LEN = 8

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=80, blank=True)
    prefix = models.CharField(max_length=PREFIX_LEN, unique=True)
    key_hash = models.CharField(max_length=64)
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.READ)
    created_at = models.DateTimeField(default=djtz.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"lk_{self.prefix}… ({self.scope})"

    @staticmethod
    def generate() -> tuple[str, str]:
        """Return (prefix, full key). The full key is shown once and never stored."""
        prefix = secrets.token_hex(ApiKey.PREFIX_LEN // 2)
        return prefix, f"lk_{prefix}_{secrets.token_urlsafe(32)}"

    @staticmethod
    def split(raw: str) -> str | None:
        """The prefix of a presented key, or None when it is not shaped like one of ours."""
        parts = raw.split("_", 2)
        if len(parts) != 3 or parts[0] != "lk" or len(parts[1]) != ApiKey.PREFIX_LEN:
            return None
        return parts[1]

    def matches(self, raw: str) -> bool:
        return hmac.compare_digest(self.key_hash, hash_secret(raw))

    @property
    def can_write(self) -> bool:
        return self.scope == ApiKeyScope.WRITE


class AlertSeverity(models.TextChoices):
    INFO = "info", _("Info")
    WARNING = "warning", _("Warning")
    CRITICAL = "critical", _("Critical")


class Alert(models.Model):
    """Something a manager should know, in plain words, with what to do next.

    `subject` names what the alert is about ("lock:12", "booking:7") so that raising the same
    alert twice keeps one open row.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=40)
    subject = models.CharField(max_length=80)
    severity = models.CharField(
        max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING
    )
    message = models.TextField()  # English rendering of `code`; the text itself for old rows
    fix = models.TextField(blank=True)
    # What to say (a key of portal.alertkinds.ALERT_TEXTS) and with which values: rendered in
    # the reader's language. Empty on rows written before codes existed.
    code = models.CharField(max_length=60, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    # "kind subject" of the alerts this one stands for (one cause, one alert): while it is
    # open they are not raised on their own.
    covers = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=djtz.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "kind", "subject"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_alert_per_subject",
            )
        ]
        indexes = [models.Index(fields=["organization", "resolved_at", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}"

    def _rendered(self) -> tuple[str, str, str] | None:
        return alert_text(kind=self.kind, code=self.code, params=self.params)

    @property
    def title(self) -> str:
        """The headline in the active language ("" when none is known)."""
        return alert_title_for(kind=self.kind, code=self.code)

    @property
    def body(self) -> str:
        """What happened, in the active language (old rows: their stored English text)."""
        rendered = self._rendered()
        return rendered[1] if rendered else self.message

    @property
    def advice(self) -> str:
        """What to do, in the active language (old rows: their stored English text)."""
        rendered = self._rendered()
        return rendered[2] if rendered else self.fix


class Invitation(models.Model):
    """An invitation to join an organization, sent by email as a link with a random token.

    Stored so it can be listed, withdrawn and used once: only the token's SHA-256 is kept
    (the link is in the invitee's mailbox, never in the database). Accepting consumes it;
    withdrawing, expiry, or removing the member (or the owner who sent it) kills it."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=djtz.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["organization", "accepted_at", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.role})"

    @property
    def pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > djtz.now()
