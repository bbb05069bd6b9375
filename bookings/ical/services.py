"""Writes for iCal feeds: add and remove feeds, fetch one, and turn what it says into stays.

A calendar feed is a weak source: it can glitch, come back empty, or drop a reservation for one
fetch. So the rules are conservative, never leaving a guest without a code because of a glitch:
- a stay missing from the feed is cancelled only after 2 successful fetches in a row without it;
- a stay that has ended (or is under way) is never cancelled by leaving the feed;
- a failing feed (HTTP error, timeout, not iCalendar, too large) or one that suddenly comes back
  with no events at all changes nothing; after LATCHKEY_ICAL_ALERT_AFTER such fetches in a row
  the manager gets an alert in plain words, resolved when the feed works again;
- 304 Not Modified (conditional GET with ETag / Last-Modified) changes nothing either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings import dispatch
from bookings.ical import schedule
from bookings.ical.caps import cap_alert, cap_report, over_cap
from bookings.ical.models import FetchStatus, IcalFeed, IcalStay
from bookings.ical.parse import FeedStay, NotICalendar, parse_feed
from bookings.models import Booking, BookingStatus
from bookings.services import (
    FIRST_STAY_DAY,
    LAST_STAY_DAY,
    BookingData,
    booking_upsert,
    booking_window,
)
from portal import netguard
from portal.models import Organization
from portal.services import ServiceError, alert_raise, alert_resolve
from portal.times import local_stamp
from properties.models import Property

log = logging.getLogger(__name__)

MISSING_BEFORE_CANCEL = 2
ALERT_FAILING = "ical_feed_failing"
ALERT_VANISHED = "ical_stay_vanished"


def mask_url(url: str) -> str:
    """The URL as lists show it: scheme, host and the last 4 characters, the token hidden."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    rest = url[len(f"{parts.scheme}://{parts.netloc}") :]
    if len(rest) <= 1:
        return base + rest
    return f"{base}/…{rest[-4:]}" if len(rest) > 8 else f"{base}/…"


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def feed_create(
    *,
    organization: Organization,
    property: Property,
    url: str,
    name: str = "",
    guard: netguard.Guard | None = None,
) -> IcalFeed:
    """Add a feed after checking its URL (the same SSRF rules as at fetch time); the first
    fetch is queued when the transaction commits."""
    if property.organization_id != organization.pk:
        raise ServiceError(_("No such property."), field="property")
    url = (url or "").strip()
    if url[:9].lower() == "webcal://":  # calendar apps' name for the same https link
        url = "https://" + url[9:]
    try:
        netguard.check_url(url, guard=guard)
    except netguard.UnsafeURL as exc:
        raise ServiceError(str(exc), field="url") from None
    digest = url_hash(url)
    if IcalFeed.objects.filter(property=property, url_hash=digest).exists():
        raise ServiceError(_("This property already has a feed with this URL."), field="url")
    try:
        with transaction.atomic():
            feed = IcalFeed.objects.create(
                organization=organization,
                property=property,
                name=name.strip()[:80],
                url=url,
                url_hash=digest,
                url_masked=mask_url(url)[:200],
            )
            # Fetched now (below), then polled at its own slot: not all new feeds at once.
            feed.next_fetch_at = schedule.feed_next_slot(feed_id=feed.pk, after=feed.created_at)
            feed.save(update_fields=["next_fetch_at"])
    except IntegrityError:
        raise ServiceError(
            _("This property already has a feed with this URL."), field="url"
        ) from None
    feed_fetch_soon(feed=feed)
    return feed


def feed_fetch_soon(*, feed: IcalFeed) -> None:
    """Queue a fetch of the feed when the transaction commits."""
    dispatch.send_on_commit(dispatch.FETCH_FEED, feed.pk)


@transaction.atomic
def feed_delete(*, feed: IcalFeed) -> None:
    """Remove a feed. Its stays stay as they are (with their codes): a manager who removes a
    feed, e.g. moving the listing to a PMS connection, must not lock guests out."""
    alert_resolve(organization=feed.organization, kind=ALERT_FAILING, subject=_subject(feed))
    feed.delete()


