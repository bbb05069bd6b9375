from django.contrib import admin

from bookings.models import Booking, GuestEmail, StandingAccess


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["external_id", "organization", "property", "status", "check_in", "check_out"]
    list_filter = ["status"]


@admin.register(GuestEmail)
class GuestEmailAdmin(admin.ModelAdmin):
    list_display = ["to", "subject", "created_at", "sent_at"]


@admin.register(StandingAccess)
class StandingAccessAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "organization", "property", "from_time", "until_time", "active"]
    list_filter = ["role", "active"]
