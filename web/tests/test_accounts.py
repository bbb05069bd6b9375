"""Accounts: re-authentication before API keys, invitations, role changes and member removal;
invitations by stored single-use link (listed, withdrawn, dead once the member is removed),
roles, password reset (throttled, silent about unknown addresses), the org switcher."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from portal.invitations import invitation_create
from portal.models import ApiKey, Invitation, Membership, Organization, Role
from portal.services import organization_create

pytestmark = pytest.mark.django_db
OWNER_PW = "pw-owner-accounts-1"


def url(name, world, **kw):
    return reverse(name, kwargs={"slug": world.org.slug, **kw})


@pytest.fixture
def owner(client, world):
    world.owner.set_password(OWNER_PW)
    world.owner.save()
    client.force_login(world.owner)
    return client


def confirm(client):
    """Re-enter the password (the sudo window opens for 10 minutes)."""
    assert client.post(reverse("sudo"), {"password": OWNER_PW}).status_code == 302


def _outside_the_window(client):
    session = client.session
    session.pop("sudo_until", None)
    session.save()


def test_api_key_needs_the_password_again(owner, world):
    before = ApiKey.objects.count()
    res = owner.post(url("api-key-new", world), {"name": "PMS", "scope": "write"})
    assert res.status_code == 302 and res["Location"].startswith(reverse("sudo"))
    assert ApiKey.objects.count() == before  # nothing created without re-authentication
    wrong = owner.post(res["Location"], {"password": "nope", "next": url("api-key-new", world)})
    assert wrong.status_code == 200 and "not your password" in wrong.content.decode()
    ok = owner.post(reverse("sudo"), {"password": OWNER_PW, "next": url("api-key-new", world)})
    assert ok.status_code == 302 and ok["Location"] == url("api-key-new", world)
    created = owner.post(url("api-key-new", world), {"name": "PMS", "scope": "write"})
    assert created["Cache-Control"] == "no-store"
    raw = re.search(r'value="(lk_[^"]+)"', created.content.decode()).group(1)
    key = ApiKey.objects.get(name="PMS")
    assert key.matches(raw) and key.scope == "write"
    assert raw not in owner.get(url("settings", world)).content.decode()  # shown once
    owner.post(url("api-key-revoke", world, pk=key.pk))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert world.api(raw).get("/api/v1/properties/").status_code == 401


def test_sudo_next_stays_on_this_site(owner):
    res = owner.post(reverse("sudo"), {"password": OWNER_PW, "next": "https://evil.test/x"})
    assert res["Location"] == "/"


def test_sudo_signs_out_after_repeated_wrong_passwords(owner):
    for _ in range(5):
        res = owner.post(reverse("sudo"), {"password": "wrong"})
    assert res.status_code == 302 and res["Location"] == reverse("login")
    assert owner.get(reverse("sudo")).status_code == 302  # signed out


def test_members_roles_and_removal(owner, world, client):
    viewer = Membership.objects.get(organization=world.org, user=world.viewer)
    confirm(owner)
    owner.post(url("member-role", world, pk=viewer.pk), {"role": "manager"})
    viewer.refresh_from_db()
    assert viewer.role == Role.MANAGER
    me = Membership.objects.get(organization=world.org, user=world.owner)
    owner.post(url("member-role", world, pk=me.pk), {"role": "viewer"})
    me.refresh_from_db()
    assert me.role == Role.OWNER  # the last owner stays owner

    _outside_the_window(owner)
    remove = url("member-remove", world, pk=viewer.pk)
    assert owner.post(remove)["Location"].startswith(reverse("sudo"))
    assert Membership.objects.filter(pk=viewer.pk).exists()
    owner.post(reverse("sudo"), {"password": OWNER_PW})
    assert owner.get(remove).status_code == 200  # the confirmation page
    owner.post(remove)
    assert not Membership.objects.filter(pk=viewer.pk).exists()


def test_inviting_changing_roles_and_revoking_keys_need_the_password_again(owner, world):
    """Each answers with the password page and changes nothing; after it, the same POST works.
    The password page leads back to Settings (a POST is never replayed)."""
    viewer = Membership.objects.get(organization=world.org, user=world.viewer)
    key = ApiKey.objects.filter(organization=world.org, revoked_at__isnull=True).first()
    invite = owner.post(url("member-invite", world), {"email": "n@x.test", "role": "owner"})
    role = owner.post(url("member-role", world, pk=viewer.pk), {"role": "owner"})
    revoke = owner.post(url("api-key-revoke", world, pk=key.pk))
    for res in (invite, role, revoke):
        assert res.status_code == 302 and res["Location"].startswith(reverse("sudo")), res
        assert "next=%2Fo%2F" + world.org.slug + "%2Fsettings%2F" in res["Location"]
    assert not mail.outbox and not Invitation.objects.exists()
    viewer.refresh_from_db()
    key.refresh_from_db()
    assert viewer.role == Role.VIEWER and key.revoked_at is None
    confirm(owner)
    owner.post(url("member-invite", world), {"email": "n@x.test", "role": "owner"})
    owner.post(url("member-role", world, pk=viewer.pk), {"role": "manager"})
    owner.post(url("api-key-revoke", world, pk=key.pk))
    viewer.refresh_from_db()
    key.refresh_from_db()
    assert len(mail.outbox) == 1 and Invitation.objects.filter(email="n@x.test").exists()
    assert viewer.role == Role.MANAGER and key.revoked_at is not None


def _link(message) -> str:
    return re.search(r"http://testserver(/invitations/[^/\s]+/)", message.body).group(1)


def test_invitation_new_account(owner, world, client):
    confirm(owner)
    res = owner.post(url("member-invite", world), {"email": "New@Example.com", "role": "viewer"})
    assert res.status_code == 302
    link = re.search(r"http://testserver(/invitations/[^/\s]+/)", mail.outbox[-1].body).group(1)
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and "new@example.com" in page.content.decode()
    short = client.post(link, {"password": "short"})
    assert short.status_code == 200
    assert not get_user_model().objects.filter(username="new@example.com").exists()
    res = client.post(link, {"password": "a-long-password-1"})
    assert res.status_code == 302 and res["Location"] == url("dashboard", world)
    m = Membership.objects.get(organization=world.org, user__username="new@example.com")
    assert m.role == Role.VIEWER
    assert client.get(url("dashboard", world)).status_code == 200  # signed in


def test_invitation_checks_token_expiry_and_address(client, world, settings):
    _, token = invitation_create(organization=world.org, email="x@example.com", role="owner")
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert client.get(reverse("invitation", kwargs={"token": forged})).status_code == 404
    assert client.get(reverse("invitation", kwargs={"token": token})).status_code == 200
    # Signed in as someone else: refused, no membership.
    client.force_login(world.outsider)
    res = client.post(reverse("invitation", kwargs={"token": token}))
    assert "another address" in res.content.decode()
    assert not Membership.objects.filter(organization=world.org, user=world.outsider).exists()
    # Expired (seven days).
    import time_machine

    with time_machine.travel("2099-01-01"):
        assert client.get(reverse("invitation", kwargs={"token": token})).status_code == 404


def test_invitation_is_single_use_and_dead_once_the_member_is_removed(owner, world):
    """The probe: accept, get removed, open the same link again. It must not let them back."""
    from django.test import Client

    client = Client()  # the invitee's browser (the `owner` fixture is the owner's)
    confirm(owner)
    owner.post(url("member-invite", world), {"email": "temp@x.test", "role": "manager"})
    link = _link(mail.outbox[-1])
    stored = Invitation.objects.get(email="temp@x.test")
    token = link.split("/")[2]
    assert token not in {stored.token_hash, str(stored.pk)}  # only its hash is kept
    client.post(link, {"password": "a-long-password-1"})
    member = Membership.objects.get(organization=world.org, user__username="temp@x.test")
    stored.refresh_from_db()
    assert stored.accepted_at is not None and stored.accepted_by_id == member.user_id
    assert client.get(link).status_code == 404  # consumed
    owner.post(url("member-remove", world, pk=member.pk))
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert client.get(link).status_code == 404
    assert client.post(link).status_code == 404
    assert not Membership.objects.filter(organization=world.org, user=member.user).exists()


def test_pending_invitations_are_listed_and_can_be_withdrawn(owner, world):
    from django.test import Client

    client = Client()  # the invitee's browser
    confirm(owner)
    owner.post(url("member-invite", world), {"email": "wait@x.test", "role": "viewer"})
    link = _link(mail.outbox[-1])
    inv = Invitation.objects.get(email="wait@x.test")
    settings_page = owner.get(url("settings", world)).content.decode()
    assert "wait@x.test" in settings_page
    assert url("invitation-withdraw", world, pk=inv.pk) in settings_page
    _outside_the_window(owner)
    res = owner.post(url("invitation-withdraw", world, pk=inv.pk))
    assert res["Location"].startswith(reverse("sudo"))
    assert client.get(link).status_code == 200  # still pending without the password
    confirm(owner)
    owner.post(url("invitation-withdraw", world, pk=inv.pk))
    assert client.get(link).status_code == 404
    assert "wait@x.test" not in owner.get(url("settings", world)).content.decode()
    # A member cannot withdraw (owners only).
    client.force_login(world.member)
    again, _ = invitation_create(organization=world.org, email="w2@x.test", role="viewer")
    assert client.post(url("invitation-withdraw", world, pk=again.pk)).status_code == 403


def test_a_new_invitation_replaces_the_pending_one(client, world):
    _, first = invitation_create(organization=world.org, email="twice@x.test", role="viewer")
    _, second = invitation_create(organization=world.org, email="twice@x.test", role="manager")
    assert client.get(reverse("invitation", kwargs={"token": first})).status_code == 404
    assert client.get(reverse("invitation", kwargs={"token": second})).status_code == 200


def test_removing_an_owner_kills_the_invitations_they_sent(owner, world, client):
    from portal.services import membership_add, membership_remove

    second = membership_add(organization=world.org, user=world.member, role=Role.OWNER)
    inv, token = invitation_create(
        organization=world.org, email="friend@x.test", role="owner", invited_by=world.member
    )
    membership_remove(membership=second)
    assert client.get(reverse("invitation", kwargs={"token": token})).status_code == 404
    inv.refresh_from_db()
    assert inv.revoked_at is not None


def test_only_owners_invite(client, world):
    client.force_login(world.member)
    res = client.post(url("member-invite", world), {"email": "a@b.test", "role": "owner"})
    assert res.status_code == 403 and not mail.outbox


def test_password_reset_is_throttled_and_silent(throttle_window, client, world):
    res = client.post(reverse("password_reset"), {"email": "member@acme.test"})
    assert res.status_code == 302 and len(mail.outbox) == 1
    assert "/accounts/password/reset/" in mail.outbox[0].body
    client.post(reverse("password_reset"), {"email": "nobody@nowhere.test"})
    assert len(mail.outbox) == 1  # same answer, no email, nothing revealed
    codes = [
        client.post(reverse("password_reset"), {"email": "member@acme.test"}).status_code
        for _ in range(5)
    ]
    assert codes[-1] == 429


def test_password_reset_link_sets_a_new_password(client, world):
    client.post(reverse("password_reset"), {"email": "member@acme.test"})
    link = re.search(r"http://testserver(\S+)", mail.outbox[0].body).group(1)
    form = client.get(link, follow=True)
    post_to = form.redirect_chain[-1][0] if form.redirect_chain else link
    res = client.post(
        post_to, {"new_password1": "Brand-new-pw-42", "new_password2": "Brand-new-pw-42"}
    )
    assert res.status_code == 302
    assert client.login(username="member@acme.test", password="Brand-new-pw-42")


def test_organization_switcher_and_settings(owner, world):
    second, _, _ = organization_create(name="Second Flats", owner_email=world.owner.username)
    page = owner.get(url("dashboard", world)).content.decode()
    assert reverse("dashboard", kwargs={"slug": second.slug}) in page
    res = owner.post(url("settings", world), {"name": "Acme Renamed", "preload_hours": 0})
    assert res.status_code == 400
    res = owner.post(url("settings", world), {"name": "Acme Renamed", "preload_hours": 48})
    assert res.status_code == 302
    org = Organization.objects.get(pk=world.org.pk)
    assert (org.name, org.preload_hours) == ("Acme Renamed", 48)


def test_create_agent_shows_token_once(client, world):
    from locks.models import Agent

    client.force_login(world.member)
    asked = client.post(url("agent-new", world), {"agent-name": "Gate agent"})
    assert asked["Location"].startswith(reverse("sudo"))  # a new secret: the password first
    assert not Agent.objects.exists()
    session = client.session
    session["sudo_until"] = 4e9  # inside the re-authentication window
    session.save()
    res = client.post(url("agent-new", world), {"agent-name": "Gate agent"})
    token = re.search(r'value="(lke_[^"]+)"', res.content.decode()).group(1)
    agent = Agent.objects.get(name="Gate agent")
    from locks.integrations.ble_agent.enrollment import agent_enroll

    enrolled, _ = agent_enroll(token=token)  # the token works (once)
    assert enrolled.pk == agent.pk
    assert token not in client.get(url("integrations", world)).content.decode()


def test_guessing_invitation_links_is_throttled(throttle_window, client):
    statuses = [  # the anonymous rate is 60/min by default (LATCHKEY_ANON_RATE)
        client.get(reverse("invitation", kwargs={"token": f"guess-{i}"})).status_code
        for i in range(70)
    ]
    assert statuses[0] == 404 and statuses[-1] == 429
