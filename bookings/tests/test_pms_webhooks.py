"""PMS webhooks end to end, in-process: a delivery signed (or authenticated) as each PMS does
it becomes a booking, a grant and the same code on both virtual locks; bad credentials change
nothing; duplicates are ignored; out-of-order deliveries end in the newest state; unpaid
stays wait; unmapped listings wait for a mapping. Celery tasks run eagerly at commit."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection as db
from django.urls import reverse

from bookings.models import AccessGrant, Booking, BookingStatus
from bookings.pms.models import PmsConnection, PmsEvent, PmsKind, PmsListingMapping
from bookings.pms.services import connection_create, events_sweep
from bookings.tests.pms_samples import Stay, django_headers, payload, signed_headers
from locks.models import VirtualLockCode
from portal.models import Alert
from portal.testing import days_from_now
from properties.services import property_create

KINDS = [k.value for k in PmsKind]
LISTING = "81234"
GUESTY_SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItZ3Vlc3R5LXRlc3Rz"  # base64 of a test key
T0 = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def listing_prop(world):
    return property_create(
        organization=world.org, name="Loft", timezone="Europe/Vienna", external_ref=LISTING
    )


@pytest.fixture
def listing_locks(world, listing_prop):
    from locks.services import lock_create

    return [
        lock_create(organization=world.org, property=listing_prop, name=n, driver="virtual")
        for n in ("Building door", "Flat door")
    ]


def make_connection(world, kind: str) -> PmsConnection:
    return connection_create(
        organization=world.org,
        kind=kind,
        name=f"My {kind}",
        secret=GUESTY_SECRET if kind == "guesty" else None,
    )


def stay(**over) -> Stay:
    base = dict(
        id="40123456",
        listing=LISTING,
        check_in=days_from_now(1),
        check_out=days_from_now(3),
        modified=T0,
    )
    base.update(over)
    return Stay(**base)


def deliver(client, conn: PmsConnection, body: bytes, *, secret: str | None = None, **extra):
    headers = signed_headers(conn.kind, secret or conn.secret, body)
    url = reverse("pms-webhook", args=[conn.webhook_key])
    return client.post(
        url, body, content_type="application/json", **django_headers(headers), **extra
    )


def booking_of(conn) -> Booking:
    return Booking.objects.get(organization=conn.organization, source=conn.kind)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_delivery_becomes_a_code_on_every_lock(client, world, listing_locks, commit, kind):
    conn = make_connection(world, kind)
    with commit():
        answer = deliver(client, conn, payload(kind, stay()))
    assert answer.status_code == 202, answer.content
    booking = booking_of(conn)
    assert booking.external_id == "40123456"
    assert booking.status == BookingStatus.CONFIRMED
    assert booking.check_in == days_from_now(1) and booking.check_out == days_from_now(3)
    assert booking.guest_name == "Anna Gruber" and booking.guest_email == "anna@example.com"
    grant = AccessGrant.objects.get(booking=booking)
    on_locks = VirtualLockCode.objects.filter(lock__in=listing_locks)
    assert sorted(v.lock_id for v in on_locks) == sorted(lock.pk for lock in listing_locks)
    assert {v.code for v in on_locks} == {grant.code}
    event = PmsEvent.objects.get(connection=conn)
    assert event.outcome == "applied" and event.booking_id == booking.pk
    assert event.body == payload(kind, stay()).decode()  # stored raw

    # A cancellation delivered later removes the code from both locks.
    with commit():
        later = deliver(
            client,
            conn,
            payload(
                kind, stay(status="cancelled", modified=T0 + dt.timedelta(hours=1)), update=True
            ),
        )
    assert later.status_code == 202
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CANCELLED
    assert not VirtualLockCode.objects.filter(lock__in=listing_locks).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", [k for k in KINDS if k != "smoobu"])
def test_bad_or_missing_credentials_are_401_and_change_nothing(client, world, listing_locks, kind):
    conn = make_connection(world, kind)
    body = payload(kind, stay())
    url = reverse("pms-webhook", args=[conn.webhook_key])
    wrong = "whsec_" + "d3JvbmctdGVzdC1rZXktZm9yLWd1ZXN0eQ==" if kind == "guesty" else "x" * 43
    bad = deliver(client, conn, body, secret=wrong)
    assert bad.status_code == 401, bad.content
    missing = client.post(url, body, content_type="application/json")
    assert missing.status_code == 401
    rejected = 2
    if kind != "hostaway":  # basic auth does not cover the body; signatures do
        # A valid signature over a different body does not carry over.
        tampered_headers = signed_headers(kind, conn.secret, body)
        tampered = client.post(
            url,
            body.replace(b"Anna", b"Mala"),
            content_type="application/json",
            **django_headers(tampered_headers),
        )
        assert tampered.status_code == 401
        rejected = 3
    assert not PmsEvent.objects.exists()
    assert not Booking.objects.exists()
    assert not VirtualLockCode.objects.exists()
    conn.refresh_from_db()
    assert conn.rejected_count == rejected


@pytest.mark.django_db
def test_smoobu_url_is_the_credential(client, world, listing_locks):
    conn = make_connection(world, "smoobu")
    body = payload("smoobu", stay())
    unknown = client.post("/hooks/pms/not-a-real-key/", body, content_type="application/json")
    assert unknown.status_code == 404
    assert not PmsEvent.objects.exists() and not Booking.objects.exists()
    assert deliver(client, conn, body).status_code == 202


@pytest.mark.django_db
def test_guesty_signature_too_old_is_refused(client, world, listing_locks):
    conn = make_connection(world, "guesty")
    body = payload("guesty", stay())
    headers = signed_headers("guesty", conn.secret, body, now=T0.timestamp())  # long ago
    answer = client.post(
        reverse("pms-webhook", args=[conn.webhook_key]),
        body,
        content_type="application/json",
        **django_headers(headers),
    )
    assert answer.status_code == 401
    assert not PmsEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_duplicate_delivery_is_ignored(client, world, listing_locks, commit, kind):
    conn = make_connection(world, kind)
    body = payload(kind, stay())
    with commit():
        first = deliver(client, conn, body)
    with commit():
        again = deliver(client, conn, body)
    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["event"] == first.json()["event"]
    assert PmsEvent.objects.filter(connection=conn).count() == 1
    assert Booking.objects.count() == 1
    conn.refresh_from_db()
    assert conn.duplicate_count == 1


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted({"hostaway", "guesty", "smoobu", "hospitable", "generic"}))
def test_update_before_its_create_ends_in_the_newest_state(
    client, world, listing_locks, commit, kind
):
    conn = make_connection(world, kind)
    created = stay()
    updated = stay(check_out=days_from_now(5), modified=T0 + dt.timedelta(minutes=5))
    with commit():
        assert deliver(client, conn, payload(kind, updated, update=True)).status_code == 202
    with commit():
        assert deliver(client, conn, payload(kind, created)).status_code == 202
    booking = booking_of(conn)
    assert booking.check_out == days_from_now(5)
    outcomes = list(PmsEvent.objects.order_by("pk").values_list("outcome", flat=True))
    assert outcomes == ["applied", "stale"]
    grant = AccessGrant.objects.get(booking=booking)
    assert set(
        VirtualLockCode.objects.filter(lock__in=listing_locks).values_list("valid_until", flat=True)
    ) == {grant.valid_until}


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted({"hostaway", "guesty", "smoobu", "hospitable", "generic"}))
def test_old_update_after_a_newer_cancellation_changes_nothing(
    client, world, listing_locks, commit, kind
):
    conn = make_connection(world, kind)
    with commit():
        deliver(client, conn, payload(kind, stay()))
    cancelled = stay(status="cancelled", modified=T0 + dt.timedelta(hours=2))
    old_update = stay(check_out=days_from_now(4), modified=T0 + dt.timedelta(hours=1))
    with commit():
        deliver(client, conn, payload(kind, cancelled, update=True))
    with commit():
        deliver(client, conn, payload(kind, old_update, update=True))
    booking = booking_of(conn)
    assert booking.status == BookingStatus.CANCELLED
    assert booking.check_out == days_from_now(3)
    assert not VirtualLockCode.objects.filter(lock__in=listing_locks).exists()
    assert PmsEvent.objects.order_by("-pk").first().outcome == "stale"


@pytest.mark.django_db
def test_lodgify_has_no_modification_time_so_receipt_order_decides(
    client, world, listing_locks, commit
):
    """Documented rule: without a version in the payload, the last delivery received wins."""
    conn = make_connection(world, "lodgify")
    with commit():
        deliver(client, conn, payload("lodgify", stay()))
    with commit():
        deliver(client, conn, payload("lodgify", stay(check_out=days_from_now(6))))
    assert booking_of(conn).check_out == days_from_now(6)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["hostaway", "guesty", "smoobu", "lodgify", "generic"])
def test_unpaid_stay_gets_no_code_until_paid_or_allowed(client, world, listing_locks, commit, kind):
    conn = make_connection(world, kind)
    with commit():
        deliver(client, conn, payload(kind, stay(paid=False)))
    booking = booking_of(conn)
    assert booking.status == BookingStatus.TENTATIVE
    assert not VirtualLockCode.objects.exists()
    assert not AccessGrant.objects.filter(booking=booking, active=True).exists()

    with commit():
        deliver(client, conn, payload(kind, stay(modified=T0 + dt.timedelta(hours=1)), update=True))
    booking.refresh_from_db()
    assert booking.status == BookingStatus.CONFIRMED
    assert VirtualLockCode.objects.filter(lock__in=listing_locks).count() == 2


@pytest.mark.django_db
def test_organization_may_give_codes_before_payment(client, world, listing_locks, commit):
    world.org.codes_before_payment = True
    world.org.save()
    conn = make_connection(world, "hostaway")
    with commit():
        deliver(client, conn, payload("hostaway", stay(paid=False)))
    assert booking_of(conn).status == BookingStatus.CONFIRMED
    assert VirtualLockCode.objects.filter(lock__in=listing_locks).count() == 2


@pytest.mark.django_db
def test_unmapped_listing_waits_and_is_applied_once_mapped(client, world, locks, prop, commit):
    """The `prop` fixture's external_ref is "loft-1", not the PMS listing id."""
    conn = make_connection(world, "hospitable")
    with commit():
        assert (
            deliver(client, conn, payload("hospitable", stay(listing="b7f3-uuid"))).status_code
            == 202
        )
    event = PmsEvent.objects.get()
    assert event.outcome == "unmapped" and event.listing_id == "b7f3-uuid"
    assert not Booking.objects.exists()
    alert = Alert.objects.get(organization=world.org, kind="pms_unmapped", resolved_at=None)
    assert "b7f3-uuid" in alert.message and "not linked" in alert.message

    api = world.api(world.write_key)
    with commit():
        mapped = api.post(
            f"/api/v1/pms-connections/{conn.pk}/mappings/",
            {"listing_id": "b7f3-uuid", "property": prop.pk},
            format="json",
        )
    assert mapped.status_code == 200, mapped.content
    event.refresh_from_db()
    assert event.outcome == "applied"
    booking = booking_of(conn)
    assert booking.property_id == prop.pk
    assert VirtualLockCode.objects.filter(lock__in=locks).count() == 2
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert PmsListingMapping.objects.get(connection=conn).property_id == prop.pk


