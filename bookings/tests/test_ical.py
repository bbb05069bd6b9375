"""iCal feeds end to end: a real HTTP server on loopback serves the feed (private addresses are
allowed in these tests, as a self-hoster would; the guard itself is tested with them refused in
portal/tests/test_netguard.py), the portal fetches it, and stays become bookings with codes on
the property's (virtual) locks."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.utils import timezone

from bookings.ical.api import IcalFetchThrottle
from bookings.ical.models import FetchStatus, IcalFeed, IcalStay
from bookings.ical.schedule import feed_next_slot
from bookings.ical.services import feed_fetch, feeds_poll_due
from bookings.models import AccessGrant, Booking, BookingStatus
from locks.models import AccessCode
from portal.models import Alert
from portal.testing import days_from_now
from portal.tests.local_http import Answer, LocalServer
from portal.times import local_stamp

VIENNA_UTC_WINTER = dt.timedelta(hours=1)


SLOT = dt.timedelta(seconds=1)


def ymd(day: dt.date) -> str:
    return f"{day:%Y%m%d}"


def vevent(uid, start, end, summary, *, description=None, extra=()):
    lines = ["BEGIN:VEVENT", "DTSTAMP:20260101T000000Z"]
    for name, value in (("DTSTART", start), ("DTEND", end)):
        if isinstance(value, dt.date):
            lines.append(f"{name};VALUE=DATE:{ymd(value)}")
        elif value is not None:
            lines.append(f"{name}{value}")  # ";TZID=Europe/Vienna:20270402T160000" or ":…Z"
    lines += [f"UID:{uid}", f"SUMMARY:{summary}"]
    if description:
        lines.append(f"DESCRIPTION:{description}")
    lines += list(extra)
    lines.append("END:VEVENT")
    return lines


def ics(*events, prodid="-//Airbnb Inc//Hosting Calendar 1.0//EN") -> bytes:
    lines = ["BEGIN:VCALENDAR", f"PRODID:{prodid}", "CALSCALE:GREGORIAN", "VERSION:2.0"]
    for event in events:
        lines += event
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def airbnb_reserved(uid, start, end, phone="4711", code="HMABCD1234"):
    return vevent(
        uid,
        start,
        end,
        "Reserved",
        description=(
            f"Reservation URL: https://www.airbnb.com/hosting/reservations/details/{code}\\n"
            f"Phone Number (Last 4 Digits): {phone}"
        ),
    )


def next_dst_start(after: dt.date) -> dt.date:
    """The next last Sunday of March (Europe's spring-forward night) after `after`."""
    for year in (after.year, after.year + 1):
        day = dt.date(year, 3, 31)
        day -= dt.timedelta(days=(day.weekday() - 6) % 7)
        if day > after:
            return day
    raise AssertionError


@pytest.fixture
def server(settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the feed server is on loopback
    with LocalServer() as srv:
        yield srv


def add_feed(world, prop, server, commit, path="/airbnb.ics", **extra):
    with commit():
        res = world.api(world.write_key).post(
            "/api/v1/ical-feeds/",
            {"property": prop.pk, "url": server.url(path) + "?s=TOPSECRETTOKEN123", **extra},
            format="json",
        )
    assert res.status_code == 201, res.content
    return IcalFeed.objects.get(pk=res.json()["id"])


def fetch(feed, commit):
    with commit():
        return feed_fetch(feed_id=feed.pk)


def stays_of(feed):
    return {b.external_id: b for b in Booking.objects.filter(source=f"ical:{feed.pk}")}


@pytest.mark.django_db
def test_feed_becomes_stays_with_local_times_and_planned_codes(world, prop, locks, server, commit):
    soon_in, soon_out = days_from_now(1), days_from_now(3)
    dst = next_dst_start(days_from_now(2))
    later = dst + dt.timedelta(days=10)
    server.answers["/airbnb.ics"] = Answer(
        body=ics(
            airbnb_reserved("soon@airbnb.com", soon_in, soon_out, phone="4711"),
            airbnb_reserved("dst@airbnb.com", dst - dt.timedelta(days=1), dst, phone="0042"),
            vevent(
                "block-1@airbnb.com", days_from_now(5), days_from_now(8), "Airbnb (Not available)"
            ),
            vevent("b1@booking.com", days_from_now(9), days_from_now(10), "CLOSED - Not available"),
            vevent("v1@vrbo", days_from_now(11), days_from_now(12), "Blocked"),
            vevent("v2@vrbo", days_from_now(12), days_from_now(14), "Reserved - Jane Doe"),
            vevent(
                "timed@pms",
                f";TZID=Europe/Vienna:{ymd(later)}T160000",
                f";TZID=Europe/Vienna:{ymd(later + dt.timedelta(days=2))}T100000",
                "Max Muster",
            ),
            vevent(
                "utc@pms",
                f":{ymd(later + dt.timedelta(days=3))}T130000Z",
                f":{ymd(later + dt.timedelta(days=4))}T080000Z",
                "Booked",
            ),
            vevent(
                "free@pms",
                days_from_now(20),
                days_from_now(21),
                "Note",
                extra=["TRANSP:TRANSPARENT"],
            ),
        )
    )
    feed = add_feed(world, prop, server, commit)  # the first fetch runs when the feed is added
    feed.refresh_from_db()
    assert feed.status == FetchStatus.OK and feed.event_count == 9 and feed.stay_count == 5
    stays = stays_of(feed)
    assert sorted(stays) == ["dst@airbnb.com", "soon@airbnb.com", "timed@pms", "utc@pms", "v2@vrbo"]
    assert {b.status for b in stays.values()} == {BookingStatus.CONFIRMED}

    soon = stays["soon@airbnb.com"]
    assert soon.guest_phone_last4 == "4711"
    assert soon.reservation_url == "https://www.airbnb.com/hosting/reservations/details/HMABCD1234"
    assert (soon.check_in, soon.check_out) == (soon_in, soon_out)
    assert stays["v2@vrbo"].guest_name == "Jane Doe"

    tz = prop.tz
    grants = {g.booking.external_id: g for g in AccessGrant.objects.select_related("booking")}
    # All-day events: the property's 15:00 / 11:00, in Vienna time, across the DST night.
    g = grants["dst@airbnb.com"]
    assert g.valid_from.astimezone(tz).replace(tzinfo=None) == dt.datetime.combine(
        dst - dt.timedelta(days=1), dt.time(15, 0)
    )
    assert g.valid_until.astimezone(tz).replace(tzinfo=None) == dt.datetime.combine(
        dst, dt.time(11, 0)
    )
    assert g.valid_from.astimezone(tz).utcoffset() == dt.timedelta(hours=1)
    assert g.valid_until.astimezone(tz).utcoffset() == dt.timedelta(hours=2)
    assert g.valid_until - g.valid_from == dt.timedelta(hours=19)  # 20 wall-clock hours, one lost
    # Timed events keep their own times.
    g = grants["timed@pms"]
    assert g.valid_from.astimezone(tz).replace(tzinfo=None) == dt.datetime.combine(
        later, dt.time(16, 0)
    )
    assert g.valid_until.astimezone(tz).time() == dt.time(10, 0)
    g = grants["utc@pms"]
    assert g.valid_from == dt.datetime.combine(
        later + dt.timedelta(days=3), dt.time(13, 0), tzinfo=dt.UTC
    )
    assert stays["timed@pms"].guest_name == "Max Muster" and stays["utc@pms"].guest_name == ""

    # One code per stay on both locks; the stay starting tomorrow is already on the locks.
    for external_id, grant in grants.items():
        codes = AccessCode.objects.filter(holder=grant.holder, wanted=True)
        assert sorted(c.lock_id for c in codes) == sorted(lock.pk for lock in locks), external_id
        assert {c.code for c in codes} == {grant.code}
    assert {
        c.state for c in AccessCode.objects.filter(holder=grants["soon@airbnb.com"].holder)
    } == {"set"}

    # The same feed again (this server sends no ETag): read and compared, nothing written.
    from locks.models import LockCommand

    commands, stamps = LockCommand.objects.count(), {b.pk: b.updated_at for b in stays.values()}
    again = fetch(feed, commit)
    assert (again.status, again.created, again.updated, again.missing) == ("ok", 0, 0, 0)
    assert LockCommand.objects.count() == commands
    assert {b.pk: b.updated_at for b in stays_of(feed).values()} == stamps

    # The URL's token is a secret: not in the API, not in the database in the clear.
    body = world.api(world.read_key).get("/api/v1/ical-feeds/").content.decode()
    assert "TOPSECRETTOKEN123" not in body and "/…" in body
    with connection.cursor() as cursor:
        cursor.execute("SELECT url FROM bookings_icalfeed WHERE id = %s", [feed.pk])
        raw = cursor.fetchone()[0]
    assert "TOPSECRET" not in raw and raw.startswith("enc2:")
    assert feed.url.endswith("?s=TOPSECRETTOKEN123")
    # The booking API shows what Airbnb gave.
    res = world.api(world.read_key).get(f"/api/v1/bookings/{soon.pk}/").json()
    assert res["guest"]["phone_last4"] == "4711" and res["reservation_url"].endswith("HMABCD1234")
    assert res["source"] == f"ical:{feed.pk}"


@pytest.mark.django_db
def test_conditional_get_304_changes_nothing(world, prop, locks, server, commit):
    server.answers["/airbnb.ics"] = Answer(
        body=ics(airbnb_reserved("a@airbnb.com", days_from_now(2), days_from_now(4))),
        etag='"v1"',
        last_modified="Sun, 22 Nov 2026 06:00:00 GMT",
    )
    feed = add_feed(world, prop, server, commit)
    booking = Booking.objects.get(source=feed.source)
    before = (booking.updated_at, AccessCode.objects.count(), booking.grant.code)
    report = fetch(feed, commit)
    assert report.status == FetchStatus.NOT_MODIFIED
    second = server.requests[-1]
    assert second.headers["if-none-match"] == '"v1"'
    assert second.headers["if-modified-since"] == "Sun, 22 Nov 2026 06:00:00 GMT"
    booking.refresh_from_db()
    assert (booking.updated_at, AccessCode.objects.count(), booking.grant.code) == before
    feed.refresh_from_db()
    assert feed.status == FetchStatus.NOT_MODIFIED and feed.failures == 0
    # A changed feed (new ETag) is read again.
    server.answers["/airbnb.ics"] = Answer(
        body=ics(airbnb_reserved("a@airbnb.com", days_from_now(2), days_from_now(5))), etag='"v2"'
    )
    assert fetch(feed, commit).updated == 1
    booking.refresh_from_db()
    assert booking.check_out == days_from_now(5)


@pytest.mark.django_db
def test_vanished_stay_is_cancelled_only_after_two_successful_fetches(
    world, prop, locks, server, commit
):
    keep = airbnb_reserved("keep@airbnb.com", days_from_now(1), days_from_now(2))
    gone = airbnb_reserved("gone@airbnb.com", days_from_now(3), days_from_now(5))
    server.answers["/airbnb.ics"] = Answer(body=ics(keep, gone))
    feed = add_feed(world, prop, server, commit)
    booking = stays_of(feed)["gone@airbnb.com"]

    server.answers["/airbnb.ics"] = Answer(body=ics(keep))
    assert fetch(feed, commit).missing == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED and booking.grant.active

    # It comes back: the count starts again.
    server.answers["/airbnb.ics"] = Answer(body=ics(keep, gone))
    fetch(feed, commit)
    assert IcalStay.objects.get(uid="gone@airbnb.com").missing == 0
    # A failing fetch in between does not count as "missing".
    server.answers["/airbnb.ics"] = Answer(body=ics(keep))
    fetch(feed, commit)
    server.answers["/airbnb.ics"] = Answer(status=503)
    fetch(feed, commit)
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED

    server.answers["/airbnb.ics"] = Answer(body=ics(keep))
    report = fetch(feed, commit)
    assert report.cancelled == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    booking.grant.refresh_from_db()
    assert not booking.grant.active
    assert not AccessCode.objects.filter(holder=booking.grant.holder, wanted=True).exists()
    assert stays_of(feed)["keep@airbnb.com"].status == BookingStatus.CONFIRMED

    # The channel lists it again (re-booked): confirmed again, with a code on the locks.
    server.answers["/airbnb.ics"] = Answer(body=ics(keep, gone))
    assert fetch(feed, commit).updated == 1
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    booking.grant.refresh_from_db()
    assert booking.grant.active
    assert AccessCode.objects.filter(holder=booking.grant.holder, wanted=True).count() == 2


@pytest.mark.django_db
def test_ended_and_under_way_stays_are_not_cancelled_by_leaving_the_feed(
    world, prop, locks, server, commit
):
    past = airbnb_reserved("past@airbnb.com", days_from_now(1), days_from_now(2))
    now_on = airbnb_reserved("now@airbnb.com", days_from_now(2), days_from_now(6))
    server.answers["/airbnb.ics"] = Answer(body=ics(past, now_on))
    feed = add_feed(world, prop, server, commit)
    server.answers["/airbnb.ics"] = Answer(
        body=ics(
            vevent("blk@airbnb.com", days_from_now(30), days_from_now(31), "Airbnb (Not available)")
        )
    )
    # Four days later: "past" has ended, "now" is under way.
    with time_machine.travel(timezone.now() + dt.timedelta(days=4), tick=True):
        fetch(feed, commit)
        fetch(feed, commit)
        fetch(feed, commit)
    stays = stays_of(feed)
    assert stays["past@airbnb.com"].status == BookingStatus.CONFIRMED
    assert stays["now@airbnb.com"].status == BookingStatus.CONFIRMED
    assert stays["now@airbnb.com"].grant.active
    alert = Alert.objects.get(kind="ical_stay_vanished", resolved_at__isnull=True)
    assert "under way" in alert.message and "keeps working" in alert.message


@pytest.mark.django_db
def test_failing_feed_changes_nothing_alerts_after_repeated_failures_and_recovers(
    world, prop, locks, server, commit, settings
):
    settings.LATCHKEY_ICAL_ALERT_AFTER = 3
    settings.LATCHKEY_ICAL_MAX_BYTES = 50_000
    stay = airbnb_reserved("a@airbnb.com", days_from_now(2), days_from_now(4))
    server.answers["/airbnb.ics"] = Answer(body=ics(stay))
    feed = add_feed(world, prop, server, commit)
    booking = Booking.objects.get(source=feed.source)
    snapshot = (booking.updated_at, booking.grant.code)

    failures = [
        Answer(status=500),
        Answer(body=b"<html><body>Please log in</body></html>"),
        Answer(body=ics(stay) + b"X" * 60_000),  # above the size cap
        Answer(status=404),
    ]
    for n, answer in enumerate(failures, start=1):
        server.answers["/airbnb.ics"] = answer
        report = fetch(feed, commit)
        assert report.status == FetchStatus.FAILED and report.error
        feed.refresh_from_db()
        assert feed.failures == n
        booking.refresh_from_db()
        assert booking.status == BookingStatus.CONFIRMED
        assert (booking.updated_at, booking.grant.code) == snapshot
        open_alerts = Alert.objects.filter(kind="ical_feed_failing", resolved_at__isnull=True)
        assert open_alerts.count() == (1 if n >= 3 else 0)
    alert = Alert.objects.get(kind="ical_feed_failing", resolved_at__isnull=True)
    assert "could not be read 4 times in a row" in alert.message
    assert "not found (HTTP 404)" in alert.message
    assert "Stays from this feed are kept" in alert.message
    # The last good fetch in the property's zone, in the pages' one format (not UTC).
    assert f"Last good fetch: {local_stamp(feed.last_success_at, prop.timezone)}." in alert.message
    assert "UTC" not in alert.message
    assert "TOPSECRET" not in alert.message + alert.fix
    assert feed.next_fetch_at > timezone.now() + dt.timedelta(seconds=900)  # backing off

    server.answers["/airbnb.ics"] = Answer(body=ics(stay))
    assert fetch(feed, commit).status == FetchStatus.OK
    feed.refresh_from_db()
    assert feed.failures == 0 and feed.last_error == ""
    assert not Alert.objects.filter(kind="ical_feed_failing", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_failure_messages_are_plain(world, prop, server, commit, settings):
    settings.LATCHKEY_ICAL_MAX_BYTES = 1000
    server.answers["/airbnb.ics"] = Answer(body=ics())
    feed = add_feed(world, prop, server, commit)
    for answer, words in [
        (Answer(body=b"<html>login</html>"), "not an iCalendar file"),
        (Answer(body=b"x" * 5000), "too large"),
        (Answer(status=401), "refused access"),
        (Answer(status=502), "had a problem"),
        (Answer(body=ics(), delay=2), "took too long"),
    ]:
        server.answers["/airbnb.ics"] = answer
        settings.LATCHKEY_ICAL_TIMEOUT_SECONDS = 0.5 if answer.delay else 20
        assert words in fetch(feed, commit).error
    # Nobody listening any more.
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    feed.url = f"http://127.0.0.1:{closed_port}/airbnb.ics"
    feed.save(update_fields=["url"])
    assert "could not be reached" in fetch(feed, commit).error
    feed.refresh_from_db()
    assert feed.failures == 6 and feed.status == FetchStatus.FAILED


@pytest.mark.django_db
def test_suddenly_empty_feed_changes_nothing(world, prop, locks, server, commit, settings):
    settings.LATCHKEY_ICAL_ALERT_AFTER = 2
    server.answers["/airbnb.ics"] = Answer(
        body=ics(airbnb_reserved("a@airbnb.com", days_from_now(2), days_from_now(4))), etag='"1"'
    )
    feed = add_feed(world, prop, server, commit)
    server.answers["/airbnb.ics"] = Answer(body=ics(), etag='"empty"')
    for _ in range(3):
        assert fetch(feed, commit).status == FetchStatus.EMPTY
    booking = Booking.objects.get(source=feed.source)
    assert booking.status == BookingStatus.CONFIRMED
    assert IcalStay.objects.get(booking=booking).missing == 0
    feed.refresh_from_db()
    assert feed.etag == '"1"'  # the empty answer's ETag is not kept: it is read again next time
    alert = Alert.objects.get(kind="ical_feed_failing", resolved_at__isnull=True)
    assert "suddenly has no events" in alert.message and "nothing was cancelled" in alert.message
    assert "really is empty" in alert.fix

    # The manager confirms the calendar is empty and cancels the stay: the blank feed is then
    # taken as it is, and the alert resolves.
    from bookings.services import BookingData, booking_upsert

    with commit():
        booking_upsert(
            organization=world.org,
            source=feed.source,
            data=BookingData.from_booking(booking, status=BookingStatus.CANCELLED),
        )
    assert fetch(feed, commit).status == FetchStatus.OK
    assert not Alert.objects.filter(kind="ical_feed_failing", resolved_at__isnull=True).exists()


@pytest.mark.django_db
def test_explicit_cancellation_and_feeds_that_start_empty(world, prop, locks, server, commit):
    server.answers["/pms.ics"] = Answer(body=ics())
    feed = add_feed(world, prop, server, commit, path="/pms.ics")
    feed.refresh_from_db()
    assert feed.status == FetchStatus.OK  # a new, empty calendar is fine
    event = vevent("x-1@pms", days_from_now(3), days_from_now(4), "Eva Weiss")
    server.answers["/pms.ics"] = Answer(body=ics(event))
    assert fetch(feed, commit).created == 1
    server.answers["/pms.ics"] = Answer(body=ics([*event[:-1], "STATUS:CANCELLED", "END:VEVENT"]))
    assert fetch(feed, commit).cancelled == 1
    assert Booking.objects.get(source=feed.source).status == BookingStatus.CANCELLED


@pytest.mark.django_db
def test_polling_queues_due_feeds_once_per_interval(world, prop, locks, server, commit, settings):
    server.answers["/airbnb.ics"] = Answer(body=ics(), etag='"e"')
    feed = add_feed(world, prop, server, commit)
    requests_after_add = len(server.requests)
    IcalFeed.objects.filter(pk=feed.pk).update(next_fetch_at=timezone.now())
    with commit():
        assert feeds_poll_due() == [feed.pk]
    assert len(server.requests) == requests_after_add + 1
    with commit():
        assert feeds_poll_due() == []  # next one at its slot, within LATCHKEY_ICAL_POLL_SECONDS
    feed.refresh_from_db()
    now = timezone.now()
    assert (
        now < feed.next_fetch_at <= now + dt.timedelta(seconds=settings.LATCHKEY_ICAL_POLL_SECONDS)
    )
    assert feed.next_fetch_at == feed_next_slot(feed_id=feed.pk, after=feed.next_fetch_at - SLOT)
    assert feed.status == FetchStatus.NOT_MODIFIED


@pytest.mark.django_db
def test_a_feed_being_fetched_is_not_fetched_twice_at_once(world, prop, server, commit):
    server.answers["/airbnb.ics"] = Answer(body=ics())
    feed = add_feed(world, prop, server, commit)
    IcalFeed.objects.filter(pk=feed.pk).update(
        fetch_lease_until=timezone.now() + dt.timedelta(minutes=1)
    )
    before = len(server.requests)
    assert fetch(feed, commit) is None
    assert len(server.requests) == before


# --- The API -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_refuses_unsafe_urls_with_a_clear_error_and_stores_nothing(world, prop, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    api = world.api(world.write_key)
    for url, words in [
        ("http://127.0.0.1:8000/feed.ics", "private or local"),
        ("http://169.254.169.254/latest/meta-data/", "private or local"),
        ("http://[::ffff:10.0.0.1]/x.ics", "private or local"),
        ("http://2130706433/x.ics", "private or local"),
        ("ftp://example.com/x.ics", "Only http:// and https://"),
        ("https://user:pw@example.com/x.ics", "user name or password"),
        ("www.airbnb.com/calendar/ical/1.ics", "Only http:// and https://"),
        ("https://exa mple.com/x.ics", "spaces"),
    ]:
        res = api.post("/api/v1/ical-feeds/", {"property": prop.pk, "url": url}, format="json")
        assert res.status_code == 400, url
        assert words in res.json()["url"][0], (url, res.json())
    res = api.post("/api/v1/ical-feeds/", {"property": prop.pk}, format="json")
    assert res.status_code == 400 and "url" in res.json()
    assert not IcalFeed.objects.exists()


@pytest.mark.django_db
def test_create_checks_property_and_duplicates(world, prop, server, commit):
    from properties.services import property_create

    foreign = property_create(organization=world.other_org, name="Theirs", timezone="UTC")
    api = world.api(world.write_key)
    res = api.post(
        "/api/v1/ical-feeds/", {"property": foreign.pk, "url": server.url("/a.ics")}, format="json"
    )
    assert res.status_code == 400 and res.json()["property"] == ["No such property."]
    server.answers["/a.ics"] = Answer(body=ics())
    with commit():
        first = api.post(
            "/api/v1/ical-feeds/", {"property": prop.pk, "url": server.url("/a.ics")}, format="json"
        )
    assert first.status_code == 201
    again = api.post(
        "/api/v1/ical-feeds/", {"property": prop.pk, "url": server.url("/a.ics")}, format="json"
    )
    assert again.status_code == 400 and "already has a feed" in again.json()["url"][0]
    assert IcalFeed.objects.count() == 1


@pytest.mark.django_db
def test_feeds_are_isolated_per_organization(world, prop, server, commit):
    from rest_framework.test import APIClient

    server.answers["/a.ics"] = Answer(body=ics())
    feed = add_feed(world, prop, server, commit, path="/a.ics")
    detail = f"/api/v1/ical-feeds/{feed.pk}/"
    for user, code in [
        (world.owner, 200),
        (world.member, 200),
        (world.viewer, 200),
        (world.outsider, 404),
    ]:
        client = APIClient()
        client.force_login(user)
        assert client.get(detail).status_code == code
        listed = client.get("/api/v1/ical-feeds/").json()["results"]
        assert [f["id"] for f in listed] == ([feed.pk] if code == 200 else [])
    assert world.api(world.outsider_key).get(detail).status_code == 404
    # Writes: viewer and read key 403, outsider 404, member may.
    viewer = APIClient()
    viewer.force_login(world.viewer)
    body = {"property": prop.pk, "url": server.url("/b.ics")}
    assert viewer.post("/api/v1/ical-feeds/", body, format="json").status_code == 403
    assert (
        world.api(world.read_key).post("/api/v1/ical-feeds/", body, format="json").status_code
        == 403
    )
    assert viewer.delete(detail).status_code == 403
    assert world.api(world.read_key).delete(detail).status_code == 403
    assert world.api(world.outsider_key).delete(detail).status_code == 404
    outsider = APIClient()
    outsider.force_login(world.outsider)
    assert outsider.delete(detail).status_code == 404
    assert outsider.post(f"{detail}fetch/").status_code == 404
    assert IcalFeed.objects.filter(pk=feed.pk).exists()
    api = world.api(world.read_key)
    assert [
        f["id"] for f in api.get(f"/api/v1/ical-feeds/?property={prop.pk}").json()["results"]
    ] == [feed.pk]
    assert api.get(f"/api/v1/ical-feeds/?property={prop.pk + 1000}").json()["results"] == []
    assert api.get("/api/v1/ical-feeds/?property=x").status_code == 400
    member = APIClient()
    member.force_login(world.member)
    assert member.delete(detail).status_code == 204
    assert not IcalFeed.objects.filter(pk=feed.pk).exists()


@pytest.mark.django_db
def test_deleting_a_feed_keeps_its_stays(world, prop, locks, server, commit):
    server.answers["/airbnb.ics"] = Answer(
        body=ics(airbnb_reserved("a@airbnb.com", days_from_now(2), days_from_now(4)))
    )
    feed = add_feed(world, prop, server, commit)
    with commit():
        assert (
            world.api(world.write_key).delete(f"/api/v1/ical-feeds/{feed.pk}/").status_code == 204
        )
    booking = Booking.objects.get(external_id="a@airbnb.com")
    assert booking.status == BookingStatus.CONFIRMED and booking.grant.active


@pytest.mark.django_db
def test_fetch_now_runs_the_fetch_and_is_rate_limited(
    throttle_window, world, prop, locks, server, commit, monkeypatch
):
    monkeypatch.setattr(
        IcalFetchThrottle,
        "THROTTLE_RATES",
        {**IcalFetchThrottle.THROTTLE_RATES, "ical_fetch": "2/min"},
    )
    server.answers["/airbnb.ics"] = Answer(body=ics())
    feed = add_feed(world, prop, server, commit)
    server.answers["/airbnb.ics"] = Answer(
        body=ics(airbnb_reserved("new@airbnb.com", days_from_now(2), days_from_now(4)))
    )
    api = world.api(world.write_key)
    with commit():
        res = api.post(f"/api/v1/ical-feeds/{feed.pk}/fetch/")
    assert res.status_code == 202 and res.json()["id"] == feed.pk
    assert Booking.objects.filter(source=feed.source, external_id="new@airbnb.com").exists()
    assert api.post(f"/api/v1/ical-feeds/{feed.pk}/fetch/").status_code == 202
    assert api.post(f"/api/v1/ical-feeds/{feed.pk}/fetch/").status_code == 429
    shown = api.get(f"/api/v1/ical-feeds/{feed.pk}/").json()
    assert shown["status"] == "ok" and shown["stay_count"] == 1


@pytest.mark.django_db
def test_webcal_links_are_taken_as_https(world, prop, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    from bookings.ical.services import feed_create

    feed = feed_create(organization=world.org, property=prop, url="webcal://127.0.0.1:9/x.ics")
    assert feed.url == "https://127.0.0.1:9/x.ics"


@pytest.mark.django_db
def test_a_stay_whose_event_turns_unreadable_is_not_counted_missing(
    world, prop, locks, server, commit
):
    good = vevent("x@pms", days_from_now(3), days_from_now(5), "Reserved")
    server.answers["/pms.ics"] = Answer(body=ics(good))
    feed = add_feed(world, prop, server, commit, path="/pms.ics")
    broken = ["BEGIN:VEVENT", "UID:x@pms", "DTSTART;VALUE=DATE:2027XX01", "END:VEVENT"]
    server.answers["/pms.ics"] = Answer(body=ics(broken))
    for _ in range(3):
        assert fetch(feed, commit).missing == 0
    assert Booking.objects.get(source=feed.source).status == BookingStatus.CONFIRMED