def feeds_poll_due(*, now: dt.datetime | None = None) -> list[int]:
    """Queue a fetch of the feeds whose slot has come, oldest first, at most `poll_cap` of
    them (bookings/ical/schedule.py), and move each to its next slot."""
    now = now or timezone.now()
    interval = schedule.poll_interval()
    cap = schedule.poll_cap(feeds=IcalFeed.objects.count())
    with transaction.atomic():
        due = list(
            IcalFeed.objects.select_for_update(skip_locked=True)
            .filter(next_fetch_at__lte=now)
            .order_by("next_fetch_at", "pk")
            .only("pk", "next_fetch_at")[:cap]
        )
        for feed in due:
            feed.next_fetch_at = schedule.feed_next_slot(
                feed_id=feed.pk, after=now, interval=interval
            )
        IcalFeed.objects.bulk_update(due, ["next_fetch_at"], batch_size=500)
        for feed in due:
            dispatch.send_on_commit(dispatch.FETCH_FEED, feed.pk)
    return [feed.pk for feed in due]


@dataclass
class FetchReport:
    """What one fetch did, for logs, the API and tests."""

    status: str
    created: int = 0
    updated: int = 0
    cancelled: int = 0
    missing: int = 0
    ignored: int = 0
    error: str = ""


def feed_fetch(
    *, feed_id: int, guard: netguard.Guard | None = None, now: dt.datetime | None = None
) -> FetchReport | None:
    """Fetch one feed and apply it. None when the feed is gone or another worker is fetching it."""
    now = now or timezone.now()
    timeout = settings.LATCHKEY_ICAL_TIMEOUT_SECONDS
    lease = now + dt.timedelta(seconds=timeout * 3 + 30)
    claimed = (
        IcalFeed.objects.filter(pk=feed_id)
        .filter(Q(fetch_lease_until__isnull=True) | Q(fetch_lease_until__lt=now))
        .update(fetch_lease_until=lease)
    )
    if not claimed:
        return None
    try:
        feed = IcalFeed.objects.select_related("property", "organization").get(pk=feed_id)
        return _fetch(feed, guard=guard, timeout=timeout)
    finally:
        IcalFeed.objects.filter(pk=feed_id).update(fetch_lease_until=None)


def _fetch(feed: IcalFeed, *, guard: netguard.Guard | None, timeout: float) -> FetchReport:
    headers = {"Accept": "text/calendar, */*;q=0.5", "User-Agent": "Latchkey iCal sync"}
    if feed.etag:
        headers["If-None-Match"] = feed.etag
    if feed.last_modified:
        headers["If-Modified-Since"] = feed.last_modified
    try:
        response = netguard.fetch(
            feed.url,
            headers=headers,
            max_bytes=settings.LATCHKEY_ICAL_MAX_BYTES,
            timeout=timeout,
            guard=guard,
        )
    except netguard.UnsafeURL as exc:
        return _failed(feed, f"The address is refused: {exc}")
    except netguard.FetchError as exc:
        return _failed(feed, str(exc))
    if response.status == 304:
        if feed.status == FetchStatus.CAPPED:  # the same feed is still over the cap: still say so
            return _succeeded(feed, status=FetchStatus.CAPPED, last_error=feed.last_error)
        return _succeeded(feed, status=FetchStatus.NOT_MODIFIED)
    if response.status != 200:
        return _failed(feed, _http_problem(response.status))
    try:
        parsed = parse_feed(response.body, tz=feed.property.tz)
    except NotICalendar as exc:
        return _failed(feed, str(exc))
    if parsed.events == 0 and feed.event_count > 0 and _has_coming_stays(feed):
        return _failed(
            feed,
            f"The feed suddenly has no events at all, while it had {feed.event_count} at the "
            "last fetch; nothing was cancelled.",
            status=FetchStatus.EMPTY,
        )
    return _apply(
        feed,
        parsed.stays,
        unreadable=parsed.unreadable,
        events=parsed.events,
        ignored=parsed.ignored,
        etag=response.headers.get("etag", ""),
        last_modified=response.headers.get("last-modified", ""),
    )


def _has_coming_stays(feed: IcalFeed) -> bool:
    """Whether a blank answer would cancel anything: stays of this feed not yet over."""
    today = timezone.now().astimezone(feed.property.tz).date()
    return (
        IcalStay.objects.filter(feed=feed, booking__check_out__gte=today)
        .exclude(booking__status=BookingStatus.CANCELLED)
        .exists()
    )


def _http_problem(status: int) -> str:
    if status in (401, 403):
        return f"The calendar server refused access (HTTP {status}): the link may have been reset."
    if status in (404, 410):
        return f"The calendar was not found (HTTP {status}): the link may be outdated."
    if status >= 500:
        return f"The calendar server had a problem (HTTP {status})."
    return f"The calendar server answered HTTP {status} instead of the calendar."


