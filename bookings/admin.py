from django.contrib import admin

from bookings.models import Booking, GuestEmail, IcalFeed, PmsConnection, PmsEvent, StandingAccess


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["external_id", "organization", "property", "status", "check_in", "check_out"]
    list_filter = ["status"]


@admin.register(GuestEmail)
class GuestEmailAdmin(admin.ModelAdmin):
    list_display = ["to", "subject", "created_at", "sent_at"]


@admin.register(IcalFeed)
class IcalFeedAdmin(admin.ModelAdmin):
    """Read-only here: the link is a secret (shown masked); feeds are added through the API."""

    list_display = ["url_masked", "organization", "property", "status", "failures", "last_fetch_at"]
    list_filter = ["status"]
    exclude = ["url", "url_hash"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StandingAccess)
class StandingAccessAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "organization", "property", "from_time", "until_time", "active"]
    list_filter = ["role", "active"]


@admin.register(PmsConnection)
class PmsConnectionAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "organization", "last_event_at", "rejected_count"]
    list_filter = ["kind"]
    exclude = ["secret"]  # revealed through the API to owners and managers only
    readonly_fields = ["webhook_key"]


@admin.register(PmsEvent)
class PmsEventAdmin(admin.ModelAdmin):
    list_display = ["connection", "received_at", "outcome", "external_id", "listing_id"]
    list_filter = ["outcome"]
    readonly_fields = [f.name for f in PmsEvent._meta.fields]
