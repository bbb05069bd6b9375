"""API pagination with a ceiling on the page size."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination


class CappedLimitOffsetPagination(LimitOffsetPagination):
    """`?limit=` as asked, but never more than LATCHKEY_API_MAX_LIMIT rows.

    Why: without `max_limit` one request with `?limit=1000000` makes the server load, serialize
    and send a whole table at once (every booking with its codes): a cheap way to tie up a
    worker and the database. Larger reads page through with `next`.
    """

    @property
    def max_limit(self) -> int:  # read per request, so tests and settings changes apply
        return settings.LATCHKEY_API_MAX_LIMIT
