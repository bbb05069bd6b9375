"""iCal feeds: calendars exported by Airbnb, Booking.com, VRBO and other PMSs, polled and turned
into stays."""
