"""Locks, the codes they should hold (desired state), what they report (observed state),
the outbox of commands that moves one towards the other, and the activity log."""

from __future__ import annotations

import builtins

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from locks.choices import CodeState, CommandKind, CommandStatus, DriverKind, TokenMode
from locks.integrations.base import CodeSpec
from locks.integrations.registry import driver_class
from portal.crypto import EncryptedTextField
from portal.models import Organization
from properties.models import Property


class Bridge(models.Model):
    """A Nuki Bridge on the property's LAN, reached over its HTTP API."""

    class Status(models.TextChoices):
        WAITING_FOR_BUTTON = "waiting_for_button", _("Press the bridge's button now")
        IMPORTING = "importing", _("Importing locks")
        OK = "ok", _("Connected")
        ERROR = "error", _("Needs attention")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="bridges")
    name = models.CharField(max_length=80)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField(default=8080)
    token = EncryptedTextField(blank=True, default="")
    token_mode = models.CharField(
        max_length=10, choices=TokenMode.choices, default=TokenMode.ENCRYPTED
    )
    callback_secret_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IMPORTING)
    last_error = models.TextField(blank=True, default="")
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Agent(models.Model):
    """An on-site agent: a small computer near the doors speaking BLE to the locks and HTTPS
    (outbound only) to the portal. Its enrollment token and its agent token are kept as hashes."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="agents")
    name = models.CharField(max_length=80)
    enrollment_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    enrollment_expires_at = models.DateTimeField(null=True, blank=True)
    token_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    enrolled_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class NukiWebConnection(models.Model):
    """An organization's connection to Nuki Web: OAuth2 tokens, or a pasted API token."""

    class Kind(models.TextChoices):
        OAUTH = "oauth", _("OAuth2 (Connect Nuki Web)")
        API_TOKEN = "api_token", _("Nuki Web API token")

    class Status(models.TextChoices):
        OK = "ok", _("Connected")
        NEEDS_RECONNECT = "needs_reconnect", _("Needs reconnecting")

    organization = models.OneToOneField(
        Organization, on_delete=models.CASCADE, related_name="nuki_web"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    # Blank: NUKI_WEB_API_URL. Set only by the portal itself (the `make run` demo points its
    # connection at the local stand-in); never taken from a tenant's input.
    api_url = models.URLField(blank=True, default="")
    access_token = EncryptedTextField(blank=True, default="")
    refresh_token = EncryptedTextField(blank=True, default="")
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OK)
    webhook_key = models.CharField(max_length=48, unique=True)
    webhook_id = models.CharField(max_length=64, blank=True, default="")
    webhook_secret = EncryptedTextField(blank=True, default="")
    # The last signed webhook that arrived, and the last time the locks' logs were polled: a
    # webhook that delivers replaces log polling; polling is the fallback (docs/budgets.md).
    webhook_seen_at = models.DateTimeField(null=True, blank=True)
    logs_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Nuki Web for {self.organization_id}"


class WebhookDelivery(models.Model):
    """Seen webhook bodies, so a delivery repeated by the sender is processed once. Kept for
    the organization's raw-delivery retention (older receipts are deleted)."""

    # Null for receipts stored before retention existed: those follow the default retention.
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # indexed through (organization, received_at) below
    )
    key = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["organization", "received_at"])]