@pytest.mark.django_db
def test_deleting_a_connection_keeps_its_bookings_and_closes_its_alerts(
    client, world, listing_locks, commit
):
    conn = make_connection(world, "hospitable")
    with commit():
        deliver(client, conn, payload("hospitable", stay()))
        deliver(client, conn, payload("hospitable", stay(id="9", listing="nowhere")))
    assert Alert.objects.filter(kind="pms_unmapped", resolved_at=None).count() == 1
    deleted = world.api(world.write_key).delete(f"/api/v1/pms-connections/{conn.pk}/")
    assert deleted.status_code == 204
    assert not PmsEvent.objects.exists()
    assert Booking.objects.filter(source="hospitable").count() == 1
    assert not Alert.objects.filter(kind="pms_unmapped", resolved_at=None).exists()


@pytest.mark.django_db
def test_sweep_applies_events_once_a_property_takes_the_listing_as_external_ref(
    client, world, locks, prop, commit
):
    conn = make_connection(world, "smoobu")
    with commit():
        deliver(client, conn, payload("smoobu", stay(listing="505200")))
    assert PmsEvent.objects.get().outcome == "unmapped"
    assert events_sweep() == 0  # still nothing matches
    prop.external_ref = "505200"
    prop.save()
    with commit():
        assert events_sweep() == 1
    assert PmsEvent.objects.get().outcome == "applied"
    assert booking_of(conn).property_id == prop.pk


