"""Serializer fields shared by the bookings API and the PMS adapters (the generic JSON adapter
reads dates the way the API does)."""

from __future__ import annotations

import datetime as dt

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers


@extend_schema_field(
    {
        "oneOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
        "example": "2026-07-01",
    }
)
class DateOrDateTimeField(serializers.Field):
    """A date (2026-07-01) or a datetime with an offset (2026-07-01T15:00:00+02:00)."""

    default_error_messages = {
        "invalid": "Expected a date (YYYY-MM-DD) or a datetime with an offset.",
        "naive": "A datetime needs an offset such as +02:00 or Z.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            if len(data) == 10:
                return dt.date.fromisoformat(data)
            value = dt.datetime.fromisoformat(data)
        except ValueError:
            self.fail("invalid")
        if value.tzinfo is None:
            self.fail("naive")
        return value

    def to_representation(self, value):
        return value.isoformat()
