from django.contrib import admin

from locks.models import AccessCode, BackupCode, Lock, LockCommand, LockEvent


@admin.register(Lock)
class LockAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "property", "driver", "state", "online"]


@admin.register(AccessCode)
class AccessCodeAdmin(admin.ModelAdmin):
    list_display = ["name", "lock", "holder", "state", "valid_from", "valid_until"]
    exclude = ["code"]  # keypad codes stay out of admin screens and logs


@admin.register(LockCommand)
class LockCommandAdmin(admin.ModelAdmin):
    list_display = ["pk", "kind", "lock", "status", "attempts", "next_attempt_at", "reason"]
    list_filter = ["status", "kind"]


@admin.register(LockEvent)
class LockEventAdmin(admin.ModelAdmin):
    list_display = ["lock", "kind", "source", "message", "occurred_at"]


@admin.register(BackupCode)
class BackupCodeAdmin(admin.ModelAdmin):
    list_display = ["lock", "organization", "status", "taken_by", "taken_at", "created_at"]
    list_filter = ["status"]
    exclude = ["code"]  # the digits stay out of the admin's lists and forms