class Lock(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="locks")
    property = models.ForeignKey(
        Property, on_delete=models.SET_NULL, null=True, blank=True, related_name="locks"
    )
    name = models.CharField(max_length=80)
    driver = models.CharField(max_length=20, choices=DriverKind.choices)
    config = models.JSONField(default=dict, blank=True, help_text="Driver settings (no secrets).")
    capacity = models.PositiveIntegerField(default=100, help_text="Keypad codes the lock can hold.")
    backup_pool_size = models.PositiveSmallIntegerField(
        default=0,
        help_text="Backup codes kept on the lock for stays whose own code cannot be set in time "
        "(the lock unreachable close to check-in). 0 = no pool.",
    )
    bridge = models.ForeignKey(
        Bridge, on_delete=models.SET_NULL, null=True, blank=True, related_name="locks"
    )
    nuki_id = models.BigIntegerField(null=True, blank=True)
    agent = models.ForeignKey(
        Agent, on_delete=models.SET_NULL, null=True, blank=True, related_name="locks"
    )
    ble_address = models.CharField(max_length=64, blank=True, default="")
    device_type = models.PositiveSmallIntegerField(default=0)
    # Observed state, as last reported by the lock or the cloud.
    state = models.CharField(max_length=24, default="unknown")
    battery_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    battery_critical = models.BooleanField(default=False)
    door_state = models.CharField(max_length=24, default="unknown")
    online = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Next read-back of its codes (locks/sync/schedule.py). None: first, at the next tick.
    reconcile_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "name"]),
            models.Index(fields=["reconcile_due_at"], name="lock_reconcile_due"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["bridge", "nuki_id"], name="one_lock_per_bridge_device")
        ]

    def __str__(self) -> str:
        return self.name

    @builtins.property  # the field named `property` shadows the builtin in this class body
    def capabilities(self) -> frozenset[str]:
        return driver_class(self.driver).capabilities_for(self)


_WANTED = models.Q(wanted=True)  # see AccessCode.Meta
_UNSET = _WANTED & ~models.Q(state=CodeState.SET)


