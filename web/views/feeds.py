"""iCal feeds of a property: add (the URL checked by the SSRF guard), remove, fetch now, and
the live status of a fetch (polled with htmx until the worker has answered)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from bookings.ical.models import IcalFeed
from bookings.ical.services import feed_create, feed_delete, feed_fetch_soon
from portal.services import ServiceError
from portal.tenancy import get_scoped_or_404
from portal.throttling import rate_exceeded
from properties.models import Property
from web.access import page_tenant
from web.forms import IcalFeedForm
from web.selectors.properties import property_detail
from web.views.common import form_error, page, wants_fragment
from web.zones import read_in

# A fetch the worker has not answered after this long stops being polled (the row says so).
WAIT_LIMIT = dt.timedelta(minutes=2)


def _feed(tenant, pk: int) -> IcalFeed:
    return get_scoped_or_404(IcalFeed.objects.select_related("property"), tenant, pk=pk)


def _back(request, feed: IcalFeed):
    """Where a feed action returns: the page it was pressed on (Integrations or the property)."""
    if request.POST.get("from") == "integrations":
        return redirect("integrations", slug=feed.organization.slug)
    return redirect("property-page", slug=feed.organization.slug, pk=feed.property_id)


def status_context(feed: IcalFeed, *, after: dt.datetime | None) -> dict:
    """Whether the row is still waiting for a fetch: the first one, or one asked for at
    `after`; given up after WAIT_LIMIT (no worker running, or a slow server)."""
    since = after or feed.created_at
    pending = feed.last_fetch_at is None or (after is not None and feed.last_fetch_at < after)
    return {
        "feed": feed,
        "waiting": pending and timezone.now() - since < WAIT_LIMIT,
        "stalled": pending and timezone.now() - since >= WAIT_LIMIT,
        "after": after,
    }


def mark_waiting(feeds: list[IcalFeed]) -> list[IcalFeed]:
    """Feeds in a table: which are waiting for their first fetch (their row polls)."""
    for feed in feeds:
        ctx = status_context(feed, after=None)
        feed.waiting, feed.stalled = ctx["waiting"], ctx["stalled"]
    return feeds


@login_required
@require_POST
def feed_new(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    prop = get_scoped_or_404(Property, tenant, pk=pk)
    form = IcalFeedForm(request.POST, prefix="feed")
    if form.is_valid():
        try:
            feed_create(organization=tenant.organization, property=prop, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Feed added; fetching it now."))
            return redirect("property-page", slug=slug, pk=prop.pk)
    return page(
        request,
        "web/properties/detail.html",
        tenant,
        {**property_context(prop), "feed_form": form},
        400,
    )


@login_required
def feed_delete_view(request, slug: str, pk: int):
    """GET: a confirmation page (the property page confirms in place); POST: remove it."""
    tenant = page_tenant(request, slug, write=True)
    feed = _feed(tenant, pk)
    if request.method == "POST":
        feed_delete(feed=feed)
        messages.success(request, _("Feed removed. Its stays are kept, with their codes."))
        return _back(request, feed)
    return page(request, "web/feeds/delete.html", tenant, {"feed": feed})


@login_required
@require_POST
def feed_fetch_view(request, slug: str, pk: int):
    tenant = page_tenant(request, slug, write=True)
    feed = _feed(tenant, pk)
    rate = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["ical_fetch"]
    if rate_exceeded(key=f"web_ical_fetch:{tenant.organization.pk}", rate=rate):
        # Each fetch is a request to someone else's server: as limited as the API's.
        refused = _(
            "Too many fetches in a short time; the feed is fetched every few minutes anyway."
        )
        if wants_fragment(request):
            ctx = {**status_context(feed, after=None), "refused": refused}
            return page(request, "web/feeds/_status.html", tenant, ctx)  # htmx swaps 2xx only
        messages.error(request, refused)
        return _back(request, feed)
    if feed.fetch_lease_until and feed.fetch_lease_until > timezone.now():
        after = None  # already being fetched: follow that fetch
    else:
        after = timezone.now()
        feed_fetch_soon(feed=feed)
    if wants_fragment(request):
        ctx = status_context(feed, after=after)
        ctx["waiting"] = True
        return page(request, "web/feeds/_status.html", tenant, ctx)
    messages.info(request, _("Fetching the feed; its status updates in a moment."))
    return _back(request, feed)


@login_required
def feed_status(request, slug: str, pk: int):
    """The feed's status cell; htmx polls it while a fetch is awaited. When the fetch has
    been answered the page reloads, so its stays and counts are current."""
    tenant = page_tenant(request, slug)
    feed = _feed(tenant, pk)
    after = parse_datetime(request.GET.get("after", "") or "")
    ctx = status_context(feed, after=after)
    response = page(request, "web/feeds/_status.html", tenant, ctx)
    if wants_fragment(request) and not ctx["waiting"] and not ctx["stalled"]:
        response["HX-Refresh"] = "true"
    return response


def property_context(prop: Property) -> dict:
    """The property page's context (shared with the forms that re-render it on bad input),
    read in the property's zone."""
    read_in(prop.timezone)
    data = property_detail(prop=prop)
    mark_waiting(data["feeds"])
    return {"prop": prop, **data}