def _subject(feed: IcalFeed) -> str:
    return f"ical_feed:{feed.pk}"


def _label(feed: IcalFeed) -> str:
    return f"“{feed.name or feed.url_masked}” of {feed.property.name}"


@transaction.atomic
def _failed(feed: IcalFeed, message: str, *, status: str = FetchStatus.FAILED) -> FetchReport:
    now = timezone.now()
    feed = (
        IcalFeed.objects.select_for_update(of=("self",), no_key=True)
        .select_related("property")
        .get(pk=feed.pk)
    )
    feed.failures += 1
    feed.status = status
    feed.last_error = message
    feed.last_fetch_at = now
    # Back off while it keeps failing: its own slot after 1, 2, 4, then at most 8 intervals.
    feed.next_fetch_at = max(
        feed.next_fetch_at,
        schedule.feed_backoff_slot(feed_id=feed.pk, now=now, failures=feed.failures),
    )
    feed.save(update_fields=["failures", "status", "last_error", "last_fetch_at", "next_fetch_at"])
    log.info("iCal feed %s failed (%s in a row): %s", feed.pk, feed.failures, message)
    if feed.failures >= settings.LATCHKEY_ICAL_ALERT_AFTER:
        since = feed.last_success_at
        alert_raise(
            organization=feed.organization,
            kind=ALERT_FAILING,
            subject=_subject(feed),
            code="ical_feed_failing.empty" if status == FetchStatus.EMPTY else "ical_feed_failing",
            params={
                "feed": feed.name or feed.url_masked,
                "property": feed.property.name,
                "failures": feed.failures,
                "error": message,
                "since": local_stamp(since, feed.property.timezone) if since else "",
            },
        )
    return FetchReport(status=status, error=message)


@transaction.atomic
def _succeeded(feed: IcalFeed, *, status: str, **changes) -> FetchReport:
    now = timezone.now()
    fields = {"last_error": "", **changes}
    IcalFeed.objects.filter(pk=feed.pk).update(
        status=status, failures=0, last_fetch_at=now, last_success_at=now, **fields
    )
    alert_resolve(organization=feed.organization, kind=ALERT_FAILING, subject=_subject(feed))
    return FetchReport(status=status)


@transaction.atomic
def _apply(
    feed: IcalFeed,
    stays: list[FeedStay],
    *,
    unreadable: set[str],
    events: int,
    ignored: int,
    etag: str,
    last_modified: str,
) -> FetchReport:
    now = timezone.now()
    feed = (
        IcalFeed.objects.select_for_update(of=("self",), no_key=True)
        .select_related("property", "organization")
        .get(pk=feed.pk)
    )
    prop, tz = feed.property, feed.property.tz
    # Year 1 or 9999: no stay, and beyond the time zone arithmetic of planning a code.
    sane = [s for s in stays if s.check_in >= FIRST_STAY_DAY and s.check_out <= LAST_STAY_DAY]
    ignored, stays = ignored + len(stays) - len(sane), sane
    report = FetchReport(status=FetchStatus.OK, ignored=ignored)
    known = {
        s.uid: s
        for s in IcalStay.objects.filter(feed=feed).select_related("booking", "booking__property")
    }
    over, coming = over_cap(stays, now=now, tz=tz)
    seen: set[str] = set()
    for stay in stays:
        if stay.uid in seen:
            continue  # a feed listing the same UID twice: the first one counts
        seen.add(stay.uid)
        tracked = known.get(stay.uid)
        if stay.uid in over:
            if tracked is not None:
                _seen(tracked, now)  # still in the feed: not "missing", left as it was
            continue
        if tracked is None and (stay.cancelled or stay.ends_before(now, tz)):
            continue  # nothing to create: cancelled or already over
        if tracked is not None and stay.ends_before(now, tz):
            _seen(tracked, now)
            continue  # a past stay: leave it as it was
        data = _booking_data(stay, prop, tracked.booking if tracked else None)
        if tracked is not None and _same(tracked.booking, data):
            _seen(tracked, now)  # the usual case on every poll: no write, no row lock
            continue
        booking, created, changed = booking_upsert(
            organization=feed.organization, source=feed.source, data=data
        )
        if tracked is None:
            IcalStay.objects.update_or_create(
                feed=feed,
                uid=stay.uid,
                defaults={"booking": booking, "missing": 0, "last_seen_at": now},
            )
        else:
            _seen(tracked, now)
        if created:
            report.created += 1
        elif changed:
            report.updated += 1
            if stay.cancelled:
                report.cancelled += 1
    for uid, tracked in known.items():
        if uid in seen or uid in unreadable:
            continue  # present (an unreadable event is still there: left as it was)
        _missing(feed, tracked, now, report)
    feed.status = FetchStatus.CAPPED if over else FetchStatus.OK
    feed.failures = 0
    feed.last_error = cap_report(feed=feed, coming=coming) if over else ""
    feed.last_fetch_at = feed.last_success_at = now
    feed.event_count = events
    feed.stay_count = len(seen)
    feed.etag = etag[:250]
    feed.last_modified = last_modified[:80]
    feed.save(
        update_fields=[
            "status",
            "failures",
            "last_error",
            "last_fetch_at",
            "last_success_at",
            "event_count",
            "stay_count",
            "etag",
            "last_modified",
        ]
    )
    alert_resolve(organization=feed.organization, kind=ALERT_FAILING, subject=_subject(feed))
    cap_alert(feed, label=_label(feed), subject=_subject(feed), coming=coming if over else 0)
    return report