@pytest.mark.django_db
def test_authenticated_but_unreadable_body_is_kept_and_answered_400(client, world, listing_locks):
    conn = make_connection(world, "hospitable")
    body = b'{"action": "reservation.created", "data": {"id": "x"}}'
    answer = deliver(client, conn, body)
    assert answer.status_code == 400
    assert "arrival_date" in answer.json()["detail"]
    event = PmsEvent.objects.get()
    assert event.outcome == "invalid" and "arrival_date" in event.error
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_events_that_are_not_about_reservations_are_ignored(client, world, listing_locks, commit):
    conn = make_connection(world, "hostaway")
    body = b'{"object": "conversationMessage", "event": "message.received", "data": {"id": 1}}'
    with commit():
        assert deliver(client, conn, body).status_code == 202
    assert PmsEvent.objects.get().outcome == "ignored"
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_webhook_url_is_rate_limited(throttle_window, client, world, listing_locks, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "pms_hook": "3/min",
        },
    }
    conn = make_connection(world, "smoobu")
    codes = [
        deliver(client, conn, payload("smoobu", stay(id=str(100 + i)))).status_code
        for i in range(5)
    ]
    assert codes == [202, 202, 202, 429, 429]
    assert PmsEvent.objects.count() == 3


@pytest.mark.django_db
def test_probing_unknown_urls_is_throttled_per_address_but_real_deliveries_pass(
    throttle_window, client, world, listing_locks, monkeypatch, commit
):
    from portal.throttling import StrangerRateThrottle

    # DRF binds the rates to the throttle class when it is first imported.
    monkeypatch.setattr(
        StrangerRateThrottle,
        "THROTTLE_RATES",
        {**StrangerRateThrottle.THROTTLE_RATES, "anon": "2/min"},
    )
    codes = [
        client.post(f"/hooks/pms/guess-{i}/", b"{}", content_type="application/json").status_code
        for i in range(4)
    ]
    assert codes == [404, 404, 429, 429]
    # The same address (a PMS's shared sender) still delivers to a real URL, and a wrong
    # password on a real URL is a 401 every time, never an address-wide block.
    conn = make_connection(world, "hospitable")
    body = payload("hospitable", stay())
    assert [deliver(client, conn, body, secret="y" * 40).status_code for _ in range(3)] == [401] * 3
    with commit():
        assert deliver(client, conn, body).status_code == 202