class AccessCode(models.Model):
    """A keypad code one lock should hold (desired state) and how far the lock is with it.

    `holder` says who it is for in the words of the app that asked ("grant:42"), so the sync
    engine serves any access (guests, cleaners, owners) without knowing about bookings.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    # Indexed through (lock, holder) and (lock, wanted, valid_from) below.
    lock = models.ForeignKey(
        Lock, on_delete=models.CASCADE, related_name="access_codes", db_index=False
    )
    holder = models.CharField(max_length=64)
    kind = models.CharField(
        max_length=8,
        choices=[("keypad", _("Keypad code")), ("app", _("Nuki app access"))],
        default="keypad",
        help_text="A keypad code, or time-limited access in the holder's own Nuki app.",
    )
    account_email = models.EmailField(
        blank=True, default="", help_text="App access: the holder's Nuki account email."
    )
    name = models.CharField(max_length=20)
    code = models.CharField(max_length=6, blank=True)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    # Recurring limits inside the window (Nuki's): weekday bitmask Monday = 64 ... Sunday = 1,
    # minutes after midnight in the property's local time (0 / 0 = the whole day).
    weekdays = models.PositiveSmallIntegerField(default=127)
    from_minute = models.PositiveSmallIntegerField(default=0)
    until_minute = models.PositiveSmallIntegerField(default=0)
    push_after = models.DateTimeField(help_text="Earliest moment to put the code on the lock.")
    wanted = models.BooleanField(default=True, help_text="False once it should leave the lock.")
    state = models.CharField(max_length=10, choices=CodeState.choices, default=CodeState.PLANNED)
    remote_id = models.CharField(max_length=64, blank=True, default="")
    applied = models.JSONField(null=True, blank=True, help_text="What the lock confirmed holding.")
    last_error = models.TextField(blank=True, default="")
    set_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lock", "holder"], name="one_code_per_holder_and_lock")
        ]
        indexes = [
            models.Index(fields=["holder"]),
            models.Index(fields=["state", "push_after"]),
            models.Index(fields=["wanted", "valid_until"]),
            models.Index(fields=["lock", "wanted", "valid_from"]),
            # codes_taken (every new stay): the drawn candidates, not every wanted code ahead.
            models.Index(fields=["lock", "code"], condition=_WANTED, name="code_wanted_by_lock"),
            # Codes not on their lock yet, by start: bookings' alerts and backup codes.
            models.Index(fields=["valid_from"], condition=_UNSET, name="code_unset_from"),
        ]

    def __str__(self) -> str:
        return f"{self.name} on {self.lock_id} ({self.state})"

    def desired_snapshot(self) -> dict:
        """What the lock should hold, compared with `applied`. Keys beyond the four of a
        plain keypad code appear only when they differ from the defaults, so codes confirmed
        before weekdays, times and app access existed still compare equal."""
        snapshot = {
            "code": self.code,
            "name": self.name,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }
        if self.kind != "keypad":
            snapshot["kind"], snapshot["account_email"] = self.kind, self.account_email.lower()
        if self.weekdays not in (0, 127) or self.from_minute or self.until_minute:
            snapshot["weekdays"] = self.weekdays
            snapshot["from_minute"], snapshot["until_minute"] = self.from_minute, self.until_minute
        return snapshot

    def spec(self):
        """The CodeSpec a driver gets for this code."""
        return CodeSpec(
            code=self.code,
            name=self.name,
            valid_from=self.valid_from,
            valid_until=self.valid_until,
            weekdays=self.weekdays,
            from_minute=self.from_minute,
            until_minute=self.until_minute,
            kind=self.kind,
            account_email=self.account_email,
        )

    def works_on_lock(self) -> bool:
        """The lock holds these digits for the rest of the desired window: confirmed `set`,
        or a backup code given to this holder that the lock confirmed holding with a wider
        window (not narrowed yet: the lock was unreachable)."""
        if self.state == CodeState.SET:
            return True
        try:
            backup = self.backup
        except BackupCode.DoesNotExist:
            return False
        return (
            self.wanted
            and backup.status == BackupCode.Status.TAKEN
            and backup.code == self.code
            and backup.confirmed_from is not None
            and backup.confirmed_from <= max(self.valid_from, timezone.now())
            and backup.confirmed_until >= self.valid_until
        )


class LockCommand(models.Model):
    """The outbox: written in the same transaction as the change, claimed by a worker with a
    conditional update, retried with backoff, and re-dispatched by a sweep if its message is lost.
    """

    # Both keys are indexed through the Meta indexes below, which begin with them.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    lock = models.ForeignKey(
        Lock, on_delete=models.CASCADE, related_name="commands", db_index=False
    )
    access_code = models.ForeignKey(
        AccessCode, on_delete=models.CASCADE, null=True, blank=True, related_name="commands"
    )
    kind = models.CharField(max_length=16, choices=CommandKind.choices)
    payload = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Not to be started after this (remote actions)."
    )
    status = models.CharField(
        max_length=10, choices=CommandStatus.choices, default=CommandStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True, default="", help_text="Technical detail (no codes).")
    reason = models.TextField(blank=True, default="", help_text="What went wrong, plain words.")
    fix = models.TextField(blank=True, default="", help_text="What the manager can do.")
    created_at = models.DateTimeField(default=timezone.now)
    # Set by locks.retention.RoutineCommandPrune on an old routine command it keeps (the latest
    # of its series): it leaves the prune's index, so the next runs do not read it again; it is
    # looked at again when a newer command of its series comes to the prune. Cleared when the
    # row is re-armed (a reconcile row reused for a new round).
    prune_kept = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"]),
            models.Index(fields=["lock", "status"]),
            models.Index(fields=["organization", "status", "-created_at"]),
            # For locks.retention.RoutineCommandPrune: the finished routine commands it has not
            # kept yet, by age (what it keeps drops out); the checks it kept, by lock; newer
            # checks.
            models.Index(
                fields=["organization", "created_at", "id"],
                condition=models.Q(
                    status__in=["succeeded", "failed"],
                    kind__in=["reconcile", "sync_code"],
                    prune_kept=False,
                ),
                name="lockcommand_routine_to_prune",
            ),
            models.Index(
                fields=["lock"],
                condition=models.Q(kind="reconcile", prune_kept=True),
                name="lockcommand_kept_checks",
            ),
            models.Index(
                fields=["lock", "id"],
                condition=models.Q(kind="reconcile"),
                name="lockcommand_checks_by_lock",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"


class ObservedCode(models.Model):
    """A code the lock reported holding, ours (access_code set) or one we did not create."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    lock = models.ForeignKey(Lock, on_delete=models.CASCADE, related_name="observed_codes")
    remote_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, default="keypad")
    code = models.CharField(max_length=6, blank=True, default="")
    name = models.CharField(max_length=40, blank=True, default="")
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    weekdays = models.PositiveSmallIntegerField(default=127)
    from_minute = models.PositiveSmallIntegerField(default=0)
    until_minute = models.PositiveSmallIntegerField(default=0)
    access_code = models.ForeignKey(
        AccessCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="observed"
    )
    seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lock", "remote_id"], name="one_observation_per_code")
        ]


