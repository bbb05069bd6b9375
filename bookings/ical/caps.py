"""The cap on future stays per iCal feed (LATCHKEY_ICAL_MAX_STAYS).

Why: one feed of 40,000 events must not become 40,000 stays (and codes, and lock commands)
that crowd out every other organization's work. The soonest stays are imported, the rest are
not, and the feed's status and an alert say so in plain words: nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings

from bookings.ical.models import IcalFeed
from bookings.ical.parse import FeedStay
from portal.services import alert_raise, alert_resolve

ALERT_CAPPED = "ical_feed_capped"


def over_cap(stays: list[FeedStay], *, now: dt.datetime, tz) -> tuple[set[str], int]:
    """The UIDs of future stays beyond the cap (the soonest are kept), and how many future
    stays the feed lists (a UID listed twice counts once, as the import takes the first)."""
    cap = settings.LATCHKEY_ICAL_MAX_STAYS
    firsts: dict[str, FeedStay] = {}
    for stay in stays:
        firsts.setdefault(stay.uid, stay)
    coming = [s for s in firsts.values() if not s.cancelled and not s.ends_before(now, tz)]
    if not cap or len(coming) <= cap:
        return set(), len(coming)
    coming.sort(key=lambda s: (s.check_in, s.uid))
    return {s.uid for s in coming[cap:]}, len(coming)


def cap_report(*, feed: IcalFeed, coming: int) -> str:
    """The plain-words status of a feed over the cap (the feed's last_error), in English: the
    pages read it in their language through portal/stored_errors.py, so it keeps that shape."""
    cap = settings.LATCHKEY_ICAL_MAX_STAYS
    return (
        f"The calendar feed “{feed.name or feed.url_masked}” of {feed.property.name} lists "
        f"{coming} future stays, more than the cap of {cap} per feed: the {cap} soonest were "
        f"imported, the other {coming - cap} were not."
    )


def cap_alert(feed: IcalFeed, *, label: str, subject: str, coming: int) -> None:
    """Raise (or refresh) the feed's cap alert when it is over the cap (`coming` > 0), resolve
    it otherwise."""
    if not coming:
        alert_resolve(organization=feed.organization, kind=ALERT_CAPPED, subject=subject)
        return
    alert_raise(
        organization=feed.organization,
        kind=ALERT_CAPPED,
        subject=subject,
        code="ical_feed_capped",
        params={
            "feed": feed.name or feed.url_masked,
            "property": feed.property.name,
            "coming": coming,
            "cap": settings.LATCHKEY_ICAL_MAX_STAYS,
            "rest": coming - settings.LATCHKEY_ICAL_MAX_STAYS,
        },
    )