@pytest.mark.django_db
def test_secret_is_encrypted_at_rest(world):
    conn = make_connection(world, "hostaway")
    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM bookings_pmsconnection WHERE id = %s", [conn.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc2:") and conn.secret not in stored
    assert PmsConnection.objects.get(pk=conn.pk).secret == conn.secret


@pytest.mark.django_db
def test_the_same_unreadable_body_again_is_still_400(client, world, listing_locks):
    conn = make_connection(world, "lodgify")
    body = b'{"action": "booking_change", "booking": {"id": 1}}'
    assert deliver(client, conn, body).status_code == 400
    again = deliver(client, conn, body)
    assert again.status_code == 400 and "property_id" in again.json()["detail"]
    assert PmsEvent.objects.count() == 1


@pytest.mark.django_db
def test_overlong_reservation_id_is_invalid_not_a_crash(client, world, listing_locks, commit):
    conn = make_connection(world, "guesty")
    with commit():
        answer = deliver(client, conn, payload("guesty", stay(id="r" * 200)))
    assert answer.status_code == 202
    event = PmsEvent.objects.get()
    assert event.outcome == "invalid" and "too long" in event.error
    assert not Booking.objects.exists()


@pytest.mark.django_db
def test_lodgify_batch_of_two_bookings(client, world, listing_locks, commit):
    import json

    from bookings.tests.pms_samples import lodgify

    conn = make_connection(world, "lodgify")
    body = json.dumps([lodgify(stay(id="1001")), lodgify(stay(id="1002", status="cancelled"))])
    with commit():
        assert deliver(client, conn, body.encode()).status_code == 202
    got = dict(Booking.objects.values_list("external_id", "status"))
    assert got == {"1001": "confirmed", "1002": "cancelled"}


