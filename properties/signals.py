"""Signals from properties to the apps that build on them (bookings re-plans stays)."""

from django.dispatch import Signal

# Sent inside the transaction when timezone, default times or lead/lag change. kwargs: property.
property_times_changed = Signal()
