"""The iCal reader on the shapes the channels export (written from their hosts' calendars)."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from bookings.ical.parse import NotICalendar, parse_feed

VIENNA = ZoneInfo("Europe/Vienna")

AIRBNB = b"""BEGIN:VCALENDAR\r
PRODID;X-RICAL-TZSOURCE=TZINFO:-//Airbnb Inc//Hosting Calendar 1.0//EN\r
CALSCALE:GREGORIAN\r
VERSION:2.0\r
BEGIN:VEVENT\r
DTEND;VALUE=DATE:20270905\r
DTSTART;VALUE=DATE:20270901\r
UID:1418e1eb2f83-8d1f8526a2a25b4a1b9df3a3@airbnb.com\r
DESCRIPTION:Reservation URL: https://www.airbnb.com/hosting/reservations/de\r
 tails/HMABCDE123\\nPhone Number (Last 4 Digits): 1234\r
SUMMARY:Reserved\r
END:VEVENT\r
BEGIN:VEVENT\r
DTEND;VALUE=DATE:20270910\r
DTSTART;VALUE=DATE:20270906\r
UID:1418e1eb2f83-block@airbnb.com\r
SUMMARY:Airbnb (Not available)\r
END:VEVENT\r
END:VCALENDAR\r
"""

BOOKING_COM = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//admin.booking.com\\, b.v.//NONSGML v1.0//EN\r
CALSCALE:GREGORIAN\r
METHOD:PUBLISH\r
BEGIN:VEVENT\r
DTSTAMP:20270316T153617Z\r
DTSTART;VALUE=DATE:20270408\r
DTEND;VALUE=DATE:20270409\r
UID:ab8907e00fb0089a06e5acfdea101250@booking.com\r
SUMMARY:CLOSED - Not available\r
END:VEVENT\r
END:VCALENDAR\r
"""