@pytest.mark.django_db
def test_no_free_code_fails_the_event_with_the_reason(
    client, world, listing_locks, commit, monkeypatch
):
    from bookings import services as booking_services
    from bookings.codes import NoCodeAvailable

    # Exhausting a million-code space for real is not practical: the drawing itself is
    # replaced so that the permanent-failure path can be checked.
    def no_code(**kwargs):
        raise NoCodeAvailable("Could not find a free keypad code for this stay.")

    monkeypatch.setattr(booking_services, "_free_code", no_code)
    conn = make_connection(world, "hostaway")
    with commit():
        deliver(client, conn, payload("hostaway", stay()))
    event = PmsEvent.objects.get()
    assert event.outcome == "failed" and "free keypad code" in event.error
    assert not VirtualLockCode.objects.exists()


@pytest.mark.django_db
def test_non_utf8_body_is_400_and_kept(client, world, listing_locks):
    conn = make_connection(world, "smoobu")
    answer = deliver(client, conn, b'{"action": "newReservation", "data": "\xff\xfe"}')
    assert answer.status_code == 400 and "UTF-8" in answer.json()["detail"]
    assert PmsEvent.objects.get().outcome == "invalid"


@pytest.mark.django_db
def test_sweep_requeues_lost_events_and_gives_up_on_ones_that_keep_crashing(
    client, world, listing_locks, commit
):
    from django.utils import timezone

    conn = make_connection(world, "smoobu")
    deliver(client, conn, payload("smoobu", stay()))  # no commit: its message is "lost"
    event = PmsEvent.objects.get()
    assert event.outcome == "pending"
    later = timezone.now() + dt.timedelta(minutes=5)
    with commit():
        assert events_sweep(now=later) == 1
    event.refresh_from_db()
    assert event.outcome == "applied" and event.sweeps == 1
    assert VirtualLockCode.objects.filter(lock__in=listing_locks).count() == 2

    # An event whose processing keeps crashing is given up after a few sweeps.
    deliver(client, conn, payload("smoobu", stay(id="77")))
    stuck = PmsEvent.objects.get(external_id="77")
    PmsEvent.objects.filter(pk=stuck.pk).update(sweeps=5)
    events_sweep(now=later)
    stuck.refresh_from_db()
    assert stuck.outcome == "failed" and "kept failing" in stuck.error


@pytest.mark.django_db
def test_generic_json_may_name_the_property_by_id_like_the_bookings_api(
    client, world, prop, locks, commit
):
    conn = make_connection(world, "generic")
    with commit():
        deliver(client, conn, payload("generic", stay(listing=str(prop.pk))))
    assert booking_of(conn).property_id == prop.pk
    # Another organization's property id is not found: the event waits unmapped.
    theirs = property_create(organization=world.other_org, name="X", timezone="Europe/Vienna")
    with commit():
        deliver(client, conn, payload("generic", stay(id="other", listing=str(theirs.pk))))
    assert PmsEvent.objects.get(external_id="other").outcome == "unmapped"


