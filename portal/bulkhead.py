"""A bulkhead per organization in each web process: at most LATCHKEY_ORG_WEB_CONCURRENCY of
one organization's API requests work at once; the next waits (without a database connection)
for LATCHKEY_ORG_WEB_WAIT_SECONDS, then gets 429.

Why: each web process has one pool of database connections (portal/asgi.py, at most
LATCHKEY_DB_POOL_MAX). A tenant posting many bookings for one property at once makes them
queue on that property's lock rows inside PostgreSQL, each holding a pooled connection while
it waits. In bench/noisy_neighbour.py this emptied the pool: the other tenant's requests got
"couldn't get a connection after 10 s" (500) and its ping took seconds. With the bulkhead one
organization can hold only its share of the pool; its own surplus waits or is told to retry.

Writes have a smaller share of their own (LATCHKEY_ORG_WEB_WRITE_CONCURRENCY): a booking
plans codes on every lock of its property, and a dozen of one tenant's at once kept the web
process's CPU busy enough that another tenant's ping waited hundreds of ms for its turns
(bench/noisy_neighbour.py, A's 50 bookings a second). Reads keep their own share, so a
tenant's own ping or page never waits behind its own writes.

A DRF throttle class (so it runs after authentication, where the organization is known, and
only on the API views that use the default throttles: not the agents' long-poll), released by
`bulkhead_middleware` when the response is done, whatever happened in between.
"""

from __future__ import annotations

import threading

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.db import connection
from django.utils.decorators import sync_and_async_middleware
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from portal.permissions import request_tenant
from portal.throttling import refused

_HELD = "latchkey_bulkhead"  # attribute of the Django request holding the taken slot

_slots: dict[tuple[int, bool, int], threading.BoundedSemaphore] = {}
_slots_guard = threading.Lock()


def _semaphore(organization_id: int, write: bool, limit: int) -> threading.BoundedSemaphore:
    key = (organization_id, write, limit)
    with _slots_guard:
        slot = _slots.get(key)
        if slot is None:
            slot = _slots[key] = threading.BoundedSemaphore(limit)
        return slot


def take(request, *, organization_id: int, write: bool = False) -> bool:
    """Take one of the organization's slots (its write slots for a `write`) for the rest of
    `request` (a Django request); False when none frees in time. A request takes at most one."""
    if write:
        limit = settings.LATCHKEY_ORG_WEB_WRITE_CONCURRENCY
    else:
        limit = settings.LATCHKEY_ORG_WEB_CONCURRENCY
    if not limit or getattr(request, _HELD, None) is not None:
        return True
    slot = _semaphore(organization_id, write, limit)
    if not slot.acquire(blocking=False):
        if not connection.in_atomic_block:
            connection.close()  # back to the pool while waiting: the point of the bulkhead
        if not slot.acquire(timeout=settings.LATCHKEY_ORG_WEB_WAIT_SECONDS):
            return False
    setattr(request, _HELD, slot)
    return True


def release(request) -> None:
    slot = request.__dict__.pop(_HELD, None)
    if slot is not None:
        slot.release()


class OrganizationConcurrencyThrottle(BaseThrottle):
    """The bulkhead as a DRF throttle: 429 with Retry-After when the organization already has
    LATCHKEY_ORG_WEB_CONCURRENCY reads (LATCHKEY_ORG_WEB_WRITE_CONCURRENCY writes) at work in
    this process for longer than the wait."""

    def allow_request(self, request, view) -> bool:
        tenant = request_tenant(request)
        if tenant is None or refused(request):
            return True  # a rate limit already refused it: 429 without waiting for a slot
        return take(
            getattr(request, "_request", request),
            organization_id=tenant.organization.pk,
            write=request.method not in SAFE_METHODS,
        )

    def wait(self) -> float:
        return 1.0


@sync_and_async_middleware
def bulkhead_middleware(get_response):
    """Give back the slot a request took (OrganizationConcurrencyThrottle), in both modes."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            try:
                return await get_response(request)
            finally:
                release(request)

    else:

        def middleware(request):
            try:
                return get_response(request)
            finally:
                release(request)

    return middleware
