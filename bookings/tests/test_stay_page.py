"""The guest's stay page: the private link in the email, what the page shows (en/de, local
time, nothing of other stays), its expiry, and "Open the door" through the outbox and the
virtual lock's driver, with the stay window, the step-up policy, CSRF and rate limits."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import Client

from bookings.models import AccessGrant, BookingStatus, GuestEmail, StayLink, StepUpChallenge
from bookings.services import BookingData, booking_upsert
from bookings.stay.links import TOKEN_MARK, stay_link_token, token_hash
from locks.models import CommandKind, CommandStatus, Lock, LockCommand, LockEvent
from portal.testing import days_from_now

VIENNA = ZoneInfo("Europe/Vienna")
# Saturday 27 March 2027 to Monday 29 March 2027: the clocks go forward on the Sunday.
CHECK_IN, CHECK_OUT = dt.date(2027, 3, 27), dt.date(2027, 3, 29)
pytestmark = pytest.mark.django_db


def stay(world, prop, commit, **over):
    base = dict(
        external_id="S-1",
        property=prop,
        status=BookingStatus.CONFIRMED,
        check_in=CHECK_IN,
        check_out=CHECK_OUT,
        guest_name="Anna Gruber",
        guest_email="anna@example.com",
        guest_language="en",
    )
    base.update(over)
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org, source="api", data=BookingData(**base)
        )
    grant = AccessGrant.objects.get(booking=booking)
    return booking, grant, stay_link_token(grant=grant)


def local(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=VIENNA)


def lock_actions():
    return LockCommand.objects.filter(kind=CommandKind.LOCK_ACTION)


def door_refs(html: str) -> list[str]:
    return re.findall(r'name="door" value="([0-9a-f]+)"', html)


def open_door(client, token, html, *, index=0, **extra):
    return client.post(f"/stay/{token}/open/", {"door": door_refs(html)[index], **extra})


# --- The link -------------------------------------------------------------------------------


def test_guest_email_carries_the_link_and_no_copy_of_the_token_is_stored(
    world, prop, locks, commit
):
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id="E-1",
                property=prop,
                status=BookingStatus.CONFIRMED,
                check_in=days_from_now(0),
                check_out=days_from_now(2),
                guest_email="anna@example.com",
                guest_language="de",
            ),
        )
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    links = re.findall(r"http://localhost:8000/stay/([A-Za-z0-9_-]+)/", sent.body)
    assert len(links) == 1
    token = links[0]
    assert f"/stay/{token}/" in sent.alternatives[0][0]
    assert "Aufenthaltsseite" in sent.body
    # The stored copy has a placeholder; the database holds only the token's hash.
    stored = GuestEmail.objects.get(booking=booking)
    assert TOKEN_MARK in stored.body_text and token not in stored.body_text
    assert token not in stored.body_html
    link = StayLink.objects.get(grant__booking=booking)
    assert link.token_hash == token_hash(token) and token not in (link.nonce, link.token_hash)
    with connection.cursor() as cursor:
        for table in ("bookings_staylink", "bookings_guestemail", "bookings_accessgrant"):
            cursor.execute(f"SELECT * FROM {table}")
            assert token not in repr(cursor.fetchall()), table
    # The page opens with the emailed token; a resend of the email carries the same link.
    assert Client().get(f"/stay/{token}/").status_code == 200
    from bookings.emails import email_resend

    email_resend(email=stored)
    assert f"/stay/{token}/" in mail.outbox[-1].body


def test_tokens_are_long_random_and_one_per_stay(world, prop, locks, commit):
    _, grant_a, token_a = stay(world, prop, commit)
    _, _grant_b, token_b = stay(
        world,
        prop,
        commit,
        external_id="S-2",
        check_in=CHECK_OUT,
        check_out=CHECK_OUT + dt.timedelta(days=2),
    )
    assert token_a != token_b
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token_a)  # 256 bits
    assert stay_link_token(grant=grant_a) == token_a  # stable: every email has the same link
    assert StayLink.objects.count() == 2
    client = Client()
    # A near miss, a truncated token, and junk all answer 404, in the same words.
    near = token_a[:-1] + ("A" if token_a[-1] != "A" else "B")
    for guess in (near, token_a[:20], "x" * 43):
        response = client.get(f"/stay/{guess}/")
        assert response.status_code == 404
        assert "Anna" not in response.content.decode()


def test_cancelled_stay_kills_the_link_and_a_new_one_is_issued(world, prop, locks, commit):
    _booking, grant, token = stay(world, prop, commit)
    stay(world, prop, commit, status=BookingStatus.CANCELLED)
    assert Client().get(f"/stay/{token}/").status_code == 404
    # Confirmed again: the old link stays dead, a new token is issued for the new emails.
    stay(world, prop, commit)
    grant.refresh_from_db()
    assert grant.active
    assert Client().get(f"/stay/{token}/").status_code == 404
    fresh = stay_link_token(grant=grant)
    assert fresh != token
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        assert Client().get(f"/stay/{fresh}/").status_code == 200


# --- What the page shows --------------------------------------------------------------------


def test_page_in_english_shows_code_local_times_address_and_nothing_else(
    world, prop, locks, commit
):
    _, grant, token = stay(world, prop, commit)
    # Another guest's stay at the same flat must not show up.
    _, other, _ = stay(
        world,
        prop,
        commit,
        external_id="S-2",
        guest_name="Zoe Other",
        check_in=CHECK_OUT,
        check_out=CHECK_OUT + dt.timedelta(days=2),
    )
    with time_machine.travel(local(2027, 3, 26, 10, 0)):
        response = Client().get(f"/stay/{token}/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<html lang="en">' in html
    assert grant.code in html and other.code not in html and "Zoe" not in html
    # Local time in Vienna: 15:00 CET on arrival, 11:00 CEST on departure (UTC 14:00, 09:00).
    assert "Saturday, 27 March 2027, 15:00" in html
    assert "Monday, 29 March 2027, 11:00" in html
    assert "Europe/Vienna" in html
    assert "Main Street 1" in html and "Second floor." in html
    # Landmarks and private headers; no lock ids, no organization.
    assert "<main" in html and 'role="banner"' in html and 'role="contentinfo"' in html
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert world.org.name not in html
    for lock in locks:
        assert f'value="{lock.pk}"' not in html
    # Before the stay: no button yet, a sentence saying from when.
    assert "Open Flat door" not in html and "also open the door from this page" in html


def test_page_in_german(world, prop, locks, commit):
    _, grant, token = stay(world, prop, commit, guest_language="de")
    with time_machine.travel(local(2027, 3, 27, 18, 0)):
        response = Client().get(f"/stay/{token}/")
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert grant.code in html
    assert "Samstag, 27. März 2027, 15:00 Uhr" in html
    assert "Montag, 29. März 2027, 11:00 Uhr" in html
    assert "Ihr Türcode" in html and "Hinweise zum Haus" in html
    assert "Flat door öffnen" in html and "Building door öffnen" in html
    # The guest can switch language.
    with time_machine.travel(local(2027, 3, 27, 18, 0)):
        english = Client().get(f"/stay/{token}/?lang=en").content.decode()
    assert "Saturday, 27 March 2027, 15:00" in english


def test_link_expires_after_check_out_plus_grace(world, prop, locks, commit, settings):
    settings.LATCHKEY_STAY_LINK_GRACE_HOURS = 6
    _, grant, token = stay(world, prop, commit, guest_language="de")
    with time_machine.travel(grant.valid_until + dt.timedelta(hours=1)):
        during_grace = Client().get(f"/stay/{token}/")
    html = during_grace.content.decode()
    assert during_grace.status_code == 200
    assert grant.code not in html and "zu Ende" in html and "öffnen</button>" not in html
    with time_machine.travel(grant.valid_until + dt.timedelta(hours=6, minutes=1)):
        gone = Client().get(f"/stay/{token}/")
    assert gone.status_code == 410
    assert grant.code not in gone.content.decode() and "abgelaufen" in gone.content.decode()


# --- Open the door --------------------------------------------------------------------------


def test_open_within_the_stay_goes_through_the_driver_and_is_logged(world, prop, locks, commit):
    _, grant, token = stay(world, prop, commit)
    client = Client(enforce_csrf_checks=True)
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        page = client.get(f"/stay/{token}/")
        html = page.content.decode()
        ref = door_refs(html)[1]  # doors by name: Building door, Flat door
        # Without the CSRF token: refused, nothing queued.
        assert client.post(f"/stay/{token}/open/", {"door": ref}).status_code == 403
        assert not lock_actions().exists()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
        with commit():
            response = client.post(
                f"/stay/{token}/open/", {"door": ref, "csrfmiddlewaretoken": csrf}
            )
        assert response.status_code == 303
        command = lock_actions().get()
        flat = locks[1]
        assert command.lock_id == flat.pk and command.payload == {"action": "unlatch"}
        assert command.status == CommandStatus.SUCCEEDED
        flat.refresh_from_db()
        assert flat.state == "unlocked"
        # Logged twice: the guest's request (who, how) and the lock's own report.
        asked = LockEvent.objects.get(lock=flat, kind="guest_open")
        assert asked.source == "stay_page"
        assert asked.detail["holder"] == grant.holder and asked.detail["command"] == command.pk
        assert "Anna Gruber" in asked.message
        assert LockEvent.objects.filter(lock=flat, kind="lock_action", source="virtual").exists()
        assert not LockEvent.objects.filter(lock=locks[0]).exclude(kind__startswith="code").exists()
        result = client.get(response["Location"])
    assert result.status_code == 200
    assert "Flat door is open" in result.content.decode()


@pytest.mark.parametrize(
    ("moment", "words"),
    [
        (local(2027, 3, 27, 14, 59), "from the start of your stay, Saturday, 27 March 2027, 15:00"),
        (local(2027, 3, 29, 11, 0), "Your stay has ended"),
    ],
)
def test_open_outside_the_stay_is_refused_and_nothing_reaches_the_lock(
    world, prop, locks, commit, moment, words
):
    _, _, token = stay(world, prop, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        html = client.get(f"/stay/{token}/").content.decode()
    with time_machine.travel(moment), commit():
        response = open_door(client, token, html)
    assert response.status_code == 403
    assert words in response.content.decode()
    assert not lock_actions().exists()
    assert {lock.state for lock in Lock.objects.filter(pk__in=[lk.pk for lk in locks])} == {
        "unknown"
    }
    refused = LockEvent.objects.get(kind="guest_open_refused")
    assert refused.detail["reason"] in ("too_early", "too_late")


def test_a_door_of_another_stay_cannot_be_opened(world, prop, locks, commit):
    _, _, token_a = stay(world, prop, commit)
    from locks.services import lock_create
    from properties.services import property_create

    other_prop = property_create(organization=world.org, name="Other", timezone="Europe/Vienna")
    lock_create(organization=world.org, property=other_prop, name="Other door", driver="virtual")
    _, _, token_b = stay(world, other_prop, commit, external_id="S-9")
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        html_b = Client().get(f"/stay/{token_b}/").content.decode()
        response = open_door(Client(), token_a, html_b)  # B's door reference on A's link
    assert response.status_code == 404
    assert not lock_actions().exists()


def test_a_lock_that_did_not_answer_is_explained_in_plain_words(world, prop, locks, commit):
    flat = locks[1]
    _, _, token = stay(world, prop, commit)
    flat.config = {"offline": True}
    flat.save()
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 16, 0), tick=False) as traveller:
        html = client.get(f"/stay/{token}/").content.decode()
        with commit():
            response = open_door(client, token, html, index=1)
        command = lock_actions().get()
        pending = client.get(response["Location"]).content.decode()
        assert "Opening Flat door" in pending and 'http-equiv="refresh"' in pending
        # The runner retries a remote action briefly (the worker would, after its backoff).
        from locks.sync.runner import command_run

        for _ in range(5):
            traveller.shift(dt.timedelta(seconds=3))
            with commit():
                command_run(command_id=command.pk)
        command.refresh_from_db()
        assert command.status == CommandStatus.FAILED
        result = client.get(response["Location"]).content.decode()
    assert "Flat door could not be opened: the lock did not answer" in result
    assert "offline" not in result  # the manager's technical reason stays with the manager


def test_doors_without_remote_actions_get_no_button(world, prop, commit):
    from locks.integrations.base import Capability
    from locks.integrations.registry import register, unregister
    from locks.integrations.virtual.driver import VirtualDriver
    from locks.services import lock_create

    class KeypadOnly(VirtualDriver):
        kind = "keypad_only_test"
        capabilities = frozenset({Capability.CODES})

    register(KeypadOnly)
    try:
        lock_create(organization=world.org, property=prop, name="Keypad", driver=KeypadOnly.kind)
        _, grant, token = stay(world, prop, commit)
        with time_machine.travel(local(2027, 3, 27, 16, 0)):
            html = Client().get(f"/stay/{token}/").content.decode()
    finally:
        unregister(KeypadOnly.kind)
    assert grant.code in html
    assert "Open the door" not in html and not door_refs(html)


# --- Step-up --------------------------------------------------------------------------------


@pytest.fixture
def night_policy(prop):
    prop.step_up_verifier = "email_code"
    prop.step_up_from, prop.step_up_until = dt.time(22, 0), dt.time(6, 0)
    prop.save()
    return prop


def emailed_code() -> str:
    body = mail.outbox[-1].body
    return re.search(r"^(\d{6})$", body, re.M).group(1)


def test_at_night_the_door_opens_only_with_the_emailed_code(world, night_policy, locks, commit):
    _, grant, token = stay(world, night_policy, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 23, 30)):
        html = client.get(f"/stay/{token}/").content.decode()
        assert "Between 22:00 and 06:00, we email you a confirmation code" in html
        sent_before = len(mail.outbox)
        asked = open_door(client, token, html, index=1)
        assert asked.status_code == 200
        assert "We sent a six-digit code to a***@example.com" in asked.content.decode()
        assert len(mail.outbox) == sent_before + 1
        assert mail.outbox[-1].to == ["anna@example.com"]
        code = emailed_code()
        assert not lock_actions().exists()
        challenge = StepUpChallenge.objects.get(grant=grant)
        assert code not in (challenge.secret_hash, repr(challenge.data))
        kid, _, digest = challenge.secret_hash.partition(":")  # the key's id, then the HMAC
        assert len(kid) == 8 and len(digest) == 64
        # Wrong code: refused, counted, nothing sent to the lock.
        wrong = "000000" if code != "000000" else "111111"
        refused = open_door(client, token, html, index=1, answer=wrong)
        assert refused.status_code == 403
        assert "That code is not right. You can try 4 more time(s)." in refused.content.decode()
        assert not lock_actions().exists()
        assert LockEvent.objects.filter(kind="guest_open_refused").count() == 1
        # Right code: opens, and the event says how the guest was verified.
        with commit():
            opened = open_door(client, token, html, index=1, answer=code)
        assert opened.status_code == 303
        assert lock_actions().get().status == CommandStatus.SUCCEEDED
        assert LockEvent.objects.get(kind="guest_open").detail["step_up"] == "email_code"
        # A code opens once.
        again = open_door(client, token, html, index=1, answer=code)
        assert again.status_code == 403 and lock_actions().count() == 1


def test_by_day_no_step_up_is_asked(world, night_policy, locks, commit):
    _, _, token = stay(world, night_policy, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 28, 12, 0)), commit():
        html = client.get(f"/stay/{token}/").content.decode()
        sent = len(mail.outbox)
        assert open_door(client, token, html).status_code == 303
    assert len(mail.outbox) == sent and lock_actions().count() == 1


def test_step_up_code_expires_and_wrong_answers_run_out(world, night_policy, locks, commit):
    _, _, token = stay(world, night_policy, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 23, 0), tick=False) as traveller:
        html = client.get(f"/stay/{token}/").content.decode()
        open_door(client, token, html)
        code = emailed_code()
        traveller.shift(dt.timedelta(minutes=11))
        late = open_door(client, token, html, answer=code)
        assert late.status_code == 403 and "expired" in late.content.decode()
        open_door(client, token, html)  # a new code
        code = emailed_code()
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            open_door(client, token, html, answer=wrong)
        after = open_door(client, token, html, answer=code)
        assert after.status_code == 403
    assert not lock_actions().exists()
    assert list(StepUpChallenge.objects.values_list("status", flat=True).order_by("pk")) == [
        "failed",
        "failed",
    ]


def test_a_new_code_replaces_the_previous_one(world, night_policy, locks, commit):
    _, _, token = stay(world, night_policy, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 28, 1, 0)):
        html = client.get(f"/stay/{token}/").content.decode()
        open_door(client, token, html)
        first = emailed_code()
        open_door(client, token, html)
        second = emailed_code()
        if first != second:
            assert open_door(client, token, html, answer=first).status_code == 403
        with commit():
            assert open_door(client, token, html, answer=second).status_code == 303


def test_no_email_address_means_no_opening_at_night(world, night_policy, locks, commit):
    _, _, token = stay(world, night_policy, commit, guest_email="")
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 23, 0)):
        html = client.get(f"/stay/{token}/").content.decode()
        response = open_door(client, token, html)
    assert response.status_code == 503
    assert "we have no email address for you" in response.content.decode()
    assert not lock_actions().exists()


def test_an_external_verifier_plugs_in(world, prop, locks, commit):
    """A stand-in for an external provider (biometric, SMS) that cannot run here: it speaks
    the same interface, and the page uses whatever the property names."""
    from portal import verifiers
    from portal.verifiers import Prompt

    class FaceCheck:
        name = "face_check_test"
        label = "Face check"

        def start(self, challenge):
            challenge.data = {"session": f"s-{challenge.pk}"}
            return Prompt(url=f"https://verifier.invalid/{challenge.pk}")

        def check(self, challenge, answer):
            return answer == f"ok-{challenge.data['session']}"

    verifiers.register(FaceCheck())
    try:
        prop.step_up_verifier = "face_check_test"
        prop.save()  # no times: always
        _, _grant, token = stay(world, prop, commit)
        client = Client()
        with time_machine.travel(local(2027, 3, 27, 12 + 4, 0)):
            html = client.get(f"/stay/{token}/").content.decode()
            started = open_door(client, token, html).content.decode()
            challenge = StepUpChallenge.objects.get()
            assert f"https://verifier.invalid/{challenge.pk}" in started
            assert open_door(client, token, html, answer="nope").status_code == 403
            with commit():
                ok = open_door(client, token, html, answer=f"ok-s-{challenge.pk}")
            assert ok.status_code == 303
    finally:
        verifiers._VERIFIERS.pop("face_check_test")
    assert LockEvent.objects.get(kind="guest_open").detail["step_up"] == "face_check_test"


def test_step_up_policy_follows_local_wall_clock():
    from properties.models import Property

    prop = Property(
        timezone="Europe/Vienna",
        step_up_verifier="email_code",
        step_up_from=dt.time(22, 0),
        step_up_until=dt.time(6, 0),
    )
    assert prop.step_up_required(local(2027, 3, 27, 22, 0))
    assert prop.step_up_required(local(2027, 3, 28, 5, 59))
    assert not prop.step_up_required(local(2027, 3, 28, 6, 0))
    assert not prop.step_up_required(local(2027, 3, 28, 21, 59))
    # 21:30 UTC is 23:30 in Vienna in summer: judged by the local clock.
    assert prop.step_up_required(dt.datetime(2027, 7, 1, 21, 30, tzinfo=dt.UTC))
    prop.step_up_from, prop.step_up_until = dt.time(9, 0), dt.time(17, 0)
    assert prop.step_up_required(local(2027, 3, 28, 12, 0))
    assert not prop.step_up_required(local(2027, 3, 28, 18, 0))
    prop.step_up_from = prop.step_up_until = None
    assert prop.step_up_required(local(2027, 3, 28, 18, 0))  # no times: always
    prop.step_up_verifier = ""
    assert not prop.step_up_required(local(2027, 3, 28, 23, 0))


def test_step_up_policy_in_the_properties_api(world, prop):
    api = world.api(world.write_key)
    url = f"/api/v1/properties/{prop.pk}/"
    bad = api.patch(url, {"step_up_verifier": "carrier_pigeon"}, format="json")
    assert bad.status_code == 400 and "step_up_verifier" in bad.json()
    half = api.patch(
        url, {"step_up_verifier": "email_code", "step_up_from": "22:00"}, format="json"
    )
    assert half.status_code == 400 and "step_up_until" in half.json()
    prop.refresh_from_db()
    assert prop.step_up_verifier == "" and prop.step_up_from is None  # nothing changed
    ok = api.patch(
        url,
        {
            "step_up_verifier": "email_code",
            "step_up_from": "22:00",
            "step_up_until": "06:00",
            "address": "Hauptstraße 5\n1010 Wien",
            "house_instructions": "Shoes off.",
        },
        format="json",
    )
    assert ok.status_code == 200, ok.content
    body = ok.json()
    assert (body["step_up_verifier"], body["step_up_from"], body["step_up_until"]) == (
        "email_code",
        "22:00:00",
        "06:00:00",
    )
    assert body["address"].startswith("Hauptstraße") and body["house_instructions"] == "Shoes off."


# --- Rate limits ----------------------------------------------------------------------------


def test_opening_is_rate_limited_per_link(world, prop, locks, commit, settings):
    settings.LATCHKEY_STAY_OPEN_RATE = "2/h"
    _, _, token = stay(world, prop, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        html = client.get(f"/stay/{token}/").content.decode()
        with commit():
            assert open_door(client, token, html).status_code == 303
            assert open_door(client, token, html).status_code == 303
            limited = open_door(client, token, html)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert lock_actions().count() == 2


def test_opening_is_rate_limited_per_address(world, prop, locks, commit, settings):
    settings.LATCHKEY_STAY_IP_RATE = "2/h"
    _, _, token_a = stay(world, prop, commit)
    _, _, token_b = stay(world, prop, commit, external_id="S-2")
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        html_a = Client().get(f"/stay/{token_a}/").content.decode()
        html_b = Client().get(f"/stay/{token_b}/").content.decode()
        with commit():
            assert open_door(Client(), token_a, html_a).status_code == 303
            assert open_door(Client(), token_b, html_b).status_code == 303
            assert open_door(Client(), token_b, html_b).status_code == 429
            other_address = Client(REMOTE_ADDR="10.9.9.9")
            assert open_door(other_address, token_a, html_a).status_code == 303


def test_guessing_links_is_rate_limited(world, prop, locks, commit, settings):
    settings.LATCHKEY_STAY_MISS_RATE = "3/h"
    _, _, token = stay(world, prop, commit)
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        assert client.get(f"/stay/{token}/").status_code == 200  # hits do not count
        statuses = [client.get(f"/stay/{'a' * 42}{i}/").status_code for i in range(4)]
        assert statuses == [404, 404, 404, 429]
        assert client.get(f"/stay/{'b' * 43}/").status_code == 429  # still guessing: still 429
        assert Client(REMOTE_ADDR="10.1.2.3").get(f"/stay/{'c' * 43}/").status_code == 404


def test_a_stranger_guessing_from_the_guests_address_does_not_lock_the_guest_out(
    world, prop, locks, commit, settings
):
    # The guest and the stranger share an address (the same Wi-Fi, or a proxy in front).
    settings.LATCHKEY_STAY_MISS_RATE = "3/h"
    _, _, token = stay(world, prop, commit)
    stranger, guest = Client(REMOTE_ADDR="192.0.2.7"), Client(REMOTE_ADDR="192.0.2.7")
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        for i in range(10):
            stranger.get(f"/stay/{'a' * 42}{i}/")
        assert stranger.get(f"/stay/{'a' * 43}/").status_code == 429
        page = guest.get(f"/stay/{token}/")
        assert page.status_code == 200
        with commit():
            assert open_door(guest, token, page.content.decode()).status_code == 303
    assert lock_actions().count() == 1


def test_a_link_is_rate_limited_per_link_from_any_address(world, prop, locks, commit, settings):
    settings.LATCHKEY_STAY_VIEW_RATE = "3/h"
    _, _, token = stay(world, prop, commit)
    _, _, other = stay(world, prop, commit, external_id="S-2")
    with time_machine.travel(local(2027, 3, 27, 16, 0)):
        statuses = [
            Client(REMOTE_ADDR=f"10.0.0.{i}").get(f"/stay/{token}/").status_code for i in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        assert Client(REMOTE_ADDR="10.0.0.1").get(f"/stay/{other}/").status_code == 200


def test_an_opening_no_worker_ran_is_reported_as_failed_not_pending_for_ever(
    world, prop, locks, commit
):
    _, _, token = stay(world, prop, commit)
    _, _, other_token = stay(world, prop, commit, external_id="S-2")
    client = Client()
    with time_machine.travel(local(2027, 3, 27, 16, 0), tick=False) as traveller:
        html = client.get(f"/stay/{token}/").content.decode()
        response = open_door(client, token, html)  # not committed: no worker runs it
        assert lock_actions().get().status == CommandStatus.PENDING
        location = response["Location"]
        assert "Opening Building door" in client.get(location).content.decode()
        # The reference is bound to its link: another stay's link cannot read it.
        assert client.get(location.replace(token, other_token)).status_code == 404
        traveller.shift(dt.timedelta(seconds=80))
        late = client.get(location).content.decode()
    assert "Building door could not be opened" in late and 'http-equiv="refresh"' not in late


def test_a_stay_confirmed_again_after_cancelling_gets_an_email_with_the_new_link(
    world, prop, locks, commit
):
    def upsert(status):
        with commit():
            booking_upsert(
                organization=world.org,
                source="api",
                data=BookingData(
                    external_id="R-1",
                    property=prop,
                    status=status,
                    check_in=days_from_now(0),
                    check_out=days_from_now(2),
                    guest_email="anna@example.com",
                ),
            )

    def link_in(message):
        return re.search(r"/stay/([A-Za-z0-9_-]{43})/", message.body).group(1)

    upsert(BookingStatus.CONFIRMED)
    assert len(mail.outbox) == 1
    first = link_in(mail.outbox[0])
    upsert(BookingStatus.CANCELLED)
    assert Client().get(f"/stay/{first}/").status_code == 404
    upsert(BookingStatus.CONFIRMED)  # same dates: only the link is new
    assert len(mail.outbox) == 2
    second = link_in(mail.outbox[1])
    assert second != first
    assert Client().get(f"/stay/{second}/").status_code == 200
    assert Client().get(f"/stay/{first}/").status_code == 404
    upsert(BookingStatus.CONFIRMED)  # a replay sends nothing more
    assert len(mail.outbox) == 2
