"""Invitations by email link: a stored, single-use, revocable invitation naming the
organization, the address and the role.

The link carries a random token; only its SHA-256 is stored, so the database alone cannot
open one. An invitation is pending until it is accepted (consumed: the same link never works
twice), withdrawn by an owner, past its 7 days, or killed when the member it made (or the
owner who sent it) is removed. No account exists until it is accepted; accepting requires
being signed in as that address or choosing a password for it when it has no account yet."""

from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from portal.models import Invitation, Membership, Organization, Role, hash_secret
from portal.services import ServiceError, membership_add

MAX_AGE = dt.timedelta(days=7)
TOKEN_BYTES = 32


def _pending_q() -> Q:
    return Q(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


def invitations_pending(*, organization: Organization) -> QuerySet[Invitation]:
    """The invitations still waiting for an answer, newest first (Settings lists them)."""
    return (
        Invitation.objects.filter(_pending_q(), organization=organization)
        .select_related("invited_by")
        .order_by("-created_at", "-pk")
    )


@transaction.atomic
def invitation_create(
    *, organization: Organization, email: str, role: str, invited_by=None
) -> tuple[Invitation, str]:
    """Store an invitation; returns it and the raw token (shown once, in the email). A new
    invitation for the same address replaces the pending one (its link stops working)."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ServiceError(_("Choose owner, manager or viewer."), field="role")
    if Membership.objects.filter(organization=organization, user__username=email).exists():
        raise ServiceError(_("This person is a member already."), field="email")
    now = timezone.now()
    Invitation.objects.filter(_pending_q(), organization=organization, email=email).update(
        revoked_at=now
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=hash_secret(token),
        invited_by=invited_by,
        created_at=now,
        expires_at=now + MAX_AGE,
    )
    return invitation, token


def invitation_send(
    *, organization: Organization, email: str, role: str, accept_url_for, inviter
) -> Invitation:
    """Store the invitation and email its link. `accept_url_for(token)` builds the absolute
    URL; `inviter` is the signed-in user who sends it."""
    invitation, token = invitation_create(
        organization=organization, email=email, role=role, invited_by=inviter
    )
    url = accept_url_for(token)
    with translation.override(translation.get_language()):
        send_mail(
            subject=_("You are invited to %(org)s on Latchkey") % {"org": organization.name},
            message=_(
                "%(inviter)s invited you to manage %(org)s on Latchkey as %(role)s.\n\n"
                "Accept within 7 days: %(url)s\n"
            )
            % {
                "inviter": inviter.get_username(),
                "org": organization.name,
                "role": invitation.get_role_display(),
                "url": url,
            },
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[invitation.email],
        )
    return invitation


def invitation_read(token: str) -> Invitation | None:
    """The pending invitation this link names, or None (unknown, used, withdrawn, expired)."""
    if not token or len(token) > 200:
        return None
    return (
        Invitation.objects.select_related("organization")
        .filter(_pending_q(), token_hash=hash_secret(token))
        .first()
    )


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user=None, password: str = "") -> Membership:
    """Join as the signed-in user (who must own the invited address) or create the account.
    Consumes the invitation: the row is locked and checked again, so two tabs racing on the
    same link make one membership and the second sees it used."""
    locked = Invitation.objects.select_for_update().filter(_pending_q(), pk=invitation.pk).first()
    if locked is None:
        raise ServiceError(_("This invitation was used, withdrawn or has expired."))
    users = get_user_model().objects
    if user is None:
        if users.filter(username=locked.email).exists():
            raise ServiceError(_("Sign in as this address to accept."), field="password")
        user = users.create_user(username=locked.email, email=locked.email, password=password)
    elif user.username.lower() != locked.email:
        raise ServiceError(_("This invitation is for another address."))
    locked.accepted_at = timezone.now()
    locked.accepted_by = user
    locked.save(update_fields=["accepted_at", "accepted_by"])
    existing = Membership.objects.filter(organization=locked.organization, user=user).first()
    if existing is not None:
        return existing  # already a member: the role does not change
    return membership_add(organization=locked.organization, user=user, role=locked.role)


def invitation_withdraw(*, invitation: Invitation) -> Invitation:
    """Withdraw a pending invitation: its link stops working at once."""
    if invitation.revoked_at is None and invitation.accepted_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation
