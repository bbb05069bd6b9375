from django.contrib import admin

from bookings.models import Booking, GuestEmail


@admin.register(Booking)
class BookingAdmin(admin.ModelAdmin):
    list_display = ["external_id", "organization", "property", "status", "check_in", "check_out"]
    list_filter = ["status"]


@admin.register(GuestEmail)
class GuestEmailAdmin(admin.ModelAdmin):
    list_display = ["to", "subject", "created_at", "sent_at"]
