"""Bad input everywhere answers 400 naming the field and changes nothing (issue 12, item 7):
JSON nested past any sane depth or holding numbers Python refuses to read, property ids that
are not ASCII digits or are 5,000 digits long, dates far outside any stay, Nuki Web webhooks
whose fields have the wrong type, and control characters in names that go into email headers.
Each of these answered 500 before."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.urls import reverse

from bookings.models import Booking
from bookings.pms.models import PmsEvent
from bookings.pms.services import connection_create
from locks.models import Lock, LockEvent, NukiWebConnection, WebhookDelivery
from portal.jsonparse import MAX_DEPTH, JSONError, loads
from portal.models import Organization
from portal.testing import days_from_now
from properties.models import Property

DEEP = ("[" * 100_000 + "]" * 100_000).encode()
DEEP_OBJECT = ('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)).encode()
HUGE_NUMBER = ('{"token": ' + "9" * 5000 + "}").encode()


# ------------------------------------------------------------------ the parser itself


def test_loads_refuses_depth_and_huge_numbers_with_a_value_error():
    assert loads('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None  # at the limit: fine
    for text in (DEEP, DEEP_OBJECT, HUGE_NUMBER, b"[1e999]", b"[NaN]"):
        with pytest.raises(JSONError):
            loads(text)
    assert issubclass(JSONError, ValueError)


# ------------------------------------------------------------------ JSON bodies


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, HUGE_NUMBER], ids=["deep", "depth", "digits"])
def test_agent_enroll_refuses_unreadable_json(client, body):
    answer = client.post(reverse("agent-enroll"), body, content_type="application/json")
    assert answer.status_code == 400, answer.content
    assert "JSON" in answer.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT], ids=["deep", "depth"])
def test_api_refuses_deep_json(world, prop, body):
    answer = world.api(world.write_key).post(
        "/api/v1/bookings/", body, content_type="application/json"
    )
    assert answer.status_code == 400, answer.content
    assert not Booking.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, HUGE_NUMBER], ids=["deep", "depth", "digits"])
def test_smoobu_webhook_refuses_unreadable_json(client, world, body):
    conn = connection_create(organization=world.org, kind="smoobu", name="Smoobu", secret=None)
    answer = client.post(
        reverse("pms-webhook", args=[conn.webhook_key]), body, content_type="application/json"
    )
    assert answer.status_code == 400, answer.content
    assert "JSON" in answer.json()["detail"]
    assert not Booking.objects.exists()
    # Kept for the operator as an unreadable delivery (like any non-JSON body), never applied.
    assert list(PmsEvent.objects.values_list("outcome", flat=True)) == ["invalid"]


# ------------------------------------------------------------------ bookings


def booking(prop, **over) -> dict:
    base = {
        "external_id": "B-1",
        "property": prop.pk,
        "status": "confirmed",
        "check_in": str(days_from_now(1)),
        "check_out": str(days_from_now(3)),
    }
    return {**base, **over}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value", ["²", "١٢", "9" * 5000, "9" * 30], ids=["superscript", "arabic", "5000", "30"]
)
def test_property_that_is_no_id_is_a_400(world, prop, locks, commit, value):
    with commit():
        answer = world.api(world.write_key).post(
            "/api/v1/bookings/", booking(prop, property=value), format="json"
        )
    assert answer.status_code == 400, answer.content
    assert "property" in answer.json()
    assert not Booking.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "dates",
    [
        ("0001-01-01", "0001-01-03"),
        ("0001-01-01T00:00:00+14:00", "0001-01-02T00:00:00+14:00"),
        ("9999-12-29", "9999-12-31"),
        ("1999-12-30", "2000-01-03"),
    ],
    ids=["year-1", "year-1-offset", "year-9999", "1999"],
)
def test_stay_dates_outside_any_sane_range_are_a_400(world, prop, locks, commit, dates):
    with commit():
        answer = world.api(world.write_key).post(
            "/api/v1/bookings/",
            booking(prop, check_in=dates[0], check_out=dates[1]),
            format="json",
        )
    assert answer.status_code == 400, answer.content
    assert set(answer.json()) & {"check_in", "check_out"}
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_stay_page_form_refuses_year_one(client, world, prop, locks):
    client.force_login(world.owner)
    answer = client.post(
        f"/o/{world.org.slug}/stays/new/",
        {
            "property": prop.pk,
            "check_in": "0001-01-01",
            "check_out": "0001-01-03",
            "guest_language": "en",
        },
    )
    assert answer.status_code in (200, 400)  # the form again, with the error
    assert "check_in" in answer.context["form"].errors
    assert not Booking.objects.exists()


# ------------------------------------------------------------------ Nuki Web webhooks


@pytest.fixture
def nuki_web(world):
    conn = NukiWebConnection.objects.create(
        organization=world.org,
        kind="api_token",
        access_token="t" * 20,
        webhook_key="hook-key-1",
        webhook_secret="hook-secret-1",
    )
    lock = Lock.objects.create(
        organization=world.org, name="Front", driver="nuki_web", nuki_id=4242
    )
    return conn, lock


def signed_post(client, conn, payload: dict):
    body = json.dumps(payload).encode()
    signature = hmac.new(conn.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        reverse("nuki-web-webhook", args=[conn.webhook_key]),
        body,
        content_type="application/json",
        HTTP_X_NUKI_SIGNATURE_SHA256=signature,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"feature": "DEVICE_STATUS", "smartlockId": 4242, "state": "x"}, "state"),
        ({"feature": "DEVICE_STATUS", "smartlockId": 4242, "state": {"state": "x"}}, "state"),
        (
            {"feature": "DEVICE_STATUS", "smartlockId": 4242, "state": {"batteryCharge": "x"}},
            "batteryCharge",
        ),
        (
            {"feature": "DEVICE_STATUS", "smartlockId": 4242, "state": {"batteryCharge": 10**9}},
            "batteryCharge",
        ),
        ({"feature": "DEVICE_LOGS", "smartlockId": 4242, "smartlockLog": "x"}, "smartlockLog"),
        (
            {"feature": "DEVICE_LOGS", "smartlockId": 4242, "smartlockLog": {"date": "x"}},
            "date",
        ),
        (
            {"feature": "DEVICE_LOGS", "smartlockId": 4242, "smartlockLog": {"date": 5}},
            "date",
        ),
        ({"feature": "DEVICE_STATUS", "smartlockId": "x"}, "smartlockId"),
        ({"feature": "DEVICE_STATUS", "smartlockId": 10**30}, "smartlockId"),
        ({"feature": ["DEVICE_STATUS"], "smartlockId": 4242}, "feature"),
        ({"feature": "DEVICE_AUTHS", "smartlockId": 4242, "smartlockAuth": 7}, "smartlockAuth"),
        ([1, 2], "body"),
    ],
)
def test_signed_nuki_web_webhook_with_wrong_fields_is_a_400(
    client, world, nuki_web, payload, field
):
    conn, lock = nuki_web
    answer = signed_post(client, conn, payload)
    assert answer.status_code == 400, answer.content
    assert field in answer.json()["detail"]
    lock.refresh_from_db()
    assert (lock.state, lock.battery_percent) == (Lock._meta.get_field("state").default, None)
    assert not LockEvent.objects.exists()
    assert not WebhookDelivery.objects.exists()  # a fixed resend is not taken for a duplicate


@pytest.mark.django_db
def test_signed_nuki_web_webhook_still_applies_good_fields(client, world, nuki_web):
    conn, lock = nuki_web
    answer = signed_post(
        client,
        conn,
        {
            "feature": "DEVICE_STATUS",
            "smartlockId": 4242,
            "state": {"state": 1, "batteryCharge": 40},
        },
    )
    assert answer.status_code == 200 and answer.json()["outcome"] == "status"
    lock.refresh_from_db()
    assert (lock.state, lock.battery_percent) == ("locked", 40)


# ------------------------------------------------------------------ names in email headers

BAD_NAMES = [
    "Loft\r\nBcc: victim@example.com",
    "Loft\nTwo",
    "Loft\x00",
    "Loft\x1b[2J",
    "Lo\u2028ft",
]


@pytest.mark.django_db
@pytest.mark.parametrize("name", BAD_NAMES)
def test_property_name_with_control_characters_is_refused_by_the_api(world, prop, name):
    api = world.api(world.write_key)
    created = api.post(
        "/api/v1/properties/", {"name": name, "timezone": "Europe/Vienna"}, format="json"
    )
    assert created.status_code == 400, created.content
    assert "name" in created.json()
    changed = api.patch(f"/api/v1/properties/{prop.pk}/", {"name": name}, format="json")
    assert changed.status_code == 400 and "name" in changed.json()
    assert list(Property.objects.values_list("name", flat=True)) == ["Alpine Loft"]


@pytest.mark.django_db
def test_property_name_with_control_characters_is_refused_by_the_page(client, world, prop):
    client.force_login(world.owner)
    answer = client.post(
        f"/o/{world.org.slug}/properties/{prop.pk}/edit/",
        {"name": "Loft\r\nBcc: x@example.com", "timezone": "Europe/Vienna",
         "lead_minutes": 60, "lag_minutes": 60, "cleaning_minutes": 0},
    )  # fmt: skip
    assert answer.status_code in (200, 400)
    assert "name" in answer.context["form"].errors
    prop.refresh_from_db()
    assert prop.name == "Alpine Loft"


@pytest.mark.django_db
def test_organization_name_with_control_characters_is_refused_by_the_page(client, world):
    client.force_login(world.owner)
    answer = client.post(
        f"/o/{world.org.slug}/settings/",
        {"name": "Acme\r\nBcc: x@example.com", "preload_hours": 48},
    )
    assert answer.status_code == 400
    assert "name" in answer.context["org_form"].errors
    assert Organization.objects.get(pk=world.org.pk).name == "Acme Stays"


@pytest.mark.django_db
def test_guest_name_with_a_line_break_is_refused(world, prop, locks, commit):
    with commit():
        answer = world.api(world.write_key).post(
            "/api/v1/bookings/",
            booking(prop, guest={"name": "Anna\r\nBcc: x@example.com", "email": "a@example.com"}),
            format="json",
        )
    assert answer.status_code == 400, answer.content
    assert "name" in answer.json()["guest"]
    assert not Booking.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["²", "x", "9" * 5000])
def test_ical_feed_list_filter_that_is_no_id_is_a_400(world, value):
    """Found by the schemathesis run once the filter was in the schema: "²".isdigit()."""
    answer = world.api(world.read_key).get("/api/v1/ical-feeds/", {"property": value})
    assert answer.status_code == 400, answer.content
    assert "property" in answer.json()


@pytest.mark.django_db
def test_ical_feed_ignores_stays_in_year_9999(world, prop, locks):
    """A feed is background work, not a request: its absurd stay is ignored, not a crash of
    the whole fetch (the other stays still apply)."""
    import datetime as dt

    from bookings.ical.models import IcalFeed
    from bookings.ical.parse import FeedStay
    from bookings.ical.services import _apply

    feed = IcalFeed.objects.create(
        organization=world.org, property=prop, url="https://example.com/a.ics",
        url_hash="h", url_masked="https://example.com/…",
    )  # fmt: skip
    stays = [
        FeedStay(uid="far", check_in=dt.date(9999, 12, 29), check_out=dt.date(9999, 12, 31)),
        FeedStay(uid="near", check_in=days_from_now(1), check_out=days_from_now(3)),
    ]
    report = _apply(feed, stays, unreadable=set(), events=2, ignored=0, etag="", last_modified="")
    assert report.ignored == 1
    assert list(Booking.objects.values_list("check_in", flat=True)) == [days_from_now(1)]
