"""Bookings: stays from PMS, calendars or by hand; the access they grant; guest emails."""
