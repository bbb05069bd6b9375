from django.contrib import admin

from bookings.models import Booking, GuestEmail, PmsConnection, PmsEvent


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["external_id", "organization", "property", "status", "check_in", "check_out"]
    list_filter = ["status"]


@admin.register(GuestEmail)
class GuestEmailAdmin(admin.ModelAdmin):
    list_display = ["to", "subject", "created_at", "sent_at"]


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
