"""Invitations by email link: a signed, expiring token naming the organization, the address
and the role. Nothing is stored until it is accepted, so an unanswered invitation leaves no
account behind; the signature (SECRET_KEY) makes it unforgeable, and accepting requires being
signed in as that address or choosing a password for it when it has no account yet."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from portal.models import Membership, Organization, Role
from portal.services import ServiceError, membership_add

SALT = "latchkey.invitation"
MAX_AGE_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Invitation:
    organization: Organization
    email: str
    role: str


def invitation_token(*, organization: Organization, email: str, role: str) -> str:
    return signing.dumps({"o": organization.pk, "e": email, "r": role}, salt=SALT, compress=True)


def invitation_send(
    *, organization: Organization, email: str, role: str, accept_url_for, inviter: str
) -> str:
    """Email the link; returns the token. `accept_url_for(token)` builds the absolute URL."""
    email = email.strip().lower()
    if role not in Role.values:
        raise ServiceError("Choose owner, manager or viewer.", field="role")
    if Membership.objects.filter(organization=organization, user__username=email).exists():
        raise ServiceError("This person is a member already.", field="email")
    token = invitation_token(organization=organization, email=email, role=role)
    url = accept_url_for(token)
    with translation.override(translation.get_language()):
        send_mail(
            subject=_("You are invited to %(org)s on Latchkey") % {"org": organization.name},
            message=_(
                "%(inviter)s invited you to manage %(org)s on Latchkey as %(role)s.\n\n"
                "Accept within 7 days: %(url)s\n"
            )
            % {"inviter": inviter, "org": organization.name, "role": role, "url": url},
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[email],
        )
    return token


def invitation_read(token: str) -> Invitation | None:
    try:
        data = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    org = Organization.objects.filter(pk=data.get("o")).first()
    if org is None or data.get("r") not in Role.values:
        return None
    return Invitation(org, data["e"], data["r"])


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user=None, password: str = "") -> Membership:
    """Join as the signed-in user (who must own the invited address) or create the account."""
    users = get_user_model().objects
    if user is None:
        if users.filter(username=invitation.email).exists():
            raise ServiceError("Sign in as this address to accept.", field="password")
        user = users.create_user(
            username=invitation.email, email=invitation.email, password=password
        )
    elif user.username.lower() != invitation.email:
        raise ServiceError("This invitation is for another address.")
    existing = Membership.objects.filter(organization=invitation.organization, user=user).first()
    if existing is not None:
        return existing  # accepting twice does not change the role
    return membership_add(organization=invitation.organization, user=user, role=invitation.role)
