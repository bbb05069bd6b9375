"""A feed with more future stays than LATCHKEY_ICAL_MAX_STAYS: the soonest are imported, the
feed's status and an alert say so in plain words, and nothing else is affected."""

import pytest
from django.urls import reverse

from bookings.ical.models import FetchStatus, IcalStay
from bookings.tests.test_ical import Answer, add_feed, airbnb_reserved, fetch, ics, stays_of
from bookings.tests.test_ical import server as server  # the fixture
from portal.models import Alert
from portal.testing import days_from_now


def _stays(*days: int) -> list:
    return [
        airbnb_reserved(f"s{d}@airbnb.com", days_from_now(d), days_from_now(d + 1)) for d in days
    ]


@pytest.mark.django_db
def test_a_feed_over_the_cap_imports_the_soonest_and_says_so(
    client, world, prop, locks, server, commit, settings
):
    settings.LATCHKEY_ICAL_MAX_STAYS = 3
    past = airbnb_reserved("past@airbnb.com", days_from_now(-5), days_from_now(-3))
    server.answers["/airbnb.ics"] = Answer(body=ics(*_stays(9, 2, 7, 1, 4), past))
    feed = add_feed(world, prop, server, commit, name="Loft Airbnb")
    assert set(stays_of(feed)) == {"s1@airbnb.com", "s2@airbnb.com", "s4@airbnb.com"}
    feed.refresh_from_db()
    assert feed.status == FetchStatus.CAPPED
    assert "Loft Airbnb" in feed.last_error and "cap of 3" in feed.last_error
    alert = Alert.objects.get(organization=world.org, kind="ical_feed_capped", resolved_at=None)
    assert "“Loft Airbnb”" in alert.message and "5 future stays" in alert.message
    assert "the other 2 were not" in alert.message and "LATCHKEY_ICAL_MAX_STAYS" in alert.fix
    # Where the manager looks: the feed's status on its page, and the alert on Today.
    client.force_login(world.member)
    page = client.get(reverse("feed-status", args=[world.org.slug, feed.pk])).content.decode()
    assert "over the cap" in page and "cap of 3 per feed" in page
    assert (
        "5 future stays" in client.get(reverse("dashboard", args=[world.org.slug])).content.decode()
    )

    # The later stays are still in the feed: not "missing", nothing cancelled on refetch.
    report = fetch(feed, commit)
    assert report.missing == 0 and report.created == 0
    assert IcalStay.objects.filter(feed=feed, missing=0).count() == 3

    # Back under the cap: everything imported, status and alert cleared.
    server.answers["/airbnb.ics"] = Answer(body=ics(*_stays(1, 2, 4)))
    fetch(feed, commit)
    feed.refresh_from_db()
    assert feed.status == FetchStatus.OK and feed.last_error == ""
    assert not Alert.objects.filter(kind="ical_feed_capped", resolved_at=None).exists()


@pytest.mark.django_db
def test_a_feed_under_the_cap_imports_everything_and_raises_nothing(
    world, prop, locks, server, commit, settings
):
    settings.LATCHKEY_ICAL_MAX_STAYS = 3
    server.answers["/airbnb.ics"] = Answer(body=ics(*_stays(1, 2, 3)))
    feed = add_feed(world, prop, server, commit)
    assert len(stays_of(feed)) == 3
    feed.refresh_from_db()
    assert feed.status == FetchStatus.OK
    assert not Alert.objects.filter(kind="ical_feed_capped").exists()


@pytest.mark.django_db
def test_an_unchanged_feed_over_the_cap_stays_reported(
    world, prop, locks, server, commit, settings
):
    """A 304 (the feed has not changed) keeps the feed's cap status and its words: before, it
    turned the feed into "Unchanged since the last fetch" and dropped the cap report from its
    page while the stays beyond the cap were still not imported."""
    settings.LATCHKEY_ICAL_MAX_STAYS = 3
    server.answers["/airbnb.ics"] = Answer(body=ics(*_stays(1, 2, 4, 7)), etag='"v1"')
    feed = add_feed(world, prop, server, commit, name="Loft Airbnb")
    feed.refresh_from_db()
    said = feed.last_error
    assert feed.status == FetchStatus.CAPPED and "cap of 3" in said
    report = fetch(feed, commit)
    assert server.requests[-1].headers["if-none-match"] == '"v1"'  # answered 304
    assert report.status == FetchStatus.CAPPED
    feed.refresh_from_db()
    assert feed.status == FetchStatus.CAPPED and feed.last_error == said and feed.failures == 0
    assert Alert.objects.filter(kind="ical_feed_capped", resolved_at=None).count() == 1
