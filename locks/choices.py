"""Choices the lock models and the engine share: kept apart so the models module stays small."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TokenMode(models.TextChoices):
    ENCRYPTED = "encrypted", _("Encrypted token (ctoken)")
    HASHED = "hashed", _("Hashed token")
    PLAIN = "plain", _("Plain token")


class DriverKind(models.TextChoices):
    VIRTUAL = "virtual", _("Virtual lock (demo and tests)")
    NUKI_WEB = "nuki_web", _("Nuki Web (cloud)")
    BRIDGE_HTTP = "bridge_http", _("Nuki Bridge (LAN)")
    BLE_AGENT = "ble_agent", _("On-site Bluetooth agent")


class CodeState(models.TextChoices):
    PLANNED = "planned", _("Planned")
    SETTING = "setting", _("Setting")
    SET = "set", _("Set")
    REMOVING = "removing", _("Removing")
    REMOVED = "removed", _("Removed")
    FAILED = "failed", _("Failed")


class CommandKind(models.TextChoices):
    SYNC_CODE = "sync_code", _("Bring a code on the lock in line")
    RECONCILE = "reconcile", _("Compare the lock's codes with ours")
    LOCK_ACTION = "lock_action", _("Lock, unlock or unlatch")
    REMOVE_FOREIGN = "remove_foreign", _("Remove a code we did not create")


class CommandStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    WAITING = "waiting", _("Waiting for the on-site agent")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