VRBO = b"""BEGIN:VCALENDAR\r
PRODID:-//HomeAway.com\\, Inc.//EN\r
VERSION:2.0\r
CALSCALE:GREGORIAN\r
BEGIN:VEVENT\r
UID:66c1a7e9-reserved@homeaway.com\r
DTSTAMP:20270101T000000Z\r
DTSTART;VALUE=DATE:20270710\r
DTEND;VALUE=DATE:20270717\r
SUMMARY:Reserved - Jane Doe\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:66c1a7e9-blocked@homeaway.com\r
DTSTAMP:20270101T000000Z\r
DTSTART;VALUE=DATE:20270720\r
DTEND;VALUE=DATE:20270722\r
SUMMARY:Blocked\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_airbnb_reservation_keeps_phone_last4_and_reservation_url_blocks_ignored():
    feed = parse_feed(AIRBNB, tz=VIENNA)
    assert feed.events == 2 and feed.ignored == 1
    [stay] = feed.stays
    assert stay.uid == "1418e1eb2f83-8d1f8526a2a25b4a1b9df3a3@airbnb.com"
    assert (stay.check_in, stay.check_out) == (dt.date(2027, 9, 1), dt.date(2027, 9, 5))
    assert stay.check_in_at is None and stay.check_out_at is None
    assert stay.phone_last4 == "1234"
    assert stay.reservation_url == "https://www.airbnb.com/hosting/reservations/details/HMABCDE123"
    assert stay.guest_name == ""


def test_booking_com_closed_nights_are_not_stays():
    feed = parse_feed(BOOKING_COM, tz=VIENNA)
    assert (feed.events, feed.ignored, feed.stays) == (1, 1, [])


def test_vrbo_reserved_with_name_and_blocked():
    feed = parse_feed(VRBO, tz=VIENNA)
    [stay] = feed.stays
    assert stay.guest_name == "Jane Doe"
    assert (stay.check_in, stay.check_out) == (dt.date(2027, 7, 10), dt.date(2027, 7, 17))
    assert feed.ignored == 1


def cal(*lines: str) -> bytes:
    return (
        "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *lines, "END:VCALENDAR"]) + "\r\n"
    ).encode()


def event(*lines: str) -> list[str]:
    return ["BEGIN:VEVENT", *lines, "END:VEVENT"]


def test_timed_events_keep_their_moments_in_the_right_zone():
    feed = parse_feed(
        cal(
            *event(
                "UID:tz",
                "DTSTART;TZID=America/New_York:20270402T160000",
                "DTEND;TZID=America/New_York:20270404T100000",
                "SUMMARY:Ann",
            ),
            *event("UID:utc", "DTSTART:20270402T230000Z", "DTEND:20270404T080000Z"),
            *event("UID:floating", "DTSTART:20270402T160000", "DURATION:P2DT18H"),
        ),
        tz=VIENNA,
    )
    stays = {s.uid: s for s in feed.stays}
    ny = stays["tz"]
    assert ny.check_in_at.astimezone(dt.UTC) == dt.datetime(2027, 4, 2, 20, 0, tzinfo=dt.UTC)
    assert ny.guest_name == "Ann"
    utc = stays["utc"]
    # 23:00 UTC is already the next day in Vienna: the stay's dates are local dates.
    assert utc.check_in == dt.date(2027, 4, 3)
    floating = stays["floating"]  # no zone: the property's
    assert floating.check_in_at == dt.datetime(2027, 4, 2, 16, 0, tzinfo=VIENNA)
    assert floating.check_out_at == dt.datetime(2027, 4, 5, 10, 0, tzinfo=VIENNA)


def test_odd_events_are_ignored_not_fatal():
    feed = parse_feed(
        cal(
            *event("UID:weekly", "DTSTART;VALUE=DATE:20270101", "RRULE:FREQ=WEEKLY", "SUMMARY:X"),
            *event("UID:free", "DTSTART;VALUE=DATE:20270101", "TRANSP:TRANSPARENT"),
            *event("UID:backwards", "DTSTART;VALUE=DATE:20270105", "DTEND;VALUE=DATE:20270101"),
            *event("UID:nostart", "SUMMARY:Reserved"),
            *event("UID:mixed", "DTSTART;VALUE=DATE:20270101", "DTEND:20270102T100000Z"),
            *event("UID:owner", "DTSTART;VALUE=DATE:20270101", "SUMMARY:Owner block"),
            *event("UID:oneday", "DTSTART;VALUE=DATE:20270201", "SUMMARY:Booked"),
            *event("UID:cancelled", "DTSTART;VALUE=DATE:20270301", "STATUS:CANCELLED"),
        ),
        tz=VIENNA,
    )
    stays = {s.uid: s for s in feed.stays}
    assert sorted(stays) == ["cancelled", "oneday"]
    assert stays["oneday"].check_out == dt.date(2027, 2, 2)  # no DTEND: one night
    assert stays["cancelled"].cancelled
    assert feed.ignored == 6


def test_missing_or_long_uids_give_stable_external_ids():
    long_uid = "x" * 300
    body = cal(
        *event(f"UID:{long_uid}", "DTSTART;VALUE=DATE:20270101", "DTEND;VALUE=DATE:20270103"),
        *event("DTSTART;VALUE=DATE:20270201", "DTEND;VALUE=DATE:20270203"),
    )
    first = parse_feed(body, tz=VIENNA).stays
    again = parse_feed(body, tz=VIENNA).stays
    assert [s.uid for s in first] == [s.uid for s in again]
    assert all(len(s.uid) <= 120 for s in first)
    assert first[0].uid != first[1].uid


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<!DOCTYPE html><html>Log in</html>",
        b'{"error": "nope"}',
        b"BEGIN:VCALENDAR\r\nBROKEN",
    ],
)
def test_not_icalendar_is_an_error(body):
    with pytest.raises(NotICalendar):
        parse_feed(body, tz=VIENNA)


def test_byte_order_mark_and_leading_blank_lines_are_fine():
    feed = parse_feed(b"\xef\xbb\xbf\r\n" + BOOKING_COM, tz=VIENNA)
    assert feed.events == 1


def test_one_broken_event_does_not_stop_the_others():
    feed = parse_feed(
        cal(
            *event("UID:bad-date", "DTSTART;VALUE=DATE:2027XX01", "DTEND;VALUE=DATE:20270105"),
            *event(
                "UID:bad-zone",
                "DTSTART;TZID=Mars/Olympus:20270101T100000",
                "DTEND;TZID=Mars/Olympus:20270102T100000",
            ),
            *event("UID:good", "DTSTART;VALUE=DATE:20270101", "DTEND;VALUE=DATE:20270105"),
        ),
        tz=VIENNA,
    )
    stays = {s.uid: s for s in feed.stays}
    assert sorted(stays) == ["bad-zone", "good"]
    # A zone the reader does not know: the times are taken as the property's local times.
    assert stays["bad-zone"].check_in_at == dt.datetime(2027, 1, 1, 10, 0, tzinfo=VIENNA)
    assert feed.unreadable == {"bad-date"}
    assert feed.events == 3 and feed.ignored == 1
