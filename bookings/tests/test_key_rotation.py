"""Key rotation without loss (issue 12, item 2): the encryption key is a ring (newest encrypts,
every listed key decrypts), `manage.py rotate_secrets` re-encrypts every stored secret under the
newest key, and stay links and keyed digests carry a key id, so rotating SECRET_KEY or the
encryption key never breaks a link already in a guest's email."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets

import nacl.secret
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from bookings.ical.models import IcalFeed
from bookings.models import AccessGrant, BookingStatus, StayLink
from bookings.pms.models import PmsConnection
from bookings.services import BookingData, booking_upsert
from bookings.stay.access import OpenRefused, stay_doors, stay_open
from bookings.stay.links import stay_link_token, token_hash
from locks.models import Bridge, NukiWebConnection
from portal import crypto, key_rotation
from portal.key_rotation import encrypted_fields
from portal.testing import days_from_now

pytestmark = pytest.mark.django_db

OLD = secrets.token_urlsafe(32)
NEW = secrets.token_urlsafe(32)


def stay(world, prop, commit, external_id):
    with commit():
        booking, _, _ = booking_upsert(
            organization=world.org,
            source="api",
            data=BookingData(
                external_id=external_id,
                property=prop,
                status=BookingStatus.CONFIRMED,
                check_in=days_from_now(1),
                check_out=days_from_now(3),
                guest_name="Anna Gruber",
                guest_email="anna@example.com",
            ),
        )
    return AccessGrant.objects.get(booking=booking)


def raw_column(model, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {connection.ops.quote_name(column)} FROM "
            f"{connection.ops.quote_name(model._meta.db_table)} WHERE id = %s",
            [pk],
        )
        return cursor.fetchone()[0]


def set_raw_column(model, column: str, pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {connection.ops.quote_name(model._meta.db_table)} "
            f"SET {connection.ops.quote_name(column)} = %s WHERE id = %s",
            [value, pk],
        )


def legacy_encrypt(plain: str, material: str) -> str:
    """What portal.crypto wrote before key ids: `enc1:`, key derived from one string."""
    key = hashlib.sha256(b"latchkey-secrets:" + material.encode()).digest()
    sealed = nacl.secret.SecretBox(key).encrypt(plain.encode())
    return "enc1:" + base64.urlsafe_b64encode(bytes(sealed)).decode()


def legacy_token(nonce: str, material: str) -> str:
    """A stay link token as derived before key ids (same HMAC, key from one string)."""
    key = hashlib.sha256(b"latchkey-stay-link:" + material.encode()).digest()
    digest = hmac.new(key, nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@pytest.fixture
def stored_secrets(world, prop):
    """One row for every encrypted column of the portal, with the plaintext expected back."""
    bridge = Bridge.objects.create(organization=world.org, name="B", host="192.168.1.5")
    bridge.token = "bridge-token-1"
    bridge.save()
    nukiweb = NukiWebConnection.objects.create(
        organization=world.org,
        kind=NukiWebConnection.Kind.OAUTH,
        access_token="oauth-access-1",
        refresh_token="oauth-refresh-1",
        webhook_key="wk-1",
        webhook_secret="webhook-secret-1",
    )
    pms = PmsConnection.objects.create(
        organization=world.org, kind="generic", name="PMS", secret="pms-secret-1"
    )
    feed = IcalFeed.objects.create(
        organization=world.org,
        property=prop,
        url="https://calendar.example.com/feed.ics?s=credential",
        url_hash="h",
        url_masked="https://calendar.example.com/…",
    )
    expected = {
        (Bridge, "token", bridge.pk): "bridge-token-1",
        (NukiWebConnection, "access_token", nukiweb.pk): "oauth-access-1",
        (NukiWebConnection, "refresh_token", nukiweb.pk): "oauth-refresh-1",
        (NukiWebConnection, "webhook_secret", nukiweb.pk): "webhook-secret-1",
        (PmsConnection, "secret", pms.pk): "pms-secret-1",
        (IcalFeed, "url", feed.pk): "https://calendar.example.com/feed.ics?s=credential",
    }
    # Every encrypted column of every app is covered: a new one fails here until it is added.
    assert {(m._meta.label, f.name) for m, f in encrypted_fields()} == {
        (m._meta.label, name) for m, name, _ in expected
    }
    return expected


def test_rotate_then_every_secret_decrypts_and_every_old_link_opens(
    settings, world, prop, locks, commit, stored_secrets
):
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    for (model, name, pk), plain in stored_secrets.items():  # written under OLD
        model.objects.filter(pk=pk).update(**{name: plain})
        assert raw_column(model, name, pk).startswith(f"enc2:{crypto.key_id(OLD)}:")
    # A value stored before key ids, under the key derived from SECRET_KEY (today's data).
    legacy = Bridge.objects.create(organization=world.org, name="Old", host="192.168.1.6")
    set_raw_column(Bridge, "token", legacy.pk, legacy_encrypt("legacy-token", settings.SECRET_KEY))
    stored_secrets[(Bridge, "token", legacy.pk)] = "legacy-token"
    # A stay link from before key ids (SECRET_KEY-derived), and one made under OLD.
    legacy_grant = stay(world, prop, commit, "L-0")
    nonce = secrets.token_hex(16)
    legacy_link_token = legacy_token(nonce, settings.SECRET_KEY)
    StayLink.objects.update_or_create(
        grant=legacy_grant,
        defaults={
            "organization": world.org,
            "nonce": nonce,
            "token_hash": token_hash(legacy_link_token),
            "key_id": "",
        },
    )
    old_grant = stay(world, prop, commit, "L-1")
    old_token = stay_link_token(grant=old_grant)
    assert StayLink.objects.get(grant=old_grant).key_id == crypto.key_id(OLD)

    # Rotate: a new key in front, the old one still listed; then rotate_secrets.
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW, OLD]
    out = io.StringIO()
    call_command("rotate_secrets", "--batch-size", "2", stdout=out)
    report = out.getvalue()
    assert f"newest key: {crypto.key_id(NEW)}" in report
    assert "locks.Bridge.token: 2 re-encrypted" in report
    # Stay links are not re-keyed (that would break the links in the emails): the report says
    # which old keys they still need, the legacy one included (its key found and recorded).
    assert f"stay links: 1 still use key {crypto.key_id(OLD)}" in report
    assert f"stay links: 1 still use key {crypto.key_id(settings.SECRET_KEY)}" in report
    for (model, name, pk), plain in stored_secrets.items():
        assert raw_column(model, name, pk).startswith(f"enc2:{crypto.key_id(NEW)}:")
        assert getattr(model.objects.get(pk=pk), name) == plain

    # The old key can go now for every secret: all still decrypt under NEW alone.
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW]
    for (model, name, pk), plain in stored_secrets.items():
        assert getattr(model.objects.get(pk=pk), name) == plain

    # Old links (in the guests' emails) still open, and are still the link of their stay.
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW, OLD]
    client = Client()
    for grant, token in ((legacy_grant, legacy_link_token), (old_grant, old_token)):
        assert client.get(f"/stay/{token}/").status_code == 200
        assert stay_link_token(grant=grant) == token
    assert StayLink.objects.get(grant=legacy_grant).key_id == crypto.key_id(settings.SECRET_KEY)

    # A new stay's link uses the new key.
    new_grant = stay(world, prop, commit, "L-2")
    new_token = stay_link_token(grant=new_grant)
    assert StayLink.objects.get(grant=new_grant).key_id == crypto.key_id(NEW)
    assert client.get(f"/stay/{new_token}/").status_code == 200
    assert new_token not in (old_token, legacy_link_token)


def test_rotating_secret_key_keeps_links_and_secrets_outside_production(
    settings, world, prop, locks, commit
):
    """Without LATCHKEY_ENCRYPTION_KEY the ring is SECRET_KEY and its fallbacks."""
    first, second = secrets.token_urlsafe(50), secrets.token_urlsafe(50)
    settings.LATCHKEY_ENCRYPTION_KEYS = []
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = first, []
    grant = stay(world, prop, commit, "K-1")
    token = stay_link_token(grant=grant)
    pms = PmsConnection.objects.create(organization=world.org, kind="generic", name="P")
    secret = PmsConnection.objects.get(pk=pms.pk).secret

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = second, [first]
    assert PmsConnection.objects.get(pk=pms.pk).secret == secret
    assert stay_link_token(grant=grant) == token
    assert Client().get(f"/stay/{token}/").status_code == 200


def test_rotating_secret_key_changes_nothing_with_an_encryption_key(
    settings, world, prop, locks, commit
):
    """Production: secrets at rest and stay links hang on LATCHKEY_ENCRYPTION_KEY alone."""
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    grant = stay(world, prop, commit, "K-2")
    token = stay_link_token(grant=grant)
    pms = PmsConnection.objects.create(organization=world.org, kind="generic", name="P")
    secret = PmsConnection.objects.get(pk=pms.pk).secret
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = secrets.token_urlsafe(50), []
    assert PmsConnection.objects.get(pk=pms.pk).secret == secret
    assert stay_link_token(grant=grant) == token
    assert Client().get(f"/stay/{token}/").status_code == 200


def test_a_link_whose_key_was_dropped_is_issued_anew_under_the_newest(
    settings, world, prop, locks, commit
):
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    grant = stay(world, prop, commit, "K-3")
    token = stay_link_token(grant=grant)
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW]  # dropped too early
    fresh = stay_link_token(grant=grant)
    assert fresh != token
    assert StayLink.objects.get(grant=grant).key_id == crypto.key_id(NEW)
    assert Client().get(f"/stay/{fresh}/").status_code == 200
    assert stay_link_token(grant=grant) == fresh  # and stable again


def test_keyed_digests_carry_the_key_id_and_verify_after_rotation(settings):
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    stamped = crypto.stamped_digest("step-up-code", b"7:123456")
    assert stamped.startswith(crypto.key_id(OLD) + ":")
    bare = crypto.keyed_digest("step-up-code", b"7:123456").hex()  # stored before key ids
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW, OLD]
    assert crypto.verify_stamped_digest("step-up-code", b"7:123456", stamped)
    assert crypto.verify_stamped_digest("step-up-code", b"7:123456", bare)
    assert not crypto.verify_stamped_digest("step-up-code", b"7:654321", stamped)
    assert crypto.stamped_digest("step-up-code", b"7:123456").startswith(crypto.key_id(NEW))
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW]  # the key it names is gone: no match, no error
    assert not crypto.verify_stamped_digest("step-up-code", b"7:123456", stamped)


def test_check_mode_writes_nothing_and_a_dropped_key_fails_loudly(settings, world):
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    pms = PmsConnection.objects.create(organization=world.org, kind="generic", name="P")
    before = raw_column(PmsConnection, "secret", pms.pk)
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW, OLD]
    out = io.StringIO()
    call_command("rotate_secrets", "--check", stdout=out)
    assert "bookings.PmsConnection.secret: 1 to re-encrypt" in out.getvalue()
    assert raw_column(PmsConnection, "secret", pms.pk) == before
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(CommandError, match=r"bookings\.PmsConnection\.secret"):
        call_command("rotate_secrets", stdout=io.StringIO())
    assert raw_column(PmsConnection, "secret", pms.pk) == before  # left for the old key's return


def test_a_value_written_meanwhile_is_not_overwritten(settings, world, monkeypatch):
    """rotate_secrets writes back only if the row still holds the value it read."""
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    pms = PmsConnection.objects.create(
        organization=world.org, kind="generic", name="P", secret="s1"
    )
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW, OLD]
    field = PmsConnection._meta.get_field("secret")
    real_decrypt = crypto.decrypt

    def decrypt_while_a_worker_writes(stored):
        PmsConnection.objects.filter(pk=pms.pk).update(secret="s2")
        return real_decrypt(stored)

    monkeypatch.setattr(key_rotation, "decrypt", decrypt_while_a_worker_writes)
    report = key_rotation.rotate_field(model=PmsConnection, f=field)
    assert (report.rotated, report.current) == (0, 1)
    assert PmsConnection.objects.get(pk=pms.pk).secret == "s2"


def test_an_open_page_keeps_its_door_references_across_a_rotation(
    settings, world, prop, locks, commit
):
    """Door references on a page rendered before the rotation still name their doors."""
    settings.LATCHKEY_ENCRYPTION_KEYS = [OLD]
    grant = stay(world, prop, commit, "K-4")
    stay_link_token(grant=grant)
    link = StayLink.objects.get(grant=grant)
    before = {d.name: d.ref for d in stay_doors(link=link)}
    settings.LATCHKEY_ENCRYPTION_KEYS = [NEW, OLD]
    assert {d.name: d.ref for d in stay_doors(link=link)} != before  # new refs, new key
    for ref in before.values():
        with pytest.raises(OpenRefused) as refused:  # before the stay: refused, but known
            stay_open(link=link, door_ref=ref, answer=None, ip="192.0.2.1")
        assert refused.value.reason == "too_early"
    with pytest.raises(OpenRefused) as unknown:
        stay_open(link=link, door_ref="0" * 16, answer=None, ip="192.0.2.1")
    assert unknown.value.reason == "unknown_door"
