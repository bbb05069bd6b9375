"""The time zone a manager page reads its times in: the property's, where the page is about one
property (a lock, a stay, a property), else the organization's.

One mechanism instead of per-template conversions: `page_tenant` activates the organization's
zone for the request, a page about one property switches to the property's with `read_in`,
and every time on the page is then rendered by the `stamp` filter (web.templatetags.latchkey)
in the active zone, which the layout names once ("Times in Pacific/Auckland"). A row whose
property is in another zone than the page names its own. The zone also decides what a date
filter ("From 3 Dec") means. Which day is "today" for a stay is its property's date: Today
(web.selectors.today) lists each property's arrivals and departures by the property's own
date, and a stay's dates name their zone where it is not the page's. `zone_middleware` ends
every request back in UTC, so the API and the next request on the same thread are never
affected.
"""

from __future__ import annotations

from asgiref.sync import iscoroutinefunction
from django.utils import timezone
from django.utils.decorators import sync_and_async_middleware

from portal.models import Organization
from portal.times import zone


def read_in(zone_name: str) -> str:
    """Read the rest of this request in `zone_name` (an IANA name); returns it."""
    timezone.activate(zone(zone_name))
    return zone_name


def zone_of(organization: Organization, prop=None) -> str:
    """The zone of something that belongs to `prop` (a Property, or None: the organization)."""
    return prop.timezone if prop is not None else organization.timezone


def current_zone() -> str:
    return timezone.get_current_timezone_name()


@sync_and_async_middleware
def zone_middleware(get_response):
    """Start and end every request in the default zone (UTC): a zone activated by a manager
    page must not leak into the next request served by the same thread. Both modes: see
    portal.middleware for why no middleware may be sync only."""
    if iscoroutinefunction(get_response):

        async def middleware(request):
            timezone.deactivate()
            try:
                return await get_response(request)
            finally:
                timezone.deactivate()

    else:

        def middleware(request):
            timezone.deactivate()
            try:
                return get_response(request)
            finally:
                timezone.deactivate()

    return middleware
