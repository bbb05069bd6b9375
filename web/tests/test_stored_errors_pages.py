"""The errors a calendar feed or a PMS delivery stored (in English, where they arose) read in
German on a German page: each kind of error is produced through its real path (a loopback HTTP
server answering as a broken calendar would; deliveries through the real webhook endpoint)
and the Integrations page is read in German."""

from __future__ import annotations

import datetime as dt
import json
import socket

import pytest
from django.urls import reverse

from bookings.ical.models import FetchStatus, IcalFeed
from bookings.ical.services import feed_create, feed_fetch
from bookings.pms.models import PmsEvent, PmsEventOutcome
from bookings.pms.services import connection_create, events_sweep
from bookings.tests.pms_samples import django_headers, signed_headers
from portal.testing import days_from_now
from portal.tests.local_http import Answer, LocalServer

pytestmark = pytest.mark.django_db

NOT_ICAL = b"<html><body>Please sign in</body></html>"


def ics(*stays: tuple[str, dt.date, dt.date]) -> bytes:
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Test//EN", "VERSION:2.0"]
    for uid, start, end in stays:
        lines += [
            "BEGIN:VEVENT",
            "DTSTAMP:20260101T000000Z",
            f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
            f"DTEND;VALUE=DATE:{end:%Y%m%d}",
            f"UID:{uid}",
            "SUMMARY:Reserved",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def german_page(client, world) -> str:
    client.force_login(world.owner)
    client.post(reverse("set_language"), {"language": "de", "next": "/"})
    html = client.get(reverse("integrations", kwargs={"slug": world.org.slug})).content.decode()
    assert 'lang="de"' in html
    return html


def feed_status(html: str, feed: IcalFeed) -> str:
    return html.split(f'id="feed-{feed.pk}-status"', 1)[1].split("</div>", 1)[0]


def test_each_feed_error_reads_in_german(client, world, prop, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True  # the calendar server is on loopback
    settings.LATCHKEY_ICAL_MAX_STAYS = 1
    soon = [
        ("a@x", days_from_now(2), days_from_now(4)),
        ("b@x", days_from_now(5), days_from_now(7)),
    ]
    with LocalServer() as server:
        server.answers.update(
            {
                "/401": Answer(status=401),
                "/404": Answer(status=404),
                "/503": Answer(status=503),
                "/302": Answer(status=418),
                "/html": Answer(body=NOT_ICAL),
                "/big": Answer(body=ics(*soon) + b" " * 2000),
                "/slow": Answer(body=ics(), delay=2.0),
                "/capped": Answer(body=ics(*soon)),
                "/emptied": Answer(body=ics(soon[0])),
                "/refused": Answer(body=ics()),
            }
        )
        expected = {
            "/401": "Der Kalenderserver hat den Zugriff verweigert (HTTP 401): Der Link wurde "
            "vielleicht zurückgesetzt.",
            "/404": "Der Kalender wurde nicht gefunden (HTTP 404): Der Link ist vielleicht "
            "veraltet.",
            "/503": "Der Kalenderserver hatte ein Problem (HTTP 503).",
            "/302": "Der Kalenderserver antwortete mit HTTP 418 statt mit dem Kalender.",
            "/html": "Die Antwort ist keine iCalendar-Datei (sie beginnt nicht mit "
            "BEGIN:VCALENDAR).",
            "/big": "Die Antwort ist zu groß (",
            "/slow": "Der Server hat zu lange nicht geantwortet.",
            "/capped": "Der Kalender-Feed „capped“ von Alpine Loft enthält 2 künftige Aufenthalte",
            "/emptied": "Der Feed enthält plötzlich gar keine Einträge mehr, beim letzten Abruf "
            "waren es 1; nichts wurde storniert.",
            "/refused": "Die Adresse wird abgelehnt: Der Host 127.0.0.1 verweist auf eine "
            "private oder lokale Netzwerkadresse (127.0.0.1)",
            "closed": "Der Server war nicht erreichbar: ",
        }
        feeds = {
            path: feed_create(
                organization=world.org, property=prop, url=server.url(path), name=path[1:]
            )
            for path in server.answers
        }
        feeds["closed"] = feed_create(
            organization=world.org,
            property=prop,
            url=f"http://127.0.0.1:{closed_port()}/cal.ics",
            name="closed",
        )
        feed_fetch(feed_id=feeds["/emptied"].pk)  # one stay: then it comes back empty
        server.answers["/emptied"] = Answer(body=ics())
        settings.LATCHKEY_ICAL_MAX_BYTES = 1000
        for path, feed in feeds.items():
            settings.LATCHKEY_ALLOW_PRIVATE_URLS = path != "/refused"
            settings.LATCHKEY_ICAL_TIMEOUT_SECONDS = 0.5 if path == "/slow" else 20.0
            feed_fetch(feed_id=feed.pk)
    stored = {path: IcalFeed.objects.get(pk=f.pk) for path, f in feeds.items()}
    assert stored["/capped"].status == FetchStatus.CAPPED
    assert stored["/emptied"].status == FetchStatus.EMPTY
    assert all(f.last_error for f in stored.values()), {p: f.status for p, f in stored.items()}
    # Stored as written: English, for the API, the admin and the logs.
    assert stored["/404"].last_error.startswith("The calendar was not found (HTTP 404)")
    html = german_page(client, world)
    for path, feed in stored.items():
        status = feed_status(html, feed)
        assert expected[path] in status, (path, feed.last_error, status)
        assert feed.last_error not in status, path


def test_the_failing_feed_alert_says_the_error_in_german(client, world, prop, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = True
    settings.LATCHKEY_ICAL_ALERT_AFTER = 1
    with LocalServer() as server:
        server.answers["/gone"] = Answer(status=410)
        feed = feed_create(organization=world.org, property=prop, url=server.url("/gone"))
        feed_fetch(feed_id=feed.pk)
    client.force_login(world.owner)
    client.post(reverse("set_language"), {"language": "de", "next": "/"})
    html = client.get(reverse("dashboard", kwargs={"slug": world.org.slug})).content.decode()
    assert "Der Kalender wurde nicht gefunden (HTTP 410)" in html
    assert "The calendar was not found" not in html


def test_an_unknown_stored_error_is_shown_as_stored(client, world, prop):
    """Rows from before (or a sentence not yet listed) stay readable: shown as they are."""
    feed = IcalFeed.objects.create(
        organization=world.org,
        property=prop,
        url="https://example.com/c.ics",
        status=FetchStatus.FAILED,
        failures=1,
        last_error="Something odd happened (code 7).",
        last_fetch_at=dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    )
    assert "Something odd happened (code 7)." in feed_status(german_page(client, world), feed)


def deliver(client, conn, body: bytes):
    headers = signed_headers(conn.kind, conn.secret, body)
    return client.post(
        reverse("pms-webhook", args=[conn.webhook_key]),
        body,
        content_type="application/json",
        **django_headers(headers),
    )


GOOD = {
    "external_id": "R1",
    "property": "loft-1",
    "status": "confirmed",
    "check_in": days_from_now(10).isoformat(),
    "check_out": days_from_now(12).isoformat(),
}
BODIES = {
    "utf8": b'{"external_id": "\xff\xfe"}',
    "nul": b'{"external_id": "a\x00b"}',
    "json": b"{not json",
    "field": json.dumps({k: v for k, v in GOOD.items() if k != "external_id"}).encode(),
    "range": json.dumps({**GOOD, "check_in": "1999-12-30", "check_out": "1999-12-31"}).encode(),
    "order": json.dumps(
        {**GOOD, "check_in": GOOD["check_out"], "check_out": GOOD["check_in"]}
    ).encode(),
}
# What the page says in German, and the start of what was stored (English).
PMS_ERRORS = {
    "utf8": ("Der Inhalt ist nicht in UTF-8.", "Body is not UTF-8."),
    "nul": ("Der Inhalt enthält NUL-Bytes.", "Body contains NUL bytes."),
    "json": ("Der Inhalt ist kein JSON: ", "Body is not JSON: "),
    "field": ("Das Feld &#x27;external_id&#x27; fehlt.", "Missing field 'external_id'."),
    "range": (
        "check_in muss zwischen 2000-01-01 und 2199-12-31 liegen.",
        "check_in must be between 2000-01-01 and 2199-12-31.",
    ),
    "order": ("check_out muss nach check_in liegen.", "check_out must be after check_in."),
    "stuck": (
        "Die Verarbeitung schlug wiederholt fehl; siehe das Protokoll des Workers.",
        "Processing kept failing; see the worker log.",
    ),
}


@pytest.mark.parametrize("case", sorted(PMS_ERRORS))
def test_each_pms_delivery_error_reads_in_german(client, world, prop, commit, case):
    conn = connection_create(organization=world.org, kind="generic", name="Own PMS")
    if case == "stuck":  # pending past the sweeps' last attempt: it kept failing
        PmsEvent.objects.create(
            organization=world.org,
            connection=conn,
            digest="f" * 64,
            body="{}",
            received_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            sweeps=5,
        )
        events_sweep()
    else:
        with commit():
            deliver(client, conn, BODIES[case])
    event = PmsEvent.objects.get(connection=conn)
    german, english = PMS_ERRORS[case]
    assert event.outcome in (PmsEventOutcome.INVALID, PmsEventOutcome.FAILED), event.error
    assert event.error.startswith(english), event.error
    html = german_page(client, world)
    row = html.split('id="pms-h"', 1)[1]
    assert german in row, (event.error, row)
    assert english.replace("'", "&#x27;") not in row


def test_a_refused_feed_address_is_said_in_german_on_the_form(client, world, prop, settings):
    settings.LATCHKEY_ALLOW_PRIVATE_URLS = False
    client.force_login(world.owner)
    client.post(reverse("set_language"), {"language": "de", "next": "/"})
    res = client.post(
        reverse("feed-new", kwargs={"slug": world.org.slug, "pk": prop.pk}),
        {"feed-url": "http://127.0.0.1:9/cal.ics", "feed-name": "Airbnb"},
    )
    html = res.content.decode()
    assert "Der Host 127.0.0.1 verweist auf eine private oder lokale Netzwerkadresse" in html
    assert "points to a private" not in html
    assert not IcalFeed.objects.exists()