@pytest.mark.django_db
@pytest.mark.parametrize("shape", ["unified", "payload-data", "legacy"])
def test_hostaway_reservation_shapes(shape):
    from bookings.pms.adapters import ADAPTERS
    from bookings.tests.pms_samples import hostaway

    body = hostaway(stay())
    if shape == "payload-data":
        body = {**body, "payload": {"data": body.pop("data")}}
    elif shape == "legacy":
        body = body["data"]
    (reservation,) = ADAPTERS["hostaway"].parse(body)
    assert (reservation.external_id, reservation.listing_id) == ("40123456", LISTING)
    assert reservation.check_in_time == dt.time(16) and reservation.paid is True


@pytest.mark.parametrize(
    ("kind", "times", "moments", "paid"),
    [
        ("hostaway", (dt.time(16), dt.time(10)), False, True),
        ("guesty", (None, None), True, True),
        ("smoobu", (dt.time(16), dt.time(10)), False, True),
        ("lodgify", (None, None), False, True),
        ("hospitable", (None, None), True, None),  # Hospitable says nothing about payment
        ("generic", (None, None), False, True),
    ],
)
def test_each_sample_payload_reads_as_the_pms_meant_it(kind, times, moments, paid):
    import json

    from bookings.pms.adapters import ADAPTERS

    (r,) = ADAPTERS[kind].parse(json.loads(payload(kind, stay(language="de"))))
    assert (r.external_id, r.listing_id, r.status) == ("40123456", LISTING, "confirmed")
    assert (r.check_in, r.check_out) == (days_from_now(1), days_from_now(3))
    assert (r.check_in_time, r.check_out_time) == times
    assert (r.check_in_at is not None, r.check_out_at is not None) == (moments, moments)
    if moments:
        assert r.check_in_at.date() == days_from_now(1)
    assert r.paid is paid
    assert r.guest_name == "Anna Gruber" and r.guest_email == "anna@example.com"
    assert r.version.startswith("t:") == (kind != "lodgify")  # Lodgify: receipt order
    (cancelled,) = ADAPTERS[kind].parse(
        json.loads(payload(kind, stay(status="cancelled"), update=True))
    )
    assert cancelled.status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_two_workers_on_the_same_reservation_at_once_end_right(concurrent_db, world, listing_locks):
    """Real PostgreSQL row locks, two threads: the same event twice and an older/newer pair of
    the same reservation, all at once. One application per event, the newest state wins."""
    import threading

    from django.db import connections

    from bookings.pms.services import event_process, event_receive

    conn = make_connection(world, "hostaway")
    bodies = [
        payload("hostaway", stay(check_out=days_from_now(5), modified=T0 + dt.timedelta(hours=1))),
        payload("hostaway", stay(modified=T0)),
    ]
    ids = []
    for body in bodies:
        event, _ = event_receive(
            key=conn.webhook_key, body=body, headers=signed_headers("hostaway", conn.secret, body)
        )
        ids.append(event.pk)
    results, barrier = [], threading.Barrier(4)

    def run(event_id):
        try:
            barrier.wait()
            results.append((event_id, event_process(event_id=event_id)))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in (ids[0], ids[0], ids[1], ids[1])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4
    outcomes = dict(PmsEvent.objects.values_list("pk", "outcome"))
    assert outcomes[ids[0]] == "applied"
    assert outcomes[ids[1]] in ("applied", "stale")  # applied only if it ran first
    booking = booking_of(conn)
    assert booking.check_out == days_from_now(5)
    assert Booking.objects.count() == 1
    assert AccessGrant.objects.filter(booking=booking, active=True).count() == 1