class LockEvent(models.Model):
    """The activity log: what happened at or to a lock, and through what."""

    # Indexed through (organization, occurred_at) below, which begins with it.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, db_index=False)
    lock = models.ForeignKey(Lock, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)
    source = models.CharField(max_length=20, default="")
    message = models.CharField(max_length=200, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    # Identifies an entry read from the lock's own log, so reading it twice adds it once.
    external_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["lock", "-occurred_at"]),
            models.Index(fields=["lock", "kind", "-occurred_at"]),
            # For locks.retention.lock_events_prune: an organization's entries by age, so the
            # hourly run reads what is past the retention, not the organization's whole log.
            models.Index(fields=["organization", "occurred_at"], name="lockevent_by_org_age"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["lock", "external_key"],
                condition=~models.Q(external_key=""),
                name="lock_event_once",
            )
        ]


class VirtualLockCode(models.Model):
    """The keypad memory of a virtual lock (the lock itself lives in the database)."""

    lock = models.ForeignKey(Lock, on_delete=models.CASCADE, related_name="virtual_codes")
    slot = models.PositiveIntegerField()
    code = models.CharField(max_length=6)
    name = models.CharField(max_length=20)
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    weekdays = models.PositiveSmallIntegerField(null=True, blank=True)
    from_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    until_minute = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lock", "slot"], name="virtual_slot_unique"),
            models.UniqueConstraint(fields=["lock", "code"], name="virtual_code_unique"),
        ]


class AgentJob(models.Model):
    """One piece of work for an on-site agent, fetched by long-poll, answered with a result."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the agent")
        SENT = "sent", _("With the agent")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="jobs")
    lock = models.ForeignKey(Lock, on_delete=models.CASCADE, related_name="agent_jobs")
    # The command this job is a step of (None: a direct call), the command's attempt and the
    # step's place in it: a resumed run replays answered steps from this journal in order.
    command = models.ForeignKey(
        "LockCommand", on_delete=models.SET_NULL, null=True, blank=True, related_name="agent_jobs"
    )
    attempt = models.PositiveIntegerField(default=0)
    step = models.PositiveIntegerField(default=0)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="Not answered by then: the sweep retries or fails it."
    )
    kind = models.CharField(max_length=20)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["agent", "status", "created_at"])]


class BackupCode(models.Model):
    """A code kept on a lock ahead of time, for a stay whose own code cannot be set in time.

    Each sits on its lock as an ordinary AccessCode (holder "backup:<id>") with a long window.
    Taken for a stay, that AccessCode passes to the stay's holder with the stay's window: the
    lock learns the narrower window as soon as it is reachable again, and the code leaves it
    after check-out like any other. A backup code is given out once, never again.
    """

    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        TAKEN = "taken", _("Given to a stay")
        RETIRED = "retired", _("Retired")

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    lock = models.ForeignKey(Lock, on_delete=models.CASCADE, related_name="backup_codes")
    code = models.CharField(max_length=6)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AVAILABLE)
    access_code = models.OneToOneField(
        AccessCode, on_delete=models.SET_NULL, null=True, blank=True, related_name="backup"
    )
    taken_by = models.CharField(max_length=64, blank=True, default="")
    taken_at = models.DateTimeField(null=True, blank=True)
    # The window the lock confirmed holding when the code was given out (until the lock
    # confirms the stay's narrower window, this is what the code can do there).
    confirmed_from = models.DateTimeField(null=True, blank=True)
    confirmed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["lock", "status"])]

    @builtins.property
    def holder(self) -> str:
        return f"backup:{self.pk}"