def _same(booking: Booking, data: BookingData) -> bool:
    """True when upserting `data` would change nothing (booking_upsert checks again, under a
    row lock; this only spares unchanged stays the round trips)."""
    fields = data.fields()
    fields["property"] = data.property.pk
    current = {name: getattr(booking, name) for name in fields}
    current["property"] = booking.property_id
    return current == fields


def _seen(tracked: IcalStay, now: dt.datetime) -> None:
    if tracked.missing >= MISSING_BEFORE_CANCEL:  # an under-way stay that had vanished is back
        alert_resolve(
            organization=tracked.booking.organization,
            kind=ALERT_VANISHED,
            subject=f"booking:{tracked.booking_id}",
        )
    if tracked.missing or (now - tracked.last_seen_at) > dt.timedelta(hours=1):
        tracked.missing = 0
        tracked.last_seen_at = now
        tracked.save(update_fields=["missing", "last_seen_at"])


def _missing(feed: IcalFeed, tracked: IcalStay, now: dt.datetime, report: FetchReport) -> None:
    """A stay we know is not in this successful fetch."""
    booking = tracked.booking
    if booking.status == BookingStatus.CANCELLED:
        return
    start, end = booking_window(booking)
    if end <= now:
        # Over: the channel dropped an old stay, nothing to do.
        alert_resolve(
            organization=feed.organization, kind=ALERT_VANISHED, subject=f"booking:{booking.pk}"
        )
        tracked.delete()
        return
    tracked.missing += 1
    tracked.save(update_fields=["missing"])
    report.missing += 1
    if tracked.missing < MISSING_BEFORE_CANCEL:
        return
    if start <= now:
        # Under way: the guest may be in the flat. Never lock them out on a feed's word.
        alert_raise(
            organization=feed.organization,
            kind=ALERT_VANISHED,
            subject=f"booking:{booking.pk}",
            code="ical_stay_vanished",
            params={
                "guest": booking.guest_name or booking.external_id,
                "property": feed.property.name,
                "check_out": f"{booking.check_out:%Y-%m-%d}",
                "feed": feed.name or feed.url_masked,
            },
        )
        return
    booking_upsert(
        organization=feed.organization,
        source=feed.source,
        data=BookingData.from_booking(booking, status=BookingStatus.CANCELLED),
    )
    report.cancelled += 1


def _booking_data(stay: FeedStay, prop: Property, current: Booking | None) -> BookingData:
    """The stay as a booking. What a feed never says (email, phone, language) and a name the
    feed does not give are kept from the booking, in case the manager added them."""
    keep = current or Booking(guest_language="en")
    return BookingData(
        external_id=stay.uid,
        property=prop,
        status=BookingStatus.CANCELLED if stay.cancelled else BookingStatus.CONFIRMED,
        check_in=stay.check_in,
        check_out=stay.check_out,
        check_in_at=stay.check_in_at,
        check_out_at=stay.check_out_at,
        guest_name=stay.guest_name or keep.guest_name,
        guest_email=keep.guest_email,
        guest_phone=keep.guest_phone,
        guest_language=keep.guest_language,
        guest_phone_last4=stay.phone_last4 or keep.guest_phone_last4,
        reservation_url=stay.reservation_url or keep.reservation_url,
    )
